"""`aac review` on a 50,000-scan output: how long the page's requests take
and how much memory the server holds (issue 35: page open under 1 s, a
filter or sort under 200 ms, server memory under 300 MB).

    python3 bench/review_50k.py [--n 50000] [--repeats 20] [--work DIR]

Writes a synthetic predict output (scores.csv rows only: no images, as the
listing never reads them), starts `aac review` on it, times each request
(median and max of --repeats, loopback only) and reads the server's peak
resident memory (VmHWM). Prints a markdown table. With ChromeDriver and
Chromium installed (`--browser`), also times the page in headless Chromium:
from asking for the URL to the first 50 rows shown with the first scan
open, and from a filter's change to its rows shown.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
import urllib.request

from aac_bench import AAC

COLUMNS = ("id,aac24,l1_ant,l1_post,l2_ant,l2_post,l3_ant,l3_post,l4_ant,l4_post,midline_x,category,"
           "aac24_continuous,ant_length_mm,post_length_mm,aac8,aac8_ant,aac8_post,status,message,flags,"
           "landmarks,landmark_confidence,pixel_spacing_mm,uncertainty")
FLAGS = ["landmarks_uncertain", "low_confidence_segmentation", "unusual_shape_fit", "band_outside_image"]


def write_output(out, n, seed=1):
    rng = random.Random(seed)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "scores.csv"), "w") as f:
        f.write(COLUMNS + "\n")
        for i in range(n):
            sub = [min(3, int(rng.expovariate(2.5))) for _ in range(8)]
            a = sum(sub)
            cat = "low" if a < 2 else "moderate" if a < 6 else "high"
            r = rng.random()
            if r < 0.01:
                f.write(f"scan{i:06d}" + "," * 18 + "error,cannot read,,none,,,\n")
                continue
            flags = rng.choice(FLAGS) if r < 0.12 else ""
            status = "flagged" if flags else "ok"
            msg = f"{flags}: why" if flags else ""
            cells = [f"scan{i:06d}", str(a), *map(str, sub), "64.000", cat, f"{a:.4f}", "", "",
                     str(min(8, a)), "0", "0", status, msg, flags, "found", f"{rng.random():.3f}", "0.3",
                     f"{rng.random():.3f}"]
            f.write(",".join(cells) + "\n")


def get(url, data=None):
    t0 = time.perf_counter()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        body = r.read()
    return time.perf_counter() - t0, body


def webdriver(addr, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{addr}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())["value"]


def browser_timings(url, repeats):
    """Seconds to open the page and to apply a filter, in headless Chromium."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    drv = subprocess.Popen(["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    addr = f"127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                webdriver(addr, "GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"]}}}}
        sid = webdriver(addr, "POST", "/session", caps)["sessionId"]
        js = lambda code: webdriver(addr, "POST", f"/session/{sid}/execute/sync", {"script": code, "args": []})

        def until(cond):
            t0 = time.perf_counter()
            while not js(f"return !!(window.aacIdle && aacIdle() && ({cond}))"):
                time.sleep(0.005)
            return time.perf_counter() - t0

        opens, filters = [], []
        for _ in range(repeats):
            webdriver(addr, "POST", f"/session/{sid}/url", {"url": "about:blank"})
            t0 = time.perf_counter()
            webdriver(addr, "POST", f"/session/{sid}/url", {"url": url})
            until("document.querySelectorAll('tr.row').length == 50 && scan")
            opens.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            js("const s = document.getElementById('f-status'); s.value = s.value === 'flagged' ? '' : 'flagged'; s.dispatchEvent(new Event('change'));")
            until("document.querySelectorAll('tr.row').length == 50 && scan")
            filters.append(time.perf_counter() - t0)
        webdriver(addr, "DELETE", f"/session/{sid}")
        return opens, filters
    finally:
        drv.kill()
        drv.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--work")
    ap.add_argument("--browser", action="store_true", help="also time the page in headless Chromium (ChromeDriver)")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="aac-review-bench-")
    out = os.path.join(work, "out")
    t0 = time.perf_counter()
    write_output(out, a.n)
    proc = subprocess.Popen([AAC, "review", out, "--reader", "bench", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().strip()
        started = time.perf_counter() - t0
        base, token = url.split("/?token=")
        assert base.startswith("http://127.0.0.1:")
        api = lambda p: f"{base}{p}{'&' if '?' in p else '?'}token={token}"
        first_id = json.loads(get(api("/api/scans?status=ok&limit=1"))[1])["rows"][0]["id"]
        cases = [
            ("page (HTML)", lambda: get(f"{base}/?token={token}")),
            ("summary (counts, histogram)", lambda: get(api("/api/summary"))),
            ("first page of the queue (50 rows)", lambda: get(api("/api/scans?limit=50"))),
            ("one scan", lambda: get(api(f"/api/scans/{first_id}"))),
            ("filter: flagged", lambda: get(api("/api/scans?status=flagged&limit=50"))),
            ("filter: high, not reviewed", lambda: get(api("/api/scans?category=high&reviewed=false&limit=50"))),
            ("sort: AAC24 high first", lambda: get(api("/api/scans?sort=-aac24&limit=50"))),
            ("sort: most uncertain, page 500", lambda: get(api("/api/scans?sort=-uncertainty&offset=25000&limit=50"))),
            ("decision: accept", lambda: get(api("/api/decision"),
                                             json.dumps({"id": first_id, "action": "accept"}).encode())),
        ]
        print(f"{a.n} scans; server up (output read) {started:.2f} s after the CSV was written\n")
        print("| request | median ms | max ms |")
        print("|---|---|---|")
        open_total = 0.0
        for name, call in cases:
            times = [call()[0] * 1000 for _ in range(a.repeats)]
            med = statistics.median(times)
            if name in ("page (HTML)", "summary (counts, histogram)", "first page of the queue (50 rows)", "one scan"):
                open_total += med
            print(f"| {name} | {med:.1f} | {max(times):.1f} |")
        print(f"| opening the page (the four requests above it) | {open_total:.1f} | |")
        if a.browser:
            opens, filters = browser_timings(url, a.repeats)
            print(f"| headless Chromium: open the page to 50 rows and the first scan shown | {1000 * statistics.median(opens):.0f} | {1000 * max(opens):.0f} |")
            print(f"| headless Chromium: a filter changed to its rows shown | {1000 * statistics.median(filters):.0f} | {1000 * max(filters):.0f} |")
        with open(f"/proc/{proc.pid}/status") as f:
            hwm = next(l for l in f if l.startswith("VmHWM")).split()[1]
        print(f"\nserver peak resident memory: {int(hwm) / 1024:.0f} MB")
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
