#!/usr/bin/env python3
"""Heartbeats of floating seats under load against a release build, with the warp JSON echo
route measured in the same run as the framework's ceiling.

    cargo build --release -p licet-server --bins --examples
    python3 bench/floating.py [--backend sqlite|postgres|both] [--duration 10] [--rounds 3]
    python3 bench/floating.py --licenses 1 --seats 500    # one site license, 500 seats
    python3 bench/floating.py --backend postgres --pgbench    # and PostgreSQL's own limit

Seeds `--licenses` floating licenses of `--seats` seats each and checks every seat out from
a machine of its own, then drives `bench/heartbeat.lua` (every seat renewed round-robin,
so each request is a heartbeat of a seat held now) and the echo route, interleaved. Needs
wrk. Prints a Markdown table of medians over the rounds; `--server` measures another build.
With `--pgbench`, each PostgreSQL round also runs `bench/heartbeat.pgbench` (the server's
heartbeat statement, for a random held seat, straight from pgbench): the database's own
ceiling for this statement on the same cores.
"""
import argparse, json, os, re, subprocess, time

from load import BIN, ECHO_URL, PG, ROOT, http, print_table, run_backends, wrk

TOKEN = "lct_admin_bench_0123456789abcdef0123"


def seed(base, licenses, seats):
    """Floating licenses with every seat held; their `(key, fingerprint)` pairs."""
    http("POST", base + "/v1/admin/products",
         {"slug": "cad", "name": "CAD", "max_activations": seats, "entitlements": ["pro"],
          "floating": {"lease_secs": 900, "max_borrow_secs": 0}}, TOKEN)
    held = []
    for _ in range(licenses):
        key = http("POST", base + "/v1/admin/licenses", {"product": "cad", "email": "b@example.com"}, TOKEN)["key"]
        for s in range(seats):
            fpr = f"v1:seat-{s}"
            http("POST", base + "/v1/licenses/checkout", {"key": key, "fingerprint": fpr, "name": f"PC {s}"})
            held.append((key, fpr))
    return held


def pgbench(seats, duration, clients):
    """pgbench's transactions per second for `bench/heartbeat.pgbench` (one seat lookup and
    one heartbeat statement each) over the benchmark's schema."""
    out = subprocess.run(
        ["pgbench", "-n", "-M", "prepared", f"-c{clients}", "-j2", f"-T{duration}",
         "-D", f"seats={seats}", "-D", f"now={int(time.time())}",
         "-f", os.path.join(ROOT, "bench/heartbeat.pgbench"), PG],
        capture_output=True, text=True, check=True,
        env={**os.environ, "PGOPTIONS": "-c search_path=licet_bench"},
    ).stdout
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", out).group(1))
    latency = re.search(r"latency average = ([\d.]+) ms", out)
    return {"rps": tps, "p50": float(latency.group(1)) if latency else 0.0, "p99": None, "errors": 0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres", "both"])
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--licenses", type=int, default=100)
    ap.add_argument("--seats", type=int, default=5, help="seats of each license, all held")
    ap.add_argument("--db-connections", type=int, default=None, help="LICET_DB_MAX_CONNECTIONS for the server")
    ap.add_argument("--signature-cache", type=int, default=None,
                    help="LICET_SIGNATURE_CACHE_ENTRIES for the server (0: sign every lease)")
    ap.add_argument("--server", default=BIN, help="the licet-server binary to measure")
    ap.add_argument("--pgbench", action="store_true",
                    help="on PostgreSQL, also measure the heartbeat statement from pgbench")
    a = ap.parse_args()

    def measure(backend, base, data_dir):
        held = seed(base, a.licenses, a.seats)
        seats_file = os.path.join(data_dir, "seats.txt")
        with open(seats_file, "w") as f:
            f.write("".join(f"{k} {fpr}\n" for k, fpr in held))
        body = json.dumps({"key": held[0][0], "fingerprint": held[0][1]})
        env = {"LICET_BENCH_BODY": body, "LICET_BENCH_SEATS": seats_file}
        results = {"echo": [], "heartbeat": []}
        direct = a.pgbench and backend == "postgres"
        if direct:
            results["pgbench"] = []
            subprocess.run(
                ["psql", PG, "-qc",
                 "CREATE TABLE licet_bench.bench_seats AS SELECT row_number() OVER () AS n, "
                 "l.license_key, f.fingerprint FROM licet_bench.floating_seats f "
                 "JOIN licet_bench.licenses l ON l.id = f.license_id WHERE f.released_at IS NULL"],
                check=True, capture_output=True)
        for _ in range(a.rounds):
            # Interleaved, so drift on a noisy machine hits all alike.
            results["echo"].append(wrk(ECHO_URL, os.path.join(ROOT, "bench/echo.lua"), a.duration, env))
            results["heartbeat"].append(wrk(base + "/", os.path.join(ROOT, "bench/heartbeat.lua"), a.duration, env))
            if direct:
                results["pgbench"].append(pgbench(len(held), a.duration, a.db_connections or 16))
        return results

    rows = run_backends(a, measure, db_connections=a.db_connections, signature_cache=a.signature_cache)
    # pgbench runs without the server: its RSS is not pgbench's.
    rows = [(b, n, m, r, None if n == "pgbench" else rss) for b, n, m, r, rss in rows]
    print(f"{a.licenses} licenses x {a.seats} seats, all held; signature cache "
          f"{'default' if a.signature_cache is None else a.signature_cache}")
    if a.pgbench:
        print("(pgbench: transactions/s of a seat lookup and the heartbeat statement, p50 column:"
              " pgbench's average latency)")
    print_table(rows, a.rounds)


if __name__ == "__main__":
    main()
