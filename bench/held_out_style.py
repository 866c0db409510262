#!/usr/bin/env python3
"""The held-out-style yardstick: train without a style, test on it.

For each named style S (hologic, lunar, legacy) a default bundle is trained on
the other two named styles (N/2 images each) and tested on a new cohort of S;
and a bundle trained on N images of the default `random` style is tested on
every named style. Each test cohort has its own seed, so no test image was
seen in training. Prints one Markdown table with the goal's metrics
(issue 13): AAC24 Pearson r, ICC(2,1), MAE, 3-class accuracy (established
groups), sub-score weighted kappa, the share of AAC24 = 0 scans scored >= 2,
anterior and posterior totals (truth -> predicted), and the training time.

    cargo build --release
    python3 bench/held_out_style.py [--n-train 300] [--n-test 60]
        [--work /tmp/aac-held-out] [--only random] [-- extra train-bundle flags]

Set AAC_BIN to use another aac binary. Steps already done in --work are kept
(delete a bundle to retrain it). docs/segmentation.md records the figures.
"""

import argparse
import csv
import json
import os
import shutil
import sys
import time

from aac_bench import aac

NAMED = ["hologic", "lunar", "legacy"]
TEST_SEEDS = {"hologic": 99, "lunar": 98, "legacy": 97}


def synth(out, n, seed, style):
    if not os.path.exists(os.path.join(out, "scores.csv")):
        aac("synth", "--n", n, "--seed", seed, "--style", style, "--out", out, "--force")
    return out


def merged(out, parts):
    """One dataset from several synthetic ones, ids prefixed by their style."""
    if os.path.exists(os.path.join(out, "scores.csv")):
        return out
    for sub in ["images", "landmarks", "masks", "masks2"]:
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    rows, header = [], None
    for prefix, src in parts:
        for sub in ["images", "landmarks", "masks", "masks2"]:
            d = os.path.join(src, sub)
            for name in os.listdir(d) if os.path.isdir(d) else []:
                shutil.copy(os.path.join(d, name), os.path.join(out, sub, f"{prefix}_{name}"))
        with open(os.path.join(src, "scores.csv"), newline="") as f:
            r = csv.reader(f)
            header = next(r)
            rows += [[f"{prefix}_{row[0]}", *row[1:]] for row in r]
    with open(os.path.join(out, "scores.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return out


def train(data, bundle, extra):
    if os.path.exists(bundle):
        return None
    t0 = time.time()
    aac("train", "bundle", "--data", data, "--out", bundle, *extra)
    return time.time() - t0


def evaluate(bundle, test, out):
    if not os.path.exists(os.path.join(out, "scores.csv")):
        aac("predict", "--model", bundle, "--images", os.path.join(test, "images"),
            "--landmarks", os.path.join(test, "landmarks"), "--out", out, capture=True)
    ref, pred = os.path.join(test, "scores.csv"), os.path.join(out, "scores.csv")
    a = json.loads(aac("agree", "--a", ref, "--b", pred, "--json", capture=True))
    truth = {r["id"]: r for r in csv.DictReader(open(ref, newline=""))}
    scored = {r["id"]: r for r in csv.DictReader(open(pred, newline="")) if r["aac24"] != ""}
    zeros = [i for i, r in truth.items() if int(float(r["aac24"])) == 0 and i in scored]
    false_pos = sum(1 for i in zeros if int(scored[i]["aac24"]) >= 2)
    walls = {}
    for wall in ["ant", "post"]:
        cols = [f"l{k}_{wall}" for k in range(1, 5)]
        walls[wall] = (
            sum(int(float(truth[i][c])) for i in scored for c in cols),
            sum(int(scored[i][c]) for i in scored for c in cols),
        )
    return {
        "r": a["pearson"], "icc": a["icc_2_1"], "mae": a["mae"],
        "acc": a["category_accuracy"], "kappa_sub": a["subscores"]["kappa_linear"],
        "fp0": (false_pos, len(zeros)), "walls": walls, "n": a["n"],
        "errors": sum(1 for r in csv.DictReader(open(pred, newline="")) if r["status"] == "error"),
    }


def fmt(v, d=3):
    return "-" if v is None else f"{v:.{d}f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-train", type=int, default=300)
    p.add_argument("--n-test", type=int, default=60)
    p.add_argument("--work", default="/tmp/aac-held-out")
    p.add_argument("--only", choices=["random", "held-out"], default=None)
    p.add_argument("extra", nargs="*", help="extra flags for `aac train bundle`")
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    w = lambda *x: os.path.join(a.work, *x)
    tests = {s: synth(w(f"test_{s}"), a.n_test, TEST_SEEDS[s], s) for s in NAMED}
    runs = []  # (trained on, bundle, test styles)
    if a.only != "held-out":
        data = synth(w("train_random"), a.n_train, 1, "random")
        runs.append(("random", data, NAMED))
    if a.only != "random":
        half = a.n_train // 2
        for s in NAMED:
            others = [o for o in NAMED if o != s]
            # Each style its own seed: the same seed would give the same
            # anatomy and calcification under two looks.
            parts = [(o, synth(w(f"train_{o}"), half, 1 + NAMED.index(o), o)) for o in others]
            runs.append((" + ".join(others), merged(w(f"train_without_{s}"), parts), [s]))
    print("| trained on | tested on | r | ICC | MAE | 3-class acc | sub-score κw "
          "| AAC24=0 scored ≥2 | anterior (truth → pred) | posterior | errors | train s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, data, styles in runs:
        bundle = w(f"bundle_{os.path.basename(data)}.aac")
        secs = train(data, bundle, a.extra)
        for s in styles:
            m = evaluate(bundle, tests[s], w(f"pred_{os.path.basename(data)}_{s}"))
            fp, nz = m["fp0"]
            (ta, pa), (tp, pp) = m["walls"]["ant"], m["walls"]["post"]
            print(f"| {name} | {s} | {fmt(m['r'])} | {fmt(m['icc'])} | {fmt(m['mae'], 2)} "
                  f"| {fmt(m['acc'])} | {fmt(m['kappa_sub'])} | {fp}/{nz} "
                  f"| {ta} → {pa} | {tp} → {pp} | {m['errors']} | {fmt(secs, 0) if secs else 'kept'} |",
                  flush=True)


if __name__ == "__main__":
    main()
