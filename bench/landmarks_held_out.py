#!/usr/bin/env python3
"""The landmark finder on scans it never saw: point error, level naming, flags,
and AAC24 from found against given points.

Trains a default bundle (`aac train bundle`, which trains the finder too) on
N synthetic `random` images, then for each test cohort (200 new images of
`random`, `hologic` and `lunar`, own seeds) runs `aac landmarks` and `aac
predict` twice, with the true spine points and with none (found points).
Prints one Markdown table (docs/landmarks.md records it):

    cargo build --release
    python3 bench/landmarks_held_out.py [--n-train 1000] [--n-test 200]
        [--work /tmp/aac-landmarks] [--train DIR] [--synth "--without F"]
        [--tests random,hologic,lunar,biobank,hologic+sacral_segments] [--levels-only]
        [-- extra train-bundle flags]

A scan's levels count as named wrongly when the centre of any found L1-L4
body lies more than half a vertebra (half the mean distance between true
body centres) from its true centre. Steps already done in --work are kept.
"""

import argparse
import csv
import json
import math
import os
import statistics
import time

from aac_bench import aac

TESTS = [("random", 99), ("hologic", 96), ("lunar", 95), ("biobank", 94)]


def read_pts(path):
    with open(path) as f:
        lines = f.read().split("{")[1].split("}")[0].split("\n")
    return [tuple(map(float, l.split())) for l in lines if l.strip()]


def centres(pts):
    return [
        (sum(pts[4 * v + k][0] for k in range(4)) / 4, sum(pts[4 * v + k][1] for k in range(4)) / 4)
        for v in range(4)
    ]


def summary(scans):
    """Quantiles of the point errors (mm), levels named right, flagged,
    wrongly named but not flagged, and errors, over {id: (errors, ok, flagged) or None}."""
    errors_mm = sorted(e for s in scans.values() if s for e in s[0])
    q = lambda f: errors_mm[min(len(errors_mm) - 1, int(len(errors_mm) * f))] if errors_mm else float("nan")
    done = [s for s in scans.values() if s]
    return (q, sum(s[1] for s in done), sum(s[2] for s in done),
            sum((not s[1]) and not s[2] for s in done), len(scans) - len(done))


def kinds(truth_path):
    """Scan ids by what the generator did to them: cropped fields of view,
    dose masks, fractures of T12-L5 (the bodies the 20 points lie on),
    transitional anatomy."""
    out = {"whole T4-S1 view": [], "top edge through T7-T12": [], "bottom edge through L5-sacrum": [],
           "dose-masked rectangle": [], "fracture T12-L5": [], "transitional anatomy": []}
    for t in json.load(open(truth_path)):
        fov = t.get("fov", {})
        top, bottom = fov.get("crop_top", 0), fov.get("crop_bottom", 0)
        if not top and not bottom:
            out["whole T4-S1 view"].append(t["id"])
        if top:
            out["top edge through T7-T12"].append(t["id"])
        if bottom:
            out["bottom edge through L5-sacrum"].append(t["id"])
        if fov.get("dose_mask"):
            out["dose-masked rectangle"].append(t["id"])
        if any(v.get("fracture") for v in t["anatomy"]["vertebrae"][8:14]):
            out["fracture T12-L5"].append(t["id"])
        if t["anatomy"].get("transitional"):
            out["transitional anatomy"].append(t["id"])
    return out


def judge(rows, truth_dir, found_dir, spacing):
    """{id: (point errors in mm, levels named right, flagged), None for an
    error row} for the rows of a landmarks.csv, against the true .pts of
    truth_dir."""
    scans = {}
    for r in rows:
        if r["status"] == "error":
            scans[r["id"]] = None
            continue
        truth = read_pts(os.path.join(truth_dir, r["id"] + ".pts"))[:20]
        found = read_pts(os.path.join(found_dir, r["id"] + ".pts"))
        mm = spacing[r["id"]]
        tc, fc = centres(truth), centres(found)
        step = statistics.mean(math.dist(tc[k], tc[k + 1]) for k in range(3))
        ok = all(math.dist(f, t) < step / 2 for f, t in zip(fc, tc))
        scans[r["id"]] = ([math.dist(f, t) * mm for f, t in zip(found, truth)], ok, r["status"] == "flagged")
    return scans


def predict_pair(bundle, data, given, found_out):
    """`aac predict` on the cohort `data` with its true points (into `given`)
    and with none (into `found_out`), each skipped when done. Returns the
    seconds of the found run (None when done before) and the agreement
    (r, ICC, MAE) of each with the cohort's scores.csv."""
    if not os.path.exists(os.path.join(given, "scores.csv")):
        aac("predict", "--model", bundle, "--images", os.path.join(data, "images"),
            "--landmarks", os.path.join(data, "landmarks"), "--out", given, capture=True)
    secs = None
    if not os.path.exists(os.path.join(found_out, "scores.csv")):
        t0 = time.time()
        aac("predict", "--model", bundle, "--images", os.path.join(data, "images"), "--out", found_out, capture=True)
        secs = time.time() - t0
    ref = os.path.join(data, "scores.csv")
    return secs, agreement(ref, os.path.join(given, "scores.csv")), agreement(ref, os.path.join(found_out, "scores.csv"))


def agreement(ref, pred):
    a = json.loads(aac("agree", "--a", ref, "--b", pred, "--json", capture=True))
    return a["pearson"], a["icc_2_1"], a["mae"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-train", type=int, default=1000)
    p.add_argument("--n-test", type=int, default=200)
    p.add_argument("--work", default="/tmp/aac-landmarks")
    p.add_argument("--train", default=None, help="an existing training set")
    p.add_argument("--synth", default="", help="extra `aac synth` flags of the training set, e.g. \"--without burned_in\"")
    p.add_argument("--tests", default=",".join(s for s, _ in TESTS), help="test styles, comma-separated")
    p.add_argument("--levels-only", action="store_true",
                   help="only the finder's columns (skip the two predict runs): for finder experiments "
                        "with a throwaway U-net, e.g. -- --unet-width 2 --epochs 1")
    p.add_argument("extra", nargs="*")
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    w = lambda *x: os.path.join(a.work, *x)
    train = a.train or w("train")
    if not os.path.exists(os.path.join(train, "scores.csv")):
        aac("synth", "--n", a.n_train, "--seed", 1, "--out", train, "--force", *a.synth.split())
    bundle = w("bundle.aac")
    train_s = None
    if not os.path.exists(bundle):
        t0 = time.time()
        aac("train", "bundle", "--data", train, "--out", bundle, *a.extra)
        train_s = time.time() - t0
    print("| tested on | scans | median error (mm) | 95th pct (mm) | levels named right | flagged | wrongly named, not flagged | errors | AAC24 r given / found | ICC given / found | MAE given / found | landmarks + predict img/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    breakdown = []
    seeds = dict(TESTS)
    for style in a.tests.split(","):
        # STYLE or STYLE+FACTOR+...: the style with those factors added.
        base, *added = style.split("+")
        seed = seeds[base]
        test = w(f"test_{style}")
        if not os.path.exists(os.path.join(test, "scores.csv")):
            with_ = ["--with", ",".join(added)] if added else []
            aac("synth", "--n", a.n_test, "--seed", seed, "--style", base, *with_, "--out", test, "--force")
        spacing = {t["id"]: t["spacing_mm"] for t in json.load(open(os.path.join(test, "truth.json")))}
        found_dir = w(f"found_{style}")
        if not os.path.exists(os.path.join(found_dir, "landmarks.csv")):
            aac("landmarks", "--model", bundle, "--images", os.path.join(test, "images"), "--out", found_dir)
        rows = list(csv.DictReader(open(os.path.join(found_dir, "landmarks.csv"), newline="")))
        scans = judge(rows, os.path.join(test, "landmarks"), found_dir, spacing)
        q, right, flagged, wrong_unflagged, failed = summary(scans)
        for kind, ids in kinds(os.path.join(test, "truth.json")).items():
            if ids and len(ids) < len(scans):
                breakdown.append((style, kind, len(ids), summary({i: scans[i] for i in ids if i in scans})))
        if a.levels_only:
            n = len(rows)
            print(f"| {style} | {n} | {q(0.5):.2f} | {q(0.95):.2f} | {right}/{n - failed} | {flagged} | {wrong_unflagged} | {failed} | - | - | - | - |")
            continue
        given, found_out = w(f"pred_given_{style}"), w(f"pred_found_{style}")
        secs, (rg, ig, mg), (rf, i_f, mf) = predict_pair(bundle, test, given, found_out)
        n = len(rows)
        print(f"| {style} | {n} | {q(0.5):.2f} | {q(0.95):.2f} | {right}/{n - failed} | {flagged} | {wrong_unflagged} | {failed} "
              f"| {rg:.3f} / {rf:.3f} | {ig:.3f} / {i_f:.3f} | {mg:.2f} / {mf:.2f} | {'-' if secs is None else f'{n / secs:.1f}'} |")
    if breakdown:
        print("\n| tested on | scans | kind | median error (mm) | 95th pct (mm) | levels named right | flagged | wrongly named, not flagged | errors |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for style, kind, n, (q, right, flagged, wrong_unflagged, failed) in breakdown:
            print(f"| {style} | {n} | {kind} | {q(0.5):.2f} | {q(0.95):.2f} | {right}/{n - failed} | {flagged} | {wrong_unflagged} | {failed} |")
    if train_s is not None:
        print(f"\nbundle training: {train_s / 60:.1f} min")


if __name__ == "__main__":
    main()
