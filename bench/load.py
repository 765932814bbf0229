#!/usr/bin/env python3
"""HTTP load benchmark of the license API against a release build, with a trivial warp JSON
echo route measured in the same run as the framework's ceiling.

    cargo build --release -p licet-server --bins --examples
    python3 bench/load.py [--backend sqlite|postgres|both] [--duration 10] [--rounds 3]
    python3 bench/load.py --server /tmp/old/licet-server   # another build, for an A/B
    python3 bench/load.py --backend postgres --pgbench     # and PostgreSQL's own limit

Needs wrk (apt-get install wrk). Prints a Markdown table of medians over the rounds.

With `--pgbench` (needs pgbench and psql), each PostgreSQL round also runs two pgbench
anchors at wrk's client count (`-c32 -j2`, simple protocol), on a pgbench database of its
own (`pgbench -i -s 10`: 1M accounts, in the schema `licet_pgbench`, dropped afterwards):
`pgbench -S`, a single-row primary-key SELECT, the anchor of validate; and
`bench/activation.pgbench`, a transaction shaped like an activation (a row locked, a count
from an index, two inserts, a synchronous commit), the anchor of activate. A second table
then sets each route against its anchor and against the targets (validate >= 50 % and
activate >= 80 % of their anchor, p99 <= 25 ms, server peak RSS <= 64 MiB). In the main
table the pgbench rows' p50 column is pgbench's average latency; they have no p99 or RSS.
"""
import argparse, json, os, re, signal, statistics, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "licet-server")
ECHO = os.path.join(ROOT, "target", "release", "examples", "echo")
PG = os.environ.get("LICET_BENCH_PG", "postgres://postgres@127.0.0.1:5432/test")
CONNECTIONS = 32
PGBENCH_SCHEMA = "licet_pgbench"
PGBENCH_SCALE = 10   # pgbench -i -s 10: 1M rows in pgbench_accounts
PGBENCH_S = "pgbench -S (PostgreSQL's own limit)"
PGBENCH_ACTIVATION = "pgbench activation-shaped tx"
# Each route's anchor and targets: (anchor row, least share of the anchor); p99 and RSS caps.
ANCHORS = {"validate": (PGBENCH_S, 0.50), "activate": (PGBENCH_ACTIVATION, 0.80)}
TARGET_P99_MS = 25.0
TARGET_RSS_MIB = 64.0


def http(method, url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req) as res:
        return json.loads(res.read())


def wait_ready(url):
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.05)
    sys.exit("server did not come up: " + url)


def wrk(url, script, duration, env):
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency", "-s", script, url],
        capture_output=True, text=True, env={**os.environ, **env}, check=True,
    ).stdout
    return parse_wrk(out)


def parse_wrk(out):
    """Requests/s, p50 and p99 (ms) and the count of non-2xx answers in wrk's `--latency` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = parse_ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))
    p50 = parse_ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": p50, "p99": p99, "errors": int(non2xx.group(1)) if non2xx else 0}


def parse_ms(text):
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def start_licet(binary, backend, port, data_dir, db_connections=None, signature_cache=None):
    env = {**os.environ, **({"LICET_DB_MAX_CONNECTIONS": str(db_connections)} if db_connections else {}),
           **({"LICET_SIGNATURE_CACHE_ENTRIES": str(signature_cache)} if signature_cache is not None else {}),
           "LICET_RATE_LIMIT_PER_IP": "0", "LICET_RATE_LIMIT_PER_KEY": "0",
           "LICET_ADMIN_TOKEN": "lct_admin_bench_0123456789abcdef0123", "LICET_LOG": "warn"}
    args = [binary, "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}"]
    if backend == "postgres":
        schema = "licet_bench"
        subprocess.run(["psql", PG, "-qc", f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"],
                       check=True, capture_output=True)
        args += ["--database-url", f"{PG}?options=-c%20search_path%3D{schema}"]
    proc = subprocess.Popen(args + ["serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(f"http://127.0.0.1:{port}/healthz")
    return proc


def seed(base, licenses):
    t = "lct_admin_bench_0123456789abcdef0123"
    http("POST", base + "/v1/admin/products",
         {"slug": "bench", "name": "Bench", "max_activations": 100000, "entitlements": ["pro"]}, t)
    keys = [http("POST", base + "/v1/admin/licenses", {"product": "bench", "email": "b@example.com"}, t)["key"]
            for _ in range(2 * licenses)]
    validate_keys, activate_keys = keys[:licenses], keys[licenses:]
    for key in validate_keys:
        http("POST", base + "/v1/licenses/activate", {"key": key, "fingerprint": "v1:validator"})
    return validate_keys, activate_keys


def median_of(runs):
    """The median of each figure over the rounds (`None`: a figure this tool does not give)."""
    return {k: None if runs[0][k] is None else statistics.median(r[k] for r in runs) for k in runs[0]}


ECHO_URL = "http://127.0.0.1:18788/echo"


def run_backends(a, measure, **licet_options):
    """Runs `measure(backend, base_url, data_dir)` against a fresh release licet-server on each
    backend `a.backend` names (`a.server` the binary), with the echo route up at `ECHO_URL`.
    `measure` returns `{route: [one wrk result a round]}` with an "echo" route measured in the
    same rounds; the answer is the table's rows: `(backend, route, medians, share of the echo
    median, server peak RSS or None)`."""
    for exe in (a.server, ECHO):
        if not os.path.exists(exe):
            sys.exit(f"missing {exe}: cargo build --release -p licet-server --bins --examples")
    rows = []
    echo = subprocess.Popen([ECHO, "127.0.0.1:18788"], stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    try:
        for backend in ["sqlite", "postgres"] if a.backend == "both" else [a.backend]:
            with tempfile.TemporaryDirectory() as data_dir:
                port = 18787
                proc = start_licet(a.server, backend, port, data_dir, **licet_options)
                try:
                    results = measure(backend, f"http://127.0.0.1:{port}", data_dir)
                    rss = peak_rss_mib(proc.pid)
                finally:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=20)
            ceiling = median_of(results["echo"])
            for name, runs in results.items():
                m = median_of(runs)
                rows.append((backend, name, m, m["rps"] / ceiling["rps"], None if name == "echo" else rss))
    finally:
        echo.send_signal(signal.SIGTERM)
        echo.wait(timeout=10)
    return rows


def pgbench_env():
    return {**os.environ, "PGOPTIONS": f"-c search_path={PGBENCH_SCHEMA}"}


def pgbench_init():
    """A pgbench database of its own: `pgbench -i -s 10` in the schema `licet_pgbench`,
    with the side tables of `bench/activation.pgbench`."""
    subprocess.run(["psql", PG, "-qc", f"DROP SCHEMA IF EXISTS {PGBENCH_SCHEMA} CASCADE; "
                    f"CREATE SCHEMA {PGBENCH_SCHEMA}"], check=True, capture_output=True)
    subprocess.run(["pgbench", "-i", "-s", str(PGBENCH_SCALE), "-q", PG],
                   check=True, capture_output=True, env=pgbench_env())
    subprocess.run(["psql", PG, "-qc",
                    f"CREATE TABLE {PGBENCH_SCHEMA}.bench_seats (aid int NOT NULL, n int NOT NULL); "
                    f"CREATE INDEX bench_seats_aid ON {PGBENCH_SCHEMA}.bench_seats (aid); "
                    f"CREATE TABLE {PGBENCH_SCHEMA}.bench_audit (at bigint NOT NULL, aid int NOT NULL, "
                    "body text NOT NULL)"], check=True, capture_output=True)


def pgbench_drop():
    subprocess.run(["psql", PG, "-qc", f"DROP SCHEMA IF EXISTS {PGBENCH_SCHEMA} CASCADE"],
                   check=True, capture_output=True)


def pgbench(workload, duration):
    """pgbench's transactions per second for `workload` (pgbench arguments: `-S`, or `-f`
    and a script) at wrk's client count, simple protocol, on the schema of `pgbench_init`.
    As a wrk result: the p50 figure is pgbench's average latency; no p99."""
    out = subprocess.run(
        ["pgbench", "-n", "-M", "simple", f"-c{CONNECTIONS}", "-j2", f"-T{duration}",
         "-s", str(PGBENCH_SCALE), *workload, PG],
        capture_output=True, text=True, check=True, env=pgbench_env(),
    ).stdout
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", out).group(1))
    latency = re.search(r"latency average = ([\d.]+) ms", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    return {"rps": tps, "p50": float(latency.group(1)) if latency else 0.0, "p99": None,
            "errors": int(failed.group(1)) if failed else 0}


def print_anchors(rows):
    """The server's routes against PostgreSQL's own limit for the same work (rows of
    `run_backends` with the pgbench anchors), with the targets."""
    by_name = {(b, n): (m, rss) for b, n, m, _, rss in rows}
    print()
    print("Against PostgreSQL's own limit (pgbench at the same client count, same rounds):")
    print()
    print("| route | req/s | anchor | anchor tx/s | ratio | target | p99 ms (target ≤ 25) |")
    print("|---|---:|---|---:|---:|---|---:|")
    rss = None
    for route, (anchor, share) in ANCHORS.items():
        if ("postgres", route) not in by_name or ("postgres", anchor) not in by_name:
            continue
        m, rss = by_name[("postgres", route)]
        a = by_name[("postgres", anchor)][0]
        ratio = m["rps"] / a["rps"]
        print(f"| {route} | {m['rps']:.0f} | {anchor} | {a['rps']:.0f} | {ratio:.0%} | "
              f"≥ {share:.0%}: {'met' if ratio >= share else '**not met**'} | "
              f"{m['p99']:.2f}: {'met' if m['p99'] <= TARGET_P99_MS else '**not met**'} |")
    if rss is not None:
        print()
        print(f"Server peak RSS (postgres): {rss:.1f} MiB (target ≤ {TARGET_RSS_MIB:.0f} MiB: "
              f"{'met' if rss <= TARGET_RSS_MIB else '**not met**'})")


def print_table(rows, rounds, what="route"):
    """The rows of `run_backends` as a Markdown table."""
    print(f"| backend | {what} | req/s (median of {rounds}) | vs echo | p50 ms | p99 ms | non-2xx | server peak RSS MiB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for backend, name, m, ratio, rss in rows:
        p99 = "" if m["p99"] is None else f"{m['p99']:.2f}"
        print(f"| {backend} | {name} | {m['rps']:.0f} | {ratio:.0%} | {m['p50']:.2f} | {p99} | "
              f"{m['errors']:.0f} | {'' if rss is None else f'{rss:.1f}'} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="both", choices=["sqlite", "postgres", "both"])
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--licenses", type=int, default=500)
    ap.add_argument("--db-connections", type=int, default=None, help="LICET_DB_MAX_CONNECTIONS for the server")
    ap.add_argument("--signature-cache", type=int, default=None,
                    help="LICET_SIGNATURE_CACHE_ENTRIES for the server (0: sign every lease)")
    ap.add_argument("--server", default=BIN, help="the licet-server binary to measure")
    ap.add_argument("--pgbench", action="store_true",
                    help="on PostgreSQL, also run pgbench -S and bench/activation.pgbench as anchors")
    a = ap.parse_args()

    def measure(backend, base, data_dir):
        validate_keys, activate_keys = seed(base, a.licenses)
        keys_file = os.path.join(data_dir, "activate-keys.txt")
        with open(keys_file, "w") as f:
            f.write("\n".join(activate_keys) + "\n")
        validate_file = os.path.join(data_dir, "validate-keys.txt")
        with open(validate_file, "w") as f:
            f.write("\n".join(validate_keys) + "\n")
        validate_body = json.dumps({"key": validate_keys[0], "fingerprint": "v1:validator"})
        env = {"LICET_BENCH_BODY": validate_body, "LICET_BENCH_KEYS": keys_file,
               "LICET_BENCH_VALIDATE_KEYS": validate_file}
        results = {"echo": [], "validate": [], "activate": []}
        direct = a.pgbench and backend == "postgres"
        if direct:
            results[PGBENCH_S], results[PGBENCH_ACTIVATION] = [], []
            pgbench_init()
        for r in range(a.rounds):
            # Interleaved, so drift on a noisy machine hits all three alike.
            results["echo"].append(wrk(ECHO_URL, os.path.join(ROOT, "bench/echo.lua"), a.duration, env))
            results["validate"].append(wrk(base + "/", os.path.join(ROOT, "bench/validate.lua"), a.duration, env))
            results["activate"].append(wrk(base + "/", os.path.join(ROOT, "bench/activate.lua"), a.duration,
                                           {**env, "LICET_BENCH_RUN": f"{backend}{r}"}))
            if direct:
                results[PGBENCH_S].append(pgbench(["-S"], a.duration))
                results[PGBENCH_ACTIVATION].append(
                    pgbench(["-f", os.path.join(ROOT, "bench/activation.pgbench")], a.duration))
        return results

    if not a.pgbench:
        rows = run_backends(a, measure, db_connections=a.db_connections, signature_cache=a.signature_cache)
        print_table(rows, a.rounds)
        return
    try:
        rows = run_backends(a, measure, db_connections=a.db_connections, signature_cache=a.signature_cache)
    finally:
        if a.backend != "sqlite":
            pgbench_drop()
    # pgbench runs without the server: its RSS is not pgbench's.
    rows = [(b, n, m, r, None if n in (PGBENCH_S, PGBENCH_ACTIVATION) else rss) for b, n, m, r, rss in rows]
    print("(pgbench rows: transactions/s at -c32 -j2, simple protocol; p50 column: pgbench's"
          " average latency)")
    print_table(rows, a.rounds)
    if a.backend == "sqlite":
        print("\n(--pgbench measures PostgreSQL only: no anchors on SQLite)")
    else:
        print_anchors(rows)


if __name__ == "__main__":
    main()
