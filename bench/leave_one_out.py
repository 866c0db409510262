#!/usr/bin/env python3
"""Leave one factor out: the landmark finder trained without a generator
factor, tested on scans that have it, scored through a full U-net.

For each factor F: `aac synth` draws the README recipe's 1,000 `random`
scans without F, `aac train bundle` trains one finder on them (a throwaway
U-net: `--landmark-members 1 --unet-width 2 --epochs 1`), and the example
`graft_finder` puts that finder beside the U-net of --model, so AAC24 with
the found points is what a full bundle would give. The reference row,
"all factors", is --model's first finder alone (the recipe's first member
is the same network a one-member training gives). Each is tested on 200
scans with F drawn (`STYLE+F`, the seeds of bench/landmarks_held_out.py):
levels named right, flagged, named wrongly without a flag, error rows,
point error, and AAC24 r / MAE with the true and with the found points.
Prints one Markdown table (docs/landmarks.md records it):

    cargo build --release --examples
    python3 bench/leave_one_out.py --model model.aac --work DIR \\
        --factors burned_in:hologic+burned_in,fractures:biobank

A factor's tests are `F:TEST[;TEST...]`, each TEST a style with factors
added (`hologic+transitional+attached_ribs`). Steps done before in --work
are kept.
"""

import argparse
import json
import os
import subprocess
import sys

from aac_bench import ROOT, aac
from landmarks_held_out import TESTS, judge, summary, agreement
import csv

GRAFT = os.environ.get("AAC_GRAFT", os.path.join(ROOT, "target", "release", "examples", "graft_finder"))


def graft(unet_from, finder_from, out, members=None):
    if not os.path.exists(out):
        cmd = [GRAFT, unet_from, finder_from, out] + ([str(members)] if members else [])
        subprocess.run(cmd, check=True, capture_output=True)


def cohort(work, style):
    """The test cohort STYLE[+F...] (200 scans), drawn once."""
    base, *added = style.split("+")
    test = os.path.join(work, f"test_{style}")
    if not os.path.exists(os.path.join(test, "scores.csv")):
        with_ = ["--with", ",".join(added)] if added else []
        aac("synth", "--n", 200, "--seed", dict(TESTS)[base], "--style", base, *with_, "--out", test, "--force")
    return test


def row(work, tag, slug, bundle, unet_bundle, style):
    test = cohort(work, style)
    spacing = {t["id"]: t["spacing_mm"] for t in json.load(open(os.path.join(test, "truth.json")))}
    found = os.path.join(work, f"found_{slug}_{style}")
    if not os.path.exists(os.path.join(found, "landmarks.csv")):
        aac("landmarks", "--model", bundle, "--images", os.path.join(test, "images"), "--out", found, capture=True)
    rows = list(csv.DictReader(open(os.path.join(found, "landmarks.csv"), newline="")))
    q, right, flagged, silent, failed = summary(judge(rows, os.path.join(test, "landmarks"), found, spacing))
    given = os.path.join(work, f"pred_true_{style}")
    if not os.path.exists(os.path.join(given, "scores.csv")):
        aac("predict", "--model", unet_bundle, "--images", os.path.join(test, "images"),
            "--landmarks", os.path.join(test, "landmarks"), "--out", given, capture=True)
    pred = os.path.join(work, f"pred_{slug}_{style}")
    if not os.path.exists(os.path.join(pred, "scores.csv")):
        aac("predict", "--model", bundle, "--images", os.path.join(test, "images"), "--out", pred, capture=True)
    ref = os.path.join(test, "scores.csv")
    (rg, _, mg), (rf, _, mf) = agreement(ref, os.path.join(given, "scores.csv")), agreement(ref, os.path.join(pred, "scores.csv"))
    n = len(rows)
    return (f"| {tag} | `{style}` | {q(0.5):.2f} mm | {q(0.95):.2f} mm | {right}/{n - failed} | {flagged} | {failed} "
            f"| {silent} | {rg:.3f} / {rf:.3f} | {mg:.2f} / {mf:.2f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="the bundle whose U-net scores and whose first finder is the reference")
    p.add_argument("--work", default="/tmp/aac-leave-one-out")
    p.add_argument("--factors", required=True, help="F:TEST[;TEST...] entries, comma-separated")
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    w = lambda *x: os.path.join(a.work, *x)
    reference = w("all_factors.aac")
    graft(a.model, a.model, reference, 1)
    print("| finder trained on `random` | tested on (200 scans) | median error | 95th percentile | levels named right | flagged | error rows | named wrongly and not flagged | AAC24 r, true / found points | MAE true / found |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    seen = set()
    for entry in a.factors.split(","):
        factor, tests = entry.split(":")
        finder = w(f"without_{factor}.finder.aac")
        if not os.path.exists(finder):
            train = w("train_without")
            aac("synth", "--n", 1000, "--seed", 1, "--out", train, "--without", factor, "--force", capture=True)
            aac("train", "bundle", "--data", train, "--out", finder, "--landmark-members", 1,
                "--unet-width", 2, "--epochs", 1, capture=True)
        bundle = w(f"without_{factor}.aac")
        graft(a.model, finder, bundle)
        for style in tests.split(";"):
            if style not in seen:
                seen.add(style)
                print(row(a.work, "all factors", "all", reference, a.model, style), flush=True)
            print(row(a.work, f"without `{factor}`", f"without_{factor}", bundle, a.model, style), flush=True)


if __name__ == "__main__":
    sys.exit(main())
