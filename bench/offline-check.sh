#!/usr/bin/env bash
# Whole-process offline checks (Rust example app, C example on the shared and the static
# library) with hyperfine, and the size of the stripped C library.
#   bench/offline-check.sh          (needs hyperfine: apt-get install hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p licet-server -p licet-example-cli >/dev/null
cargo build --profile dist -p licet-ffi >/dev/null
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
make -s -C examples LIBDIR=../target/dist OUT="$work/bin" >/dev/null

port=18790
LICET_ADMIN_TOKEN=lct_admin_bench_0123456789abcdef0123 LICET_LOG=warn ./target/release/licet-server \
  --data-dir "$work/data" --listen 127.0.0.1:$port serve >/dev/null 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
api() { curl -sf "http://127.0.0.1:$port$1" -H "Authorization: Bearer lct_admin_bench_0123456789abcdef0123" --json "$2"; }
api /v1/admin/products '{"slug":"photo","name":"Photo","max_activations":5,"entitlements":["pro"]}' >/dev/null
key() { api /v1/admin/licenses '{"product":"photo","email":"b@example.com"}' | sed 's/.*"key":"\([^"]*\)".*/\1/'; }
curl -sf http://127.0.0.1:$port/.well-known/jwks.json >"$work/jwks.json"

export LICET_SERVER=http://127.0.0.1:$port LICET_JWKS="$work/jwks.json" LICET_NO_KEYRING=1
LICET_STORAGE_DIR="$work/rust" ./target/release/licet-example activate "$(key)" >/dev/null
LICET_STORAGE_DIR="$work/c" "$work/bin/licet-demo-shared" activate "$(key)" >/dev/null
kill $server   # from here on everything is offline

hyperfine -N --warmup 20 --runs 300 \
  -n "Rust example: check" "env LICET_STORAGE_DIR=$work/rust ./target/release/licet-example check" \
  -n "C example (shared): check" "env LICET_STORAGE_DIR=$work/c $work/bin/licet-demo-shared check" \
  -n "C example (static): check" "env LICET_STORAGE_DIR=$work/c $work/bin/licet-demo-static check" \
  -n "baseline: C example printing its version" "env LICET_STORAGE_DIR=$work/c $work/bin/licet-demo-shared version"

echo
echo "stripped liblicet.so (dist profile): $(stat -c %s target/dist/liblicet.so) bytes"
