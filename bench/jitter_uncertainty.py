"""A trial for issue 35's uncertainty (docs/review.md): does the disagreement
of a few jittered warps order a reader's queue better than `predict`'s
`uncertainty` column? Each scan's found points are moved K times (`ind`:
every point by its own Gaussian, SD 4% of the L1 body's height; `rigid`: all
points together, SD 8%, plus 1.5% each), each copy is warped and segmented
again (the `uncertainty_features` example), and the share of the copies
whose AAC24 category differs from the scan's is added to the column.

    cargo build --release -p aac-pipeline --example uncertainty_features
    python3 bench/jitter_uncertainty.py --model MODEL.aac --work DIR \
        [--styles hologic,lunar,biobank] [--k 4] [--weight 0.5]

DIR/test_S is a cohort of `aac synth` (made with seed 96/95/94 as in
bench/landmarks_held_out.py when missing) and DIR/unc_S its `aac predict`
output (made when missing). Prints a markdown table: wrong categories in
the 10% most uncertain and the accuracy of the other 90%, by the column
alone, by the jitter alone and by both; and the category accuracy of the
jittered scores' mean, as an ensemble.
"""

import argparse
import csv
import os
import random
import subprocess

from aac_bench import ROOT, aac
from landmarks_held_out import read_pts
from uncertainty import category, figures, read

SEEDS = {"hologic": 96, "lunar": 95, "biobank": 94, "random": 99}
EXAMPLE = os.environ.get(
    "AAC_FEATURES", os.path.join(ROOT, "target", "release", "examples", "uncertainty_features")
)


def write_pts(path, pts):
    with open(path, "w") as f:
        f.write(f"version: 1\nn_points: {len(pts)}\n{{\n")
        for x, y in pts:
            f.write(f"{x:.3f} {y:.3f}\n")
        f.write("}\n")


def jittered(pts, kind, rng):
    h = ((pts[0][0] - pts[3][0]) ** 2 + (pts[0][1] - pts[3][1]) ** 2) ** 0.5
    if kind == "ind":
        return [(x + rng.gauss(0, 0.04 * h), y + rng.gauss(0, 0.04 * h)) for x, y in pts]
    dx, dy = rng.gauss(0, 0.08 * h), rng.gauss(0, 0.08 * h)
    return [(x + dx + rng.gauss(0, 0.015 * h), y + dy + rng.gauss(0, 0.015 * h)) for x, y in pts]


def scores_at(model, images, points, out):
    if not os.path.exists(os.path.join(out, "features.csv")):
        subprocess.run([EXAMPLE, model, images, points, out], check=True, stderr=subprocess.DEVNULL)
        for f in os.listdir(out):
            if f.endswith(".f32"):
                os.remove(os.path.join(out, f))
    return {i: int(r["aac24"]) for i, r in read(os.path.join(out, "features.csv")).items()}


def ranked(pred, truth, u):
    rows = [dict(r, uncertainty=u[i]) for i, r in pred.items() if i in u]
    f = figures({r["id"]: r for r in rows}, truth)
    return f"{f['caught']} ({100 * f['caught_share']:.0f}%) / {f['rest_acc']:.3f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--styles", default="hologic,lunar,biobank")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--weight", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    print("| style | wrong | column | jitter (kind) | column + jitter | category accuracy: nominal / jittered mean |")
    print("|---|---|---|---|---|---|")
    for style in a.styles.split(","):
        test = os.path.join(a.work, f"test_{style}")
        if not os.path.isdir(test):
            aac("synth", "--n", 200, "--seed", SEEDS.get(style, 41), "--style", style, "--out", test)
        out = os.path.join(a.work, f"unc_{style}")
        if not os.path.exists(os.path.join(out, "scores.csv")):
            aac("predict", "--model", a.model, "--images", os.path.join(test, "images"), "--out", out)
        pred = {i: r for i, r in read(os.path.join(out, "scores.csv")).items() if r["status"] != "error"}
        truth = read(os.path.join(test, "scores.csv"))
        column = {i: float(r["uncertainty"] or 0) for i, r in pred.items()}
        wrong = sum(category(int(r["aac24"])) != category(int(truth[i]["aac24"])) for i, r in pred.items())
        for kind in ("ind", "rigid"):
            rng = random.Random(a.seed)
            runs = []
            for k in range(a.k):
                d = os.path.join(a.work, f"jitter_{style}_{kind}_{k}")
                os.makedirs(os.path.join(d, "pts"), exist_ok=True)
                for i in sorted(pred):
                    pts = read_pts(os.path.join(out, "points", f"{i}.pts"))
                    write_pts(os.path.join(d, "pts", f"{i}.pts"), jittered(pts, kind, rng))
                runs.append(scores_at(a.model, os.path.join(test, "images"), os.path.join(d, "pts"), os.path.join(d, "out")))
            changes, mean_right = {}, 0
            for i, r in pred.items():
                s = int(r["aac24"])
                js = [run[i] for run in runs if i in run]
                changes[i] = sum(category(x) != category(s) for x in js) / max(1, len(js))
                mean = round(sum(js + [s]) / (len(js) + 1))
                mean_right += category(mean) == category(int(truth[i]["aac24"]))
            both = {i: column[i] + a.weight * changes[i] for i in pred}
            acc = 1 - wrong / len(pred)
            print(
                f"| {style} | {wrong} | {ranked(pred, truth, column)} | {ranked(pred, truth, changes)} ({kind}) | "
                f"{ranked(pred, truth, both)} | {acc:.3f} / {mean_right / len(pred):.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
