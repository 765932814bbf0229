#!/usr/bin/env python3
"""Validation that signs only when something changed, against a release build, with the warp
JSON echo route measured in the same rounds as the framework's ceiling.

    cargo build --release -p licet-server --bins --examples
    python3 bench/leases.py [--backend sqlite|postgres|both] [--duration 10] [--rounds 3]

The server runs with the signature cache off (`LICET_SIGNATURE_CACHE_ENTRIES=0`: every lease
it answers is signed then, as for real clients that validate a few times a day). Seeds
`--machines` licenses, each activated on one machine, and drives, interleaved:

- `validate-unchanged, 1 machine`: one machine naming the lease it holds (as the SDK does),
  answered "unchanged" with nothing signed;
- `validate-unchanged, N machines`: the same, round-robin over every machine;
- `validate fresh, N machines`: the request of clients that name no lease, round-robin: a
  lease signed for each;
- `activate`: new machines spread over N more licenses (`bench/activate.lua`).

Needs wrk. Prints a Markdown table of medians over the rounds (shares of the echo median).
"""
import argparse, base64, json, os

from load import BIN, ECHO_URL, ROOT, http, print_table, run_backends, wrk

TOKEN = "lct_admin_bench_0123456789abcdef0123"


def b64json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def held(token):
    """What a client says of the lease `token` it holds: jti, iat and the signing key."""
    header, claims = (b64json(p) for p in token.split(".")[:2])
    return {"jti": claims["jti"], "iat": claims["iat"], "kid": header["kid"]}


def seed(base, machines):
    http("POST", base + "/v1/admin/products",
         {"slug": "bench", "name": "Bench", "max_activations": 100000, "entitlements": ["pro"]}, TOKEN)
    keys = [http("POST", base + "/v1/admin/licenses", {"product": "bench", "email": "b@example.com"}, TOKEN)["key"]
            for _ in range(2 * machines)]
    fresh, unchanged = [], []
    for i, key in enumerate(keys[:machines]):
        fpr = f"v1:machine-{i}"
        token = http("POST", base + "/v1/licenses/activate", {"key": key, "fingerprint": fpr})["token"]
        fresh.append({"key": key, "fingerprint": fpr})
        unchanged.append({"key": key, "fingerprint": fpr, "lease": held(token)})
    return fresh, unchanged, keys[machines:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres", "both"])
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--machines", type=int, default=400)
    ap.add_argument("--server", default=BIN, help="the licet-server binary to measure")
    a = ap.parse_args()
    many = f"{a.machines} machines"

    def measure(backend, base, data_dir):
        fresh, unchanged, activate_keys = seed(base, a.machines)
        files = {}
        for name, lines in [("fresh", fresh), ("unchanged", unchanged), ("one", unchanged[:1])]:
            files[name] = os.path.join(data_dir, f"{name}.jsonl")
            with open(files[name], "w") as f:
                f.write("".join(json.dumps(b) + "\n" for b in lines))
        keys_file = os.path.join(data_dir, "activate-keys.txt")
        with open(keys_file, "w") as f:
            f.write("\n".join(activate_keys) + "\n")
        validate = {"LICET_BENCH_PATH": "/v1/licenses/validate"}
        bodies = os.path.join(ROOT, "bench/bodies.lua")
        routes = [
            ("validate-unchanged, 1 machine", bodies, {**validate, "LICET_BENCH_BODIES": files["one"]}),
            (f"validate-unchanged, {many}", bodies, {**validate, "LICET_BENCH_BODIES": files["unchanged"]}),
            (f"validate fresh, {many}", bodies, {**validate, "LICET_BENCH_BODIES": files["fresh"]}),
        ]
        results = {"echo": [], **{name: [] for name, _, _ in routes}, "activate": []}
        echo_env = {"LICET_BENCH_BODY": json.dumps(unchanged[0])}
        for r in range(a.rounds):
            results["echo"].append(wrk(ECHO_URL, os.path.join(ROOT, "bench/echo.lua"), a.duration, echo_env))
            for name, script, env in routes:
                results[name].append(wrk(base + "/", script, a.duration, env))
            results["activate"].append(wrk(base + "/", os.path.join(ROOT, "bench/activate.lua"), a.duration,
                                           {"LICET_BENCH_KEYS": keys_file, "LICET_BENCH_RUN": f"{backend}{r}"}))
        return results

    rows = run_backends(a, measure, signature_cache=0)
    print(f"signature cache off; {a.machines} activated machines, one per license")
    print_table(rows, a.rounds)


if __name__ == "__main__":
    main()
