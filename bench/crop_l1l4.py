#!/usr/bin/env python3
"""The landmark finder on an L1-L4 crop: test cohorts cut to the rows from
T12's inferior to L5's superior endplate, widened by MARGIN levels either
way (`crop_l1l4` example of aac-io), so that neither the sacrum nor T12 is
in view. Prints, per cohort, levels named right, how many are flagged,
wrongly named and not flagged, point error in mm, and AAC24 agreement with
the true and the found points (docs/landmarks.md records it):

    cargo build --release && cargo build --release -p aac-io --example crop_l1l4
    python3 bench/crop_l1l4.py --model BUNDLE --work DIR --tests DIR1,DIR2 [--margin 0.3]

Each test DIR is a synthetic cohort (`aac synth`, with truth.json for the
pixel spacing), e.g. the test cohorts of bench/landmarks_held_out.py.
"""

import argparse
import csv
import json
import os
import subprocess

from aac_bench import aac, ROOT
from landmarks_held_out import judge, predict_pair, summary


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--tests", required=True, help="comma-separated cohort directories")
    p.add_argument("--margin", type=float, default=0.3)
    a = p.parse_args()
    crop_bin = os.path.join(ROOT, "target", "release", "examples", "crop_l1l4")
    print("| cohort (L1-L4 crop) | scans | levels named right | flagged | wrongly named, not flagged | errors | median error (mm) | 95th pct (mm) | AAC24 r true / found | MAE true / found |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for test in a.tests.split(","):
        name = os.path.basename(os.path.normpath(test))
        crop = os.path.join(a.work, f"crop_{name}")
        if not os.path.exists(os.path.join(crop, "scores.csv")):
            subprocess.run([crop_bin, test, crop, str(a.margin)], check=True, stdout=subprocess.DEVNULL)
        spacing = {t["id"]: t["spacing_mm"] for t in json.load(open(os.path.join(test, "truth.json")))}
        found = os.path.join(a.work, f"found_{name}")
        if not os.path.exists(os.path.join(found, "landmarks.csv")):
            aac("landmarks", "--model", a.model, "--images", os.path.join(crop, "images"), "--out", found, capture=True)
        rows = list(csv.DictReader(open(os.path.join(found, "landmarks.csv"), newline="")))
        q, right, flagged, wrong_unflagged, errors = summary(judge(rows, os.path.join(crop, "landmarks"), found, spacing))
        given, found_out = os.path.join(a.work, f"pred_given_{name}"), os.path.join(a.work, f"pred_found_{name}")
        _, (rg, _, mg), (rf, _, mf) = predict_pair(a.model, crop, given, found_out)
        n = len(rows)
        print(f"| {name} | {n} | {right}/{n - errors} | {flagged} | {wrong_unflagged} | {errors} | {q(0.5):.2f} | {q(0.95):.2f} "
              f"| {rg:.3f} / {rf:.3f} | {mg:.2f} / {mf:.2f} |")


if __name__ == "__main__":
    main()
