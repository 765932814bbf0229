#!/usr/bin/env python3
"""What abuse costs honest users, against release builds: portal sign-in timing for buyers
and strangers, and honest validations under a flood of rate-limited requests.

    cargo build --release -p licet-server
    python3 bench/abuse.py [--bin target/release/licet-server] [--baseline OTHER_BINARY]
                           [--rounds 3] [--requests 400] [--flood-secs 10]

With --baseline, both binaries run in the same go, alternating rounds, so a noisy machine
hits them alike. Needs wrk (apt-get install wrk). Prints Markdown tables of medians.

- portal: `POST /portal/sign-in` for an address with a purchase and one without,
  interleaved on one keep-alive connection (rate limits off). A gap between the two medians
  tells an outsider who bought.
- flood: an honest client validates across 100 licenses, one request at a time, first on a
  quiet server, then while wrk floods `validate` with one key far over its per-key limit
  (every flood request but the first 30 answered 429).
"""
import argparse, json, os, re, signal, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "lct_admin_bench_0123456789abcdef0123"

from benchlib import Conn, csrf_of


def start(binary, port, data, env_extra):
    env = {**os.environ, "LICET_ADMIN_TOKEN": TOKEN, "LICET_LOG": "warn",
           "LICET_PUBLIC_URL": f"http://127.0.0.1:{port}", **env_extra}
    proc = subprocess.Popen([binary, "--data-dir", data, "--listen", f"127.0.0.1:{port}", "serve"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(400):
        try:
            if Conn(port).req("GET", "/healthz")[0] == 200:
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit(f"{binary} did not come up")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def portal_round(binary, port, requests):
    with tempfile.TemporaryDirectory() as data:
        proc = start(binary, port, data, {"LICET_RATE_LIMIT_PER_IP": "0", "LICET_RATE_LIMIT_PER_KEY": "0"})
        try:
            api = Conn(port)
            api.req("POST", "/v1/admin/products", {"slug": "photo", "name": "Photo", "max_activations": 3}, token=TOKEN)
            api.req("POST", "/v1/admin/purchases", {"email": "buyer@example.com", "products": ["photo"]}, token=TOKEN)
            b = Conn(port)
            _, html, _ = b.req("GET", "/portal")
            csrf = csrf_of(html)
            times = {"buyer": [], "stranger": []}
            for i in range(2 * requests):
                who = "buyer" if i % 2 == 0 else "stranger"
                t0 = time.perf_counter()
                st, _, _ = b.form("/portal/sign-in", {"email": f"{who}@example.com", "csrf": csrf})
                times[who].append((time.perf_counter() - t0) * 1000)
                assert st == 200, st
            return {k: statistics.median(v) for k, v in times.items()}
        finally:
            stop(proc)


def flood_round(binary, port, flood_secs):
    with tempfile.TemporaryDirectory() as data:
        proc = start(binary, port, data, {"LICET_RATE_LIMIT_PER_IP": "0", "LICET_RATE_LIMIT_PER_KEY": "30"})
        try:
            api = Conn(port)
            api.req("POST", "/v1/admin/products", {"slug": "photo", "name": "Photo", "max_activations": 3}, token=TOKEN)
            keys = []
            for _ in range(101):
                _, body, _ = api.req("POST", "/v1/admin/licenses", {"product": "photo", "email": "a@example.com"}, token=TOKEN)
                keys.append(json.loads(body)["key"])
            for k in keys:
                api.req("POST", "/v1/licenses/activate", {"key": k, "fingerprint": "v1:honest"})
            flood_key, honest = keys[0], keys[1:]

            def honest_p50(seconds):
                c, times, n, end = Conn(port), [], 0, time.time() + seconds
                while time.time() < end:
                    k = honest[n % len(honest)]
                    n += 1
                    t0 = time.perf_counter()
                    st, _, _ = c.req("POST", "/v1/licenses/validate", {"key": k, "fingerprint": "v1:honest"})
                    times.append((time.perf_counter() - t0) * 1000)
                    # Honest clients stay well under the per-key limit: 100 keys, a few each.
                    time.sleep(0.02)
                return statistics.median(times), len(times)

            quiet, _ = honest_p50(min(5, flood_secs))
            with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
                f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                        f'wrk.body = \'{{"key":"{flood_key}","fingerprint":"v1:flood"}}\'\n')
                script = f.name
            out = {}

            def flood():
                r = subprocess.run(["wrk", "-t1", "-c16", f"-d{flood_secs}s", "-s", script,
                                    f"http://127.0.0.1:{port}/v1/licenses/validate"], capture_output=True, text=True)
                m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
                out["rps"] = float(m.group(1)) if m else 0.0

            t = threading.Thread(target=flood)
            t.start()
            time.sleep(1)
            flooded, _ = honest_p50(flood_secs - 2)
            t.join()
            os.unlink(script)
            return {"quiet": quiet, "flooded": flooded, "flood_rps": out.get("rps", 0.0)}
        finally:
            stop(proc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "licet-server"))
    ap.add_argument("--baseline", default=None, help="another licet-server binary to run in the same go")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--flood-secs", type=int, default=10)
    a = ap.parse_args()
    builds = [("this build", a.bin)] + ([("baseline", a.baseline)] if a.baseline else [])
    portal = {name: [] for name, _ in builds}
    flood = {name: [] for name, _ in builds}
    for r in range(a.rounds):
        for i, (name, binary) in enumerate(builds):
            portal[name].append(portal_round(binary, 18900 + i, a.requests))
            flood[name].append(flood_round(binary, 18910 + i, a.flood_secs))
    med = lambda runs, k: statistics.median(x[k] for x in runs)
    print(f"portal sign-in, median ms over {a.rounds} rounds of {a.requests} requests each\n")
    print("| build | buyer | stranger | buyer / stranger |")
    print("|---|---:|---:|---:|")
    for name, _ in builds:
        b, s = med(portal[name], "buyer"), med(portal[name], "stranger")
        print(f"| {name} | {b:.3f} | {s:.3f} | {b / s:.2f} |")
    print(f"\nhonest validations, median ms, quiet and under a flood of one over-limit key ({a.rounds} rounds)\n")
    print("| build | quiet p50 | flooded p50 | flooded / quiet | flood req/s |")
    print("|---|---:|---:|---:|---:|")
    for name, _ in builds:
        q, f, rps = med(flood[name], "quiet"), med(flood[name], "flooded"), med(flood[name], "flood_rps")
        print(f"| {name} | {q:.3f} | {f:.3f} | {f / q:.2f} | {rps:.0f} |")


if __name__ == "__main__":
    main()
