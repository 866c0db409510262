#!/usr/bin/env python3
"""docs/landmarks.md's figures: found against true spine points on the
median scan, the worst scan not flagged and the worst scan of a held-out
cohort, from a finished `bench/landmarks_held_out.py` run.

    cargo build --release -p aac-pipeline --example landmark_figure
    python3 bench/landmark_figures.py [--work /tmp/aac-landmarks] [--style lunar]
        [--out docs/images/landmarks_lunar.png]

Prints each chosen scan's id, mean point error (mm) and confidence.
"""

import argparse
import csv
import json
import math
import os
import subprocess

from aac_bench import ROOT
from landmarks_held_out import read_pts

FIGURE = os.path.join(ROOT, "target", "release", "examples", "landmark_figure")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", default="/tmp/aac-landmarks")
    p.add_argument("--style", default="lunar")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    test = os.path.join(a.work, f"test_{a.style}")
    found = os.path.join(a.work, f"found_{a.style}")
    spacing = {t["id"]: t["spacing_mm"] for t in json.load(open(os.path.join(test, "truth.json")))}
    scans = []
    for r in csv.DictReader(open(os.path.join(found, "landmarks.csv"), newline="")):
        if r["status"] not in ("ok", "flagged"):
            continue
        t = read_pts(os.path.join(test, "landmarks", r["id"] + ".pts"))[:20]
        f = read_pts(os.path.join(found, r["id"] + ".pts"))
        mm = spacing[r["id"]]
        mm = mm[0] if isinstance(mm, list) else mm
        err = sum(math.dist(x, y) for x, y in zip(t, f)) / len(f) * mm
        scans.append((err, r["id"], float(r["confidence"]), "landmarks_uncertain" in r["flags"]))
    scans.sort()
    unflagged = [s for s in scans if not s[3]]
    chosen = [("median", scans[len(scans) // 2]), ("worst not flagged", unflagged[-1]), ("worst", scans[-1])]
    args = []
    for name, (err, sid, conf, flagged) in chosen:
        print(f"{name}: {sid} {err:.2f} mm, confidence {conf:.2f}{', flagged' if flagged else ''}")
        image = next(os.path.join(test, "images", n) for n in os.listdir(os.path.join(test, "images"))
                     if n.startswith(sid + "."))
        args += [image, os.path.join(test, "landmarks", sid + ".pts"), os.path.join(found, sid + ".pts")]
    out = a.out or os.path.join(ROOT, "docs", "images", f"landmarks_{a.style}.png")
    subprocess.run([FIGURE, out, *args], check=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
