#!/usr/bin/env python3
"""Several licet-server replicas on one PostgreSQL database: a check a vendor can run against
their own PostgreSQL before putting replicas behind a load balancer, and a throughput
benchmark with 1, 2 and 3 replicas.

    cargo build --release -p licet-server --bins --examples
    python3 bench/replicas.py check [--database-url URL] [--server PATH]
    python3 bench/replicas.py bench [--duration 10] [--rounds 3] [--database-url URL] [--server PATH]

Both start three release `licet-server` replicas (`serve`, each with a data directory of its
own) on a fresh schema of `--database-url` (default: $LICET_BENCH_PG or
postgres://postgres@127.0.0.1:5432/test; the schema is created with psql and dropped at the
end), sharing one master key (32 random bytes, base64url, new each run) and one admin token,
signing keys reloaded every second (LICET_KEY_REFRESH_SECS=1). LICET_* variables of the
calling environment are not passed on. Needs psql; `bench` also needs wrk.

`check` prints a PASS or FAIL line for each of:
  1. the seat limit across replicas: 50 concurrent activations of one 3-seat license, spread
     round-robin over the three, from 50 machines: exactly 3 win, the other 47 answer
     ACTIVATION_LIMIT_REACHED (HTTP 403);
  2. the per-key rate limit is shared (LICET_RATE_LIMIT_PER_KEY=60): 90 concurrent
     validations of one key over the three: at most 60 are answered other than 429;
  3. key rotation: rotated on replica 1 through the admin API (a second time if the first
     promoted a key published before), the new key is listed in the JWKS of replicas 2 and
     3 within the refresh interval (polled up to 10 s), replica 3 signs a validation and a
     fresh activation with it, and the key of a lease from before the rotation stays
     published on all three;
  4. SIGKILL mid-load: a few threads activate new machines on big licenses over all three
     replicas; replica 3 is killed with SIGKILL after 120 of 300 activations; replicas 1 and
     2 answer every request sent to them afterwards, and every activation answered 200 (by
     any replica) is listed by the admin API afterwards.
It exits 0 only if all pass. Server logs (warn level) are printed for a failed run. A NOTE
line says when the replicas, started together, made more than one first signing key.

`bench` seeds as bench/load.py does (500 activated licenses for validate, 500 for activate)
and measures validate and activate with load spread evenly over the first N of the three
replicas, N = 1, 2, 3: one wrk per replica at once (`-t1`, 32/N connections each), req/s
summed, p99 the largest of the replicas' p99s. All three replicas run throughout (the
others idle), the order of N rotates from round to round, and the warp echo route
(target/release/examples/echo, `wrk -t2 -c32`) runs once per round as the framework's
ceiling. Rate limits are off. Prints a Markdown table of medians over the rounds.
"""
import argparse, base64, concurrent.futures, itertools, json, os, secrets, signal, socket
import statistics, subprocess, sys, tempfile, threading, time, urllib.error, urllib.request

from load import BIN, CONNECTIONS, ECHO, ECHO_URL, PG, ROOT, parse_wrk, peak_rss_mib, seed, wrk

BENCH_TOKEN = "lct_admin_bench_0123456789abcdef0123"  # the token load.seed() uses
# The per-key limit `check` runs with (per minute, shared through the database). Check 1
# sends 50 activations of one key: under 60, so none is rate limited and what is measured
# is the seat limit alone. Check 2 sends 90 validations of another key: at most 60 may pass
# if the limit is shared; three replicas counting apart would let all 90 through.
PER_KEY = 60
RATE_BURST = 90
# ActivationLimitReached's HTTP status (licet-proto's `ErrorCode::http_status`).
LIMIT_STATUS = 403


# ---------------------------------------------------------------------------- HTTP

def call(base, method, path, body=None, token=None, timeout=30):
    """`(status, JSON body or None)`; status 0 when the replica did not answer."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return res.status, _json(res.read())
    except urllib.error.HTTPError as e:
        return e.code, _json(e.read())
    except Exception:  # refused, reset, timed out: no answer
        return 0, None


def _json(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return None


def error_code(body):
    return (body or {}).get("error", {}).get("code") if isinstance(body, dict) else None


def kid_of(token):
    """The `kid` in a compact JWS's header."""
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def kids(jwks):
    return {k.get("kid") for k in (jwks or {}).get("keys", [])}


# ---------------------------------------------------------------------------- replicas

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_schema(url, schema):
    return f"{url}{'&' if '?' in url else '?'}options=-c%20search_path%3D{schema}"


class Cluster:
    """Replicas of `binary` on a fresh schema of `database_url`; a context manager that
    stops every replica and drops the schema on the way out, also on failure."""

    def __init__(self, binary, database_url, token, env, count=3):
        self.binary, self.database_url, self.token, self.count = binary, database_url, token, count
        self.schema = f"licet_replicas_{secrets.token_hex(4)}"
        master = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("LICET_")},
                    "LICET_MASTER_KEY": master, "LICET_ADMIN_TOKEN": token,
                    "LICET_KEY_REFRESH_SECS": "1", "LICET_LOG": "warn", "NO_COLOR": "1", **env}
        self.dirs, self.procs, self.logs, self.bases = [], [], [], []
        self.schema_made = False

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self):
        subprocess.run(["psql", self.database_url, "-qc", f"CREATE SCHEMA {self.schema}"],
                       check=True, capture_output=True)
        self.schema_made = True
        url = with_schema(self.database_url, self.schema)
        # Started together: the first migrates under an advisory lock, the others wait.
        for _ in range(self.count):
            d = tempfile.TemporaryDirectory(prefix="licet-replica-")
            port = free_port()
            log = open(os.path.join(d.name, "server.log"), "wb")
            self.dirs.append(d)
            self.logs.append(log)
            self.bases.append(f"http://127.0.0.1:{port}")
            self.procs.append(subprocess.Popen(
                [self.binary, "--data-dir", d.name, "--listen", f"127.0.0.1:{port}",
                 "--database-url", url, "serve"],
                env=self.env, stdout=subprocess.DEVNULL, stderr=log))
        for i in range(self.count):
            self._wait_up(i)

    def _wait_up(self, i):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.procs[i].poll() is not None:
                raise RuntimeError(f"replica {i + 1} exited with {self.procs[i].returncode}:\n"
                                   + self.log_tail(i))
            if call(self.bases[i], "GET", "/healthz", timeout=1)[0] == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"replica {i + 1} did not come up in 60 s:\n" + self.log_tail(i))

    def __exit__(self, *exc):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self.logs:
            log.close()
        if self.schema_made:
            subprocess.run(["psql", self.database_url, "-qc", f"DROP SCHEMA IF EXISTS {self.schema} CASCADE"],
                           capture_output=True)
        for d in self.dirs:
            d.cleanup()
        return False

    def log_tail(self, i, lines=20):
        try:
            self.logs[i].flush()
            with open(os.path.join(self.dirs[i].name, "server.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:]) or "(empty log)\n"
        except OSError as e:
            return f"(no log: {e})\n"

    # Requests, to replica `i` modulo the replica count.
    def post(self, i, path, body=None, admin=False):
        return call(self.bases[i % self.count], "POST", path, body if body is not None else {},
                    self.token if admin else None)

    def get(self, i, path, admin=False):
        return call(self.bases[i % self.count], "GET", path, None, self.token if admin else None)

    def product(self, slug, seats):
        status, body = self.post(0, "/v1/admin/products",
                                 {"slug": slug, "name": slug, "max_activations": seats}, admin=True)
        if status != 201:
            raise RuntimeError(f"creating product {slug}: {status} {body}")

    def license(self, product):
        """A new license of `product`, issued through replica 2; its `(id, key)`."""
        status, body = self.post(1, "/v1/admin/licenses", {"product": product, "email": "ada@example.com"},
                                 admin=True)
        if status != 201:
            raise RuntimeError(f"issuing a license of {product}: {status} {body}")
        return body["id"], body["key"]

    def activate(self, i, key, fingerprint):
        return self.post(i, "/v1/licenses/activate", {"key": key, "fingerprint": fingerprint})

    def live_fingerprints(self, i, license_id):
        status, body = self.get(i, f"/v1/admin/licenses/{license_id}", admin=True)
        if status != 200:
            raise RuntimeError(f"reading license {license_id}: {status} {body}")
        return {a["fingerprint"] for a in body.get("activations") or [] if a.get("deactivated_at") is None}


def concurrently(n, fn, workers=None):
    """`fn(i)` for i in 0..n on `workers` threads (default n), released together."""
    workers = workers or n
    gate = threading.Barrier(min(n, workers))

    def run(i):
        if i < workers:
            gate.wait(timeout=60)
        return fn(i)

    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        return list(ex.map(run, range(n)))


# ---------------------------------------------------------------------------- check

def check_seat_limit(c):
    c.product("seats", 3)
    license_id, key = c.license("seats")
    answers = concurrently(50, lambda i: c.activate(i, key, f"v1:race-{i}"))
    won = {f"v1:race-{i}" for i, (s, _) in enumerate(answers) if s == 200}
    limited = sum(1 for s, b in answers if s == LIMIT_STATUS and error_code(b) == "ACTIVATION_LIMIT_REACHED")
    other = sorted({(s, error_code(b)) for s, b in answers
                    if s != 200 and not (s == LIMIT_STATUS and error_code(b) == "ACTIVATION_LIMIT_REACHED")})
    live = c.live_fingerprints(2, license_id)
    ok = len(won) == 3 and limited == 47 and live == won
    return ok, (f"{len(won)} of 50 activations won, {limited} answered {LIMIT_STATUS} ACTIVATION_LIMIT_REACHED"
                f"{f', others: {other}' if other else ''}; {len(live)} live seats in the database"
                f"{'' if live == won else ' (not the ones that won)'}")


def check_rate_limit(c):
    c.product("rate", 1)
    _, key = c.license("rate")
    # Windows are whole minutes of the clock: keep the burst clear of a minute's end, where
    # a new window would open.
    into_minute = time.time() % 60
    if into_minute > 45:
        time.sleep(61 - into_minute)
    body = {"key": key, "fingerprint": "v1:nobody"}
    answers = concurrently(RATE_BURST, lambda i: c.post(i, "/v1/licenses/validate", body), workers=30)
    limited = sum(1 for s, _ in answers if s == 429)
    lost = sum(1 for s, _ in answers if s == 0)
    allowed = RATE_BURST - limited - lost
    ok = 1 <= allowed <= PER_KEY and lost == 0
    return ok, (f"{allowed} of {RATE_BURST} validations of one key over three replicas passed a shared "
                f"limit of {PER_KEY}/min, {limited} answered 429{f', {lost} unanswered' if lost else ''}")


def signing_keys(c):
    """The signing keys in the database (through replica 1): `{kid: state}`."""
    status, body = c.get(0, "/v1/admin/keys", admin=True)
    if status != 200:
        raise RuntimeError(f"listing signing keys: {status} {body}")
    return {k["kid"]: k["state"] for k in body.get("items", [])}


def wait_keys_converged(c, timeout=10):
    """Seconds until every replica's JWKS lists exactly the database's published keys, or None."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        published = {k for k, state in signing_keys(c).items() if state != "retired"}
        if all(kids(c.get(i, "/.well-known/jwks.json")[1]) == published for i in range(c.count)):
            return time.monotonic() - start
        time.sleep(0.2)
    return None


def rotate(c):
    """Rotates on replica 1; the new current kid."""
    status, body = c.post(0, "/v1/admin/keys/rotate", {}, admin=True)
    if status not in (200, 201):
        raise RuntimeError(f"rotation on replica 1 answered {status} {body}")
    current = [k["kid"] for k in body.get("items", []) if k.get("state") == "current"]
    if len(current) != 1:
        raise RuntimeError(f"after the rotation replica 1 lists current keys {current}")
    return current[0]


def check_rotation(c):
    c.product("rotation", 5)
    _, key = c.license("rotation")
    if wait_keys_converged(c) is None:
        return False, f"the replicas' JWKS did not agree with the database's keys within 10 s: {signing_keys(c)}"
    status, before = c.activate(0, key, "v1:keeper")
    if status != 200:
        return False, f"activation before the rotation answered {status} {before}"
    old_kid = kid_of(before["token"])
    published_before = set(signing_keys(c))
    promoted = [rotate(c)]
    if promoted[-1] in published_before:
        # A rotation first promotes a published key made after the current one (one
        # pre-published with `keys/generate`, or a first key left over when replicas started
        # together on an empty database); that key is in every JWKS already, so it shows
        # nothing about propagation. The next rotation should make a key of its own.
        promoted.append(rotate(c))
    problem = None
    if promoted[-1] in published_before:
        # Seen with replicas started together: their first keys share a `created_at` second,
        # and a rotation counts a published key of the current key's second as "made after
        # it", so rotations go round those keys (the demoted key included) and never make a
        # new one. Propagation is still measured, with a key made by `keys/generate`.
        problem = (f"two rotations made no new key, they promoted keys published before "
                   f"({old_kid} -> {' -> '.join(promoted)}, {'the old key back' if old_kid in promoted else 'no new key'})")
        status, body = c.post(0, "/v1/admin/keys/generate", {}, admin=True)
        if status not in (200, 201):
            return False, f"{problem}; keys/generate answered {status} {body}"
        promoted.append(rotate(c))
        if promoted[-1] in published_before:
            return False, f"{problem}; after keys/generate the rotation still promoted {promoted[-1]}"
    new_kid = promoted[-1]
    rotations = len(promoted)
    start = time.monotonic()
    seen, signed, validations = None, None, 0
    while time.monotonic() - start < 10 and signed is None:
        time.sleep(0.2)
        if seen is None:
            if all(new_kid in kids(c.get(i, "/.well-known/jwks.json")[1]) for i in (1, 2)):
                seen = time.monotonic() - start
            else:
                continue
        # Replica 3's JWKS lists the new key: its key ring has it, so it should sign with it.
        # (Bounded by the 10 s, so well under the per-key limit.)
        status, lease = c.post(2, "/v1/licenses/validate", {"key": key, "fingerprint": "v1:keeper"})
        validations += 1
        if status == 200 and kid_of(lease["token"]) == new_kid:
            signed = time.monotonic() - start
    if seen is None:
        return False, f"replicas 2 and 3 did not list the new key {new_kid} in their JWKS within 10 s"
    if signed is None:
        return False, (f"replicas 2 and 3 list {new_kid} after {seen:.1f} s, but replica 3 still signed "
                       f"validations with another key after 10 s ({validations} tries)")
    status, fresh = c.activate(2, key, "v1:fresh")
    fresh_kid = kid_of(fresh["token"]) if status == 200 else None
    published = [old_kid in kids(c.get(i, "/.well-known/jwks.json")[1]) for i in range(3)]
    ok = fresh_kid == new_kid and all(published) and problem is None
    how = ("" if rotations == 1 else "rotated twice (the first promoted a key published before); "
           if problem is None else f"{problem}; then keys/generate and a rotation: ")
    return ok, (f"{how}"
                f"new key {new_kid} in the JWKS of replicas 2 and 3 after {seen:.1f} s, replica 3 signs a "
                f"validation with it after {signed:.1f} s and a fresh activation with "
                f"{fresh_kid if status == 200 else f'nothing ({status} {fresh})'}; the old key {old_kid} "
                f"published on replicas {[i + 1 for i, p in enumerate(published) if p]}")


def check_sigkill(c, total=300, kill_at=120, threads=6):
    # Spread over ten licenses of 1000 seats, so that no key meets the per-key rate limit
    # (300 activations: 30 per key, under 60 a minute).
    c.product("bulk", 1000)
    licenses = [c.license("bulk") for _ in range(10)]
    victim = 2
    counter, killed, lock = itertools.count(), threading.Event(), threading.Lock()
    results = []  # (request number, replica, status, fingerprint, sent after the kill)

    def worker():
        while (i := next(counter)) < total:
            if i == kill_at:
                os.kill(c.procs[victim].pid, signal.SIGKILL)
                killed.set()
            after = killed.is_set()
            fpr = f"v1:bulk-{i}"
            status, _ = c.activate(i, licenses[i % 10][1], fpr)
            with lock:
                results.append((i, i % 3, status, fpr, after))

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    c.procs[victim].wait(timeout=10)
    acknowledged = {fpr for _, _, s, fpr, _ in results if s == 200}
    after = [(r, s) for _, r, s, _, a in results if a and r != victim]
    # Replicas 1 and 2 answer 200 to everything, before and after the kill, and both get
    # requests after it.
    to_survivors = [s for _, r, s, _, _ in results if r != victim]
    survivors_ok = all(s == 200 for s in to_survivors) and {r for r, _ in after} == {0, 1}
    bad_after = sorted({s for s in to_survivors if s != 200})
    to_victim_after = [s for _, r, s, _, a in results if a and r == victim]
    live = set()
    for license_id, _ in licenses:
        live |= c.live_fingerprints(0, license_id)
    lost = acknowledged - live
    unacknowledged_kept = live - acknowledged
    ok = survivors_ok and not lost and c.procs[victim].returncode == -signal.SIGKILL
    return ok, (f"replica 3 killed after {kill_at} of {total} activations; {len(acknowledged)} answered 200, "
                f"{len(after)} sent to replicas 1 and 2 after the kill"
                f"{'' if not bad_after else f', replicas 1 and 2 answered some with {bad_after}'}, "
                f"{len(to_victim_after)} to the dead replica (no answer: "
                f"{sum(1 for s in to_victim_after if s == 0)}); "
                f"{len(lost)} acknowledged activations missing afterwards"
                f"{f' {sorted(lost)[:5]}' if lost else ''}; {len(unacknowledged_kept)} stored but not acknowledged")


def check(a):
    env = {"LICET_RATE_LIMIT_PER_KEY": str(PER_KEY), "LICET_RATE_LIMIT_PER_IP": "0",
           **({"LICET_DB_MAX_CONNECTIONS": str(a.db_connections)} if a.db_connections else {})}
    token = "lct_admin_" + secrets.token_hex(20)
    checks = [("1 seat limit across replicas", check_seat_limit),
              ("2 rate limits shared", check_rate_limit),
              ("3 key rotation", check_rotation),
              ("4 SIGKILL mid-load", check_sigkill)]  # last: it kills a replica
    passed = 0
    with Cluster(a.server, a.database_url, token, env) as c:
        print(f"three replicas of {a.server} on schema {c.schema}: {', '.join(c.bases)}", flush=True)
        first_keys = signing_keys(c)
        if len(first_keys) > 1:
            # Not one of the four checks, but worth knowing: each replica that found no
            # current key at start made one, and until the next key refresh each signs with
            # its own key, which the others do not publish yet.
            print(f"NOTE  the replicas, started together on an empty schema, made {len(first_keys)} first "
                  f"signing keys ({', '.join(f'{k} {v}' for k, v in first_keys.items())}); their JWKS agreed "
                  f"after {wait_keys_converged(c) or float('nan'):.1f} s more", flush=True)
        for name, fn in checks:
            try:
                ok, detail = fn(c)
            except Exception as e:  # a check that breaks fails; the others still run
                ok, detail = False, f"{type(e).__name__}: {e}"
            passed += ok
            print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)
        if passed < len(checks):
            for i in range(c.count):
                print(f"--- replica {i + 1} log (tail) ---\n{c.log_tail(i)}", end="")
    print(f"{passed} of {len(checks)} checks passed")
    return 0 if passed == len(checks) else 1


# ---------------------------------------------------------------------------- bench

def spread_wrk(bases, script, duration, env_of):
    """One wrk per replica in `bases` at once, `-t1` and CONNECTIONS/N connections each (the
    remainder to the first ones); req/s summed, p99 the largest, non-2xx summed."""
    n = len(bases)
    procs = []
    try:
        for i, base in enumerate(bases):
            conns = CONNECTIONS // n + (1 if i < CONNECTIONS % n else 0)
            procs.append(subprocess.Popen(
                ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency", "-s", script, base + "/"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                env={**os.environ, **env_of(i)}))
        outs = [p.communicate()[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p in procs:
        if p.returncode != 0:
            raise RuntimeError(f"wrk exited with {p.returncode}")
    each = [parse_wrk(out) for out in outs]
    return {"rps": sum(r["rps"] for r in each), "p99": max(r["p99"] for r in each),
            "errors": sum(r["errors"] for r in each)}


def bench(a):
    for exe in (a.server, ECHO):
        if not os.path.exists(exe):
            sys.exit(f"missing {exe}: cargo build --release -p licet-server --bins --examples")
    env = {"LICET_RATE_LIMIT_PER_KEY": "0", "LICET_RATE_LIMIT_PER_IP": "0",
           **({"LICET_DB_MAX_CONNECTIONS": str(a.db_connections)} if a.db_connections else {})}
    counts = [1, 2, 3]
    results = {"echo": []}
    results.update({(n, route): [] for n in counts for route in ("validate", "activate")})
    echo = subprocess.Popen([ECHO, ECHO_URL.split("/")[2]], stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        with Cluster(a.server, a.database_url, BENCH_TOKEN, env) as c, \
                tempfile.TemporaryDirectory() as work:
            validate_keys, activate_keys = seed(c.bases[0], a.licenses)
            keys_file = os.path.join(work, "activate-keys.txt")
            with open(keys_file, "w") as f:
                f.write("\n".join(activate_keys) + "\n")
            validate_file = os.path.join(work, "validate-keys.txt")
            with open(validate_file, "w") as f:
                f.write("\n".join(validate_keys) + "\n")
            base_env = {"LICET_BENCH_BODY": json.dumps({"key": validate_keys[0], "fingerprint": "v1:validator"}),
                        "LICET_BENCH_KEYS": keys_file, "LICET_BENCH_VALIDATE_KEYS": validate_file}
            for r in range(a.rounds):
                results["echo"].append(wrk(ECHO_URL, os.path.join(ROOT, "bench/echo.lua"), a.duration, base_env))
                # The order of N rotates, so drift (and the seats activations keep adding)
                # hits every N alike over the rounds.
                for n in counts[r % 3:] + counts[:r % 3]:
                    bases = c.bases[:n]
                    results[(n, "validate")].append(spread_wrk(
                        bases, os.path.join(ROOT, "bench/validate.lua"), a.duration, lambda i: base_env))
                    # A run name per wrk, so no two wrk processes activate the same machine.
                    results[(n, "activate")].append(spread_wrk(
                        bases, os.path.join(ROOT, "bench/activate.lua"), a.duration,
                        lambda i, r=r, n=n: {**base_env, "LICET_BENCH_RUN": f"r{r}n{n}w{i}"}))
            rss = [peak_rss_mib(p.pid) for p in c.procs]
    finally:
        echo.send_signal(signal.SIGTERM)
        echo.wait(timeout=10)

    def med(runs, k):
        return statistics.median(x[k] for x in runs)

    print(f"Three replicas on one PostgreSQL schema, load spread evenly over the first N (wrk -t1 "
          f"-c{CONNECTIONS}/N each, at once); rate limits off; {a.licenses} + {a.licenses} licenses.")
    print()
    print(f"| replicas | route | req/s (median of {a.rounds}) | p99 ms | non-2xx |")
    print("|---|---|---:|---:|---:|")
    e = results["echo"]
    print(f"| — | echo (framework ceiling, wrk -t2 -c{CONNECTIONS}) | {med(e, 'rps'):.0f} | "
          f"{med(e, 'p99'):.2f} | {med(e, 'errors'):.0f} |")
    for route in ("validate", "activate"):
        for n in counts:
            runs = results[(n, route)]
            print(f"| {n} | {route} | {med(runs, 'rps'):.0f} | {med(runs, 'p99'):.2f} | {med(runs, 'errors'):.0f} |")
    print()
    print("Peak RSS per replica: " + " / ".join(f"{x:.1f}" for x in rss) + " MiB")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("check", "bench"):
        p = sub.add_parser(name)
        p.add_argument("--database-url", default=PG, help="PostgreSQL to run on (a fresh schema of it)")
        p.add_argument("--server", default=BIN, help="the licet-server binary")
        p.add_argument("--db-connections", type=int, default=None,
                       help="LICET_DB_MAX_CONNECTIONS of each replica [server default: 16]")
        if name == "bench":
            p.add_argument("--duration", type=int, default=10)
            p.add_argument("--rounds", type=int, default=3)
            p.add_argument("--licenses", type=int, default=500)
    a = ap.parse_args()
    if not os.path.exists(a.server):
        sys.exit(f"missing {a.server}: cargo build --release -p licet-server --bins --examples")
    try:
        code = check(a) if a.command == "check" else bench(a)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", None)
        sys.exit(f"{a.command} failed: {e}{f' ({detail.strip()})' if detail else ''}")
    sys.exit(code)


if __name__ == "__main__":
    main()
