#!/usr/bin/env python3
"""`aac predict` throughput end to end: images/s and peak memory, with the
spine points given and with the bundle's finder placing them.

    cargo build --release
    python3 bench/predict_speed.py --model model.aac [--n 1000] [--repeats 3]
        [--work /tmp/aac-predict-speed] [--jobs N]

Makes (once) a `hologic` cohort of N images (seed 5), then runs `aac predict`
REPEATS times per mode into a fresh output directory and prints a Markdown
table: the median images/s with the range over the runs, and the peak
resident memory of the slowest run. Run it on a quiet machine.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import time

from aac_bench import AAC, aac


def timed_run(args):
    """Seconds and peak RSS (MB) of one aac run."""
    t0 = time.time()
    proc = subprocess.Popen([AAC, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.time() - t0
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: aac {' '.join(map(str, args))}\n{err}")
    return secs, usage.ru_maxrss / 1024


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--work", default="/tmp/aac-predict-speed")
    p.add_argument("--jobs", type=int, default=None)
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    cohort = os.path.join(a.work, f"hologic_{a.n}")
    if not os.path.exists(os.path.join(cohort, "scores.csv")):
        aac("synth", "--n", a.n, "--seed", 5, "--style", "hologic", "--out", cohort, "--force")
    images = os.path.join(cohort, "images")
    modes = [("points given", ["--landmarks", os.path.join(cohort, "landmarks")]), ("points found", [])]
    print("| mode | images | images/s (median, range) | peak memory (MB) |")
    print("| --- | --- | --- | --- |")
    for name, extra in modes:
        rates, peak = [], 0.0
        for _ in range(a.repeats):
            out = os.path.join(a.work, "out")
            shutil.rmtree(out, ignore_errors=True)
            jobs = ["--jobs", a.jobs] if a.jobs else []
            secs, rss = timed_run(["predict", "--model", a.model, "--images", images, "--out", out, *extra, *jobs])
            rates.append(a.n / secs)
            peak = max(peak, rss)
        print(f"| {name} | {a.n} | {statistics.median(rates):.1f} ({min(rates):.1f}-{max(rates):.1f}) | {peak:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
