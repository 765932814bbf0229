#!/usr/bin/env python3
"""Update checks per second against a release build, as a share of the warp echo ceiling
measured in the same run (issue 14).

    cargo build --release -p licet-server --bins --examples
    python3 bench/updates.py [--backend sqlite|postgres|both] [--duration 5] [--rounds 3]

Four checks, interleaved with the echo route each round (medians over rounds):
- `lease, up to date`: the app's lease as a Bearer, nothing newer (204). The server verifies
  its own signature (remembered per token) and answers from its in-memory release
  catalogue: no database read.
- `lease, update`: the same with a newer release (200, a signed manifest and a signed URL).
- `key, up to date` / `key, update`: the license key and fingerprint instead: rate-limit
  bookkeeping off, one license-and-activation read per check.
Needs wrk (apt-get install wrk).
"""
import argparse, json, os, sys, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load import BIN, ECHO_URL, ROOT, http, print_table, run_backends, wrk  # noqa: E402

TOKEN = "lct_admin_bench_0123456789abcdef0123"
PLATFORM = "linux-x86_64"


def upload(base, release_id, data):
    req = urllib.request.Request(
        f"{base}/v1/admin/releases/{release_id}/artifacts?platform={PLATFORM}&name=App.AppImage",
        data=data, method="POST")
    req.add_header("Authorization", "Bearer " + TOKEN)
    req.add_header("Content-Type", "application/octet-stream")
    with urllib.request.urlopen(req) as res:
        return json.loads(res.read())


def seed(base):
    http("POST", base + "/v1/admin/products",
         {"slug": "bench", "name": "Bench", "max_activations": 10, "entitlements": ["pro"]}, TOKEN)
    for version in ("1.0.0", "1.1.0"):
        rel = http("POST", base + "/v1/admin/products/bench/releases", {"version": version}, TOKEN)
        upload(base, rel["id"], (version * 100000).encode())
        http("POST", base + f"/v1/admin/releases/{rel['id']}/publish", {}, TOKEN)
    key = http("POST", base + "/v1/admin/licenses", {"product": "bench", "email": "b@example.com"}, TOKEN)["key"]
    lease = http("POST", base + "/v1/licenses/activate", {"key": key, "fingerprint": "v1:bench"})["token"]
    return key, lease


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres", "both"])
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--server", default=BIN, help="the licet-server binary to measure")
    a = ap.parse_args()
    script = os.path.join(ROOT, "bench/updates.lua")

    def measure(backend, base, data_dir):
        key, lease = seed(base)
        path = "/v1/releases/latest?product=bench&platform=" + PLATFORM + "&version={}"
        cases = {
            "lease, up to date (204)": {"LICET_BENCH_LEASE": lease, "LICET_BENCH_PATH": path.format("1.1.0")},
            "lease, update (200)": {"LICET_BENCH_LEASE": lease, "LICET_BENCH_PATH": path.format("1.0.0")},
            "key, up to date (204)": {"LICET_BENCH_KEY": key, "LICET_BENCH_FPR": "v1:bench",
                                      "LICET_BENCH_PATH": path.format("1.1.0")},
            "key, update (200)": {"LICET_BENCH_KEY": key, "LICET_BENCH_FPR": "v1:bench",
                                  "LICET_BENCH_PATH": path.format("1.0.0")},
        }
        echo_env = {"LICET_BENCH_BODY": json.dumps({"key": key, "fingerprint": "v1:validator"})}
        results = {"echo": [], **{name: [] for name in cases}}
        for _ in range(a.rounds):
            results["echo"].append(wrk(ECHO_URL, os.path.join(ROOT, "bench/echo.lua"), a.duration, echo_env))
            for name, env in cases.items():
                results[name].append(wrk(base + "/", script, a.duration, env))
        return results

    print_table(run_backends(a, measure), a.rounds, what="check")


if __name__ == "__main__":
    main()
