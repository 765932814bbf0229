#!/usr/bin/env python3
"""Page times of the portal and the dashboard with 10,000 licenses, on the embedded
default (SQLite, local files), against a release build.

    cargo build --release -p licet-server
    python3 bench/pages.py [--licenses 10000] [--requests 200]

Seeds products, 10,000 licenses (a fifth of them bought through purchases, with machines
activated), signs in to the dashboard with the admin token and to the portal with an
emailed link, then requests each page `--requests` times one after another on one
keep-alive connection. Times are client-observed on loopback, so they bound the server's
time from above. `GET /healthz` is the baseline measured in the same run.
"""
import argparse, glob, json, os, re, statistics, subprocess, sys, tempfile, time, urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "licet-server")
TOKEN = "lct_admin_bench_0123456789abcdef0123"


from benchlib import Conn, csrf_of


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--licenses", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--server", default=BIN, help="the licet-server binary to measure (another build, for an A/B)")
    args = ap.parse_args()
    data = tempfile.mkdtemp(prefix="licet-pages-")
    port = 18787
    env = {**os.environ, "LICET_RATE_LIMIT_PER_IP": "0", "LICET_RATE_LIMIT_PER_KEY": "0",
           "LICET_ADMIN_TOKEN": TOKEN, "LICET_LOG": "warn", "LICET_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    proc = subprocess.Popen([args.server, "--data-dir", data, "--listen", f"127.0.0.1:{port}", "serve"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        api = Conn(port)
        for _ in range(200):
            try:
                if api.req("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                api = Conn(port)
                time.sleep(0.05)
        t0 = time.time()
        for slug, name in [("photo", "Photo"), ("studio", "Photo Studio"), ("video", "Video"), ("audio", "Audio")]:
            api.req("POST", "/v1/admin/products", {"slug": slug, "name": name, "max_activations": 3}, token=TOKEN)
        purchases = args.licenses // 5
        products = ["photo", "studio", "video", "audio"]
        sample = {}
        for i in range(purchases):
            st, body, _ = api.req("POST", "/v1/admin/purchases",
                                  {"email": f"buyer{i}@example.com", "products": [products[i % 4]],
                                   "amount": 4900, "currency": "eur"}, token=TOKEN)
            p = json.loads(body)
            if i % 2 == 0:
                lic = p["licenses"][0]
                st, body, _ = api.req("GET", f"/v1/admin/licenses/{lic}", token=TOKEN)
                key = json.loads(body)["key"]
                api.req("POST", "/v1/licenses/activate", {"key": key, "fingerprint": f"v1:m{i}", "name": f"PC {i}"})
            if i == purchases // 2:
                sample = {"purchase": p["id"], "license": p["licenses"][0], "email": p["email"]}
        for i in range(args.licenses - purchases):
            api.req("POST", "/v1/admin/licenses", {"product": products[i % 4], "email": f"user{i}@example.com"}, token=TOKEN)
        seeded = time.time() - t0
        key = json.loads(api.req("GET", f"/v1/admin/licenses/{sample['license']}", token=TOKEN)[1])["key"]

        admin = Conn(port)
        st, html, _ = admin.req("GET", "/admin")
        st, _, _ = admin.form("/admin/sign-in", {"secret": TOKEN, "csrf": csrf_of(html)})
        assert st == 303, st

        customer = Conn(port)
        st, html, _ = customer.req("GET", "/portal")
        customer.form("/portal/sign-in", {"email": sample["email"], "csrf": csrf_of(html)})
        link = None
        for _ in range(100):
            for f in glob.glob(os.path.join(data, "mail", "*.eml")):
                text = open(f).read().replace("=\n", "").replace("=\r\n", "").replace("=3D", "=")
                m = re.search(r"(/portal/auth/[A-Za-z0-9_-]+)", text)
                if m and sample["email"] in text:
                    link = m.group(1)
            if link:
                break
            time.sleep(0.05)
        assert link, "no sign-in email"
        # The link opens a page with a "Sign in" button; its POST uses the link.
        st, html, _ = customer.req("GET", link)
        st, _, _ = customer.form(link, {"csrf": csrf_of(html)})
        assert st == 303, st

        pages = [
            (api, "/healthz", "baseline: GET /healthz"),
            (admin, "/admin", "dashboard overview (charts)"),
            (admin, "/admin/products", "products"),
            (admin, "/admin/products/photo", "product page"),
            (admin, "/admin/purchases", "purchases, first page"),
            (admin, "/admin/purchases?page=20", "purchases, page 21"),
            (admin, "/admin/purchases?" + urllib.parse.urlencode({"email": sample["email"]}), "purchases by email"),
            (admin, "/admin/purchases?status=COMPLETED&from=2020-01-01&to=2099-12-31", "purchases by status and date"),
            (admin, f"/admin/purchases/{sample['purchase']}", "purchase page"),
            (admin, "/admin/licenses", "licenses, first page"),
            (admin, "/admin/licenses?page=100", "licenses, page 101"),
            (admin, "/admin/licenses?q=" + urllib.parse.quote(sample["email"]), "licenses by email"),
            (admin, "/admin/licenses?q=" + key, "licenses by key"),
            (admin, f"/admin/licenses/{sample['license']}", "license page"),
            (customer, "/portal/purchases", "portal: purchases"),
            (customer, f"/portal/purchases/{sample['purchase']}", "portal: purchase page"),
        ]
        print(f"seeded {args.licenses} licenses ({purchases} through purchases) in {seeded:.0f} s\n")
        print("| page | median ms | p95 ms | max ms |")
        print("|---|---:|---:|---:|")
        for conn, path, label in pages:
            times = []
            for _ in range(args.requests):
                t = time.perf_counter()
                st, body, _ = conn.req("GET", path)
                times.append((time.perf_counter() - t) * 1000)
                assert st == 200, (path, st, body[:200])
            times.sort()
            p95 = times[int(len(times) * 0.95) - 1]
            print(f"| {label} | {statistics.median(times):.2f} | {p95:.2f} | {times[-1]:.2f} |")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
