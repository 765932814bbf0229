#!/usr/bin/env python3
"""Download throughput against nginx with secure_link, and webhook-to-email latency.

    cargo build --release -p licet-server
    python3 bench/downloads.py [--duration 10] [--rounds 3]      # needs wrk and nginx

Both servers serve the same two files from the same disk: a 256 MiB file (bytes/s with 4
connections) and a 1 MiB file (requests/s with 32 connections). nginx checks a secure_link
MD5 signature and expiry on every request; Licet checks its download link (a database
lookup and an atomic budget update per counted request). Rounds are interleaved; medians.
"""
import argparse, base64, hashlib, hmac, json, os, re, signal, statistics, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "licet-server")
TOKEN = "lct_admin_bench_0123456789abcdef0123"
SECRET = "whsec_bench"


def http(method, url, body=None, headers=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", "Bearer " + TOKEN)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    with urllib.request.urlopen(req, timeout=600) as res:
        return json.loads(res.read() or b"null")


def wait(url):
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            time.sleep(0.05)
    sys.exit("not up: " + url)


def wrk(url, connections, duration):
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    scale = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        sys.exit(f"errors from {url}: {non2xx.group(1)}")
    return rps, float(m.group(1)) * scale


def nginx_url(port, name, secret):
    expires = int(time.time()) + 86400
    uri = f"/s/{name}"
    md5 = base64.urlsafe_b64encode(hashlib.md5(f"{expires}{uri} {secret}".encode()).digest()).decode().rstrip("=")
    return f"http://127.0.0.1:{port}{uri}?md5={md5}&expires={expires}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--latency-samples", type=int, default=100)
    a = ap.parse_args()
    work = tempfile.mkdtemp()
    files = os.path.join(work, "files")
    os.makedirs(files)
    with open(os.path.join(files, "big.bin"), "wb") as f:
        block = os.urandom(1 << 20)
        for _ in range(256):
            f.write(block)
    with open(os.path.join(files, "small.bin"), "wb") as f:
        f.write(os.urandom(1 << 20))

    nginx_secret = "bench-secret"
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
user root;
worker_processes 2;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  server {{
    listen 127.0.0.1:18792;
    location /s/ {{
      secure_link $arg_md5,$arg_expires;
      secure_link_md5 "$secure_link_expires$uri {nginx_secret}";
      if ($secure_link = "") {{ return 403; }}
      if ($secure_link = "0") {{ return 410; }}
      alias {files}/;
    }}
  }}
}}
""")
    nginx = subprocess.Popen(["nginx", "-c", conf, "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    env = {**os.environ, "LICET_RATE_LIMIT_PER_IP": "0", "LICET_RATE_LIMIT_PER_KEY": "0",
           "LICET_ADMIN_TOKEN": TOKEN, "LICET_LOG": "warn", "LICET_STRIPE_WEBHOOK_SECRET": SECRET}
    data = os.path.join(work, "licet")
    licet = subprocess.Popen([BIN, "--data-dir", data, "--listen", "127.0.0.1:18791", "serve"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = "http://127.0.0.1:18791"
    try:
        wait(base + "/healthz")
        wait("http://127.0.0.1:18792/")
        http("POST", base + "/v1/admin/products", {"slug": "app", "name": "App", "kind": "download",
                                                   "max_activations": 1, "download_limit": 100000000})
        for name in ("big.bin", "small.bin"):
            with open(os.path.join(files, name), "rb") as f:
                http("POST", f"{base}/v1/admin/products/app/files?name={name}", raw=f.read(),
                     headers={"Content-Type": "application/octet-stream"})
        purchase = http("POST", base + "/v1/admin/purchases", {"email": "b@example.com", "products": ["app"]})
        links = {l["file"]: l["url"] for l in http("POST", f"{base}/v1/admin/purchases/{purchase['id']}/links")["items"]}
        runs = {k: [] for k in ("nginx big", "licet big", "nginx small", "licet small")}
        for _ in range(a.rounds):
            runs["nginx big"].append(wrk(nginx_url(18792, "big.bin", nginx_secret), 4, a.duration))
            runs["licet big"].append(wrk(links["big.bin"], 4, a.duration))
            runs["nginx small"].append(wrk(nginx_url(18792, "small.bin", nginx_secret), 32, a.duration))
            runs["licet small"].append(wrk(links["small.bin"], 32, a.duration))
        med = {k: (statistics.median(r for r, _ in v), statistics.median(b for _, b in v)) for k, v in runs.items()}
        print(f"| file | server | req/s (median of {a.rounds}) | MiB/s | vs nginx |")
        print("|---|---|---:|---:|---:|")
        for size in ("big", "small"):
            n_rps, n_bps = med[f"nginx {size}"]
            l_rps, l_bps = med[f"licet {size}"]
            label = "256 MiB" if size == "big" else "1 MiB"
            metric = (lambda l, n: l[1] / n[1]) if size == "big" else (lambda l, n: l[0] / n[0])
            print(f"| {label} | nginx secure_link | {n_rps:.1f} | {n_bps / 2**20:.0f} | 100% |")
            print(f"| {label} | Licet link | {l_rps:.1f} | {l_bps / 2**20:.0f} | {metric((l_rps, l_bps), (n_rps, n_bps)):.0%} |")

        # Webhook to email written: one signed checkout per sample, timed until its .eml exists.
        http("POST", base + "/v1/admin/products", {"slug": "photo", "name": "Photo", "max_activations": 1})
        mail = os.path.join(data, "mail")
        event = json.load(open(os.path.join(ROOT, "server/tests/fixtures/stripe/checkout.session.completed.json")))
        samples = []
        for i in range(a.latency_samples):
            event["id"] = f"evt_bench_{i}"
            event["data"]["object"]["id"] = f"cs_bench_{i}"
            event["data"]["object"]["payment_intent"] = f"pi_bench_{i}"
            body = json.dumps(event).encode()
            t = int(time.time())

            mac = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
            before = len(os.listdir(mail)) if os.path.isdir(mail) else 0
            start = time.perf_counter()
            req = urllib.request.Request(base + "/v1/webhooks/stripe", data=body, method="POST")
            req.add_header("Content-Type", "application/json")
            req.add_header("Stripe-Signature", f"t={t},v1={mac}")
            urllib.request.urlopen(req).read()
            while (len(os.listdir(mail)) if os.path.isdir(mail) else 0) <= before:
                time.sleep(0.0005)
            samples.append((time.perf_counter() - start) * 1000)
        samples.sort()
        print()
        print(f"webhook to email written ({len(samples)} checkouts): p50 {statistics.median(samples):.1f} ms, "
              f"p90 {samples[int(len(samples) * 0.9)]:.1f} ms, max {samples[-1]:.1f} ms")
    finally:
        licet.send_signal(signal.SIGTERM)
        nginx.send_signal(signal.SIGQUIT)
        licet.wait(timeout=20)
        nginx.wait(timeout=20)


if __name__ == "__main__":
    main()
