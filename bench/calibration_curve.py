#!/usr/bin/env python3
"""Calibration's learning curve: `aac calibrate` on N reader-scored scans of a
style, measured on 200 other scans of it.

The reader is the annotation-derived truth of the synthetic cohort
(scores.csv: AAC24 and the 8 sub-scores), or with --reader liberal or
conservative a simulated reader who differs from it systematically
(`crates/aac-synth/examples/reader_scores.rs`: reads deposits 30% longer and
sees the faintest, or misses deposits fainter than 0.08 and reads the others
20% shorter). For each test style, 400 scans are
drawn (own seed): the first 200 are the calibration pool, the other 200 the
test. For N = 20, 50, 100, 200 the bundle is calibrated on the pool's first N
(true points given) and scores the test scans (true points given); the row
"0" is the bundle as it is. Prints one Markdown table (docs/adapt.md):
AAC24 MAE, Pearson r, ICC(2,1), the sub-score weighted kappa and the
anterior and posterior totals against the reader's, the levels the base's
finder names right (calibration does not change the finder), the
thresholds and length factors chosen and calibrate's wall-clock time.

    cargo build --release
    cargo build --release -p aac-synth --example reader_scores   # for --reader
    python3 bench/calibration_curve.py --model model.aac [--styles lunar,biobank]
        [--reader truth|liberal|conservative] [--work /tmp/aac-calibration]

A style may name factors it does not draw (`biobank+aortic_shadow`: the
same scans as `biobank`'s with the factor added, a site showing what the
bundle never saw in training). The style `foreign` draws its 400 scans with bench/foreign_vfa.py (the
second generator, seed 79; the truth reader only). Set AAC_BIN to use
another aac binary. Steps already done in --work are kept.
"""

import argparse
import csv
import json
import os
import subprocess
import time

from aac_bench import aac

SEEDS = {"hologic": 71, "lunar": 72, "legacy": 73, "biobank": 74, "foreign": 79}


def synth_style(style, seeds):
    """`aac synth` arguments and seed for a style name, which may add
    factors the style does not draw (`biobank+aortic_shadow`: a site whose
    scans show a factor left out of training). The seed is the plain
    style's, so the same patients are drawn with the factor added."""
    base, *factors = style.split("+")
    args = ["--style", base] + (["--with", ",".join(factors)] if factors else [])
    return args, seeds[base]
SUBS = ["l1_ant", "l1_post", "l2_ant", "l2_post", "l3_ant", "l3_post", "l4_ant", "l4_post"]


def rows(path):
    return {r["id"]: r for r in csv.DictReader(open(path, newline=""))}


def subset(src, ids, dst, scores=None):
    """A dataset view: images/ and landmarks/ linked for `ids`, the reader's
    table `scores` (default: the dataset's own) cut to them as its scores.csv."""
    for sub in ["images", "landmarks"]:
        os.makedirs(os.path.join(dst, sub), exist_ok=True)
        for f in os.listdir(os.path.join(src, sub)):
            if os.path.splitext(f)[0] in ids:
                link = os.path.join(dst, sub, f)
                if not os.path.exists(link):
                    os.symlink(os.path.join(src, sub, f), link)
    table = rows(scores or os.path.join(src, "scores.csv"))
    with open(os.path.join(dst, "scores.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "aac24", *SUBS])
        w.writeheader()
        for i in sorted(ids):
            w.writerow({k: table[i][k] for k in ["id", "aac24", *SUBS]})
    return dst


def measure(truth, pred):
    t, p = rows(truth), rows(pred)
    ids = [i for i in t if i in p and p[i].get("status") != "error"]
    a = json.loads(aac("agree", "--a", truth, "--b", pred, "--json", capture=True))
    tot = lambda table, wall: sum(int(table[i][s]) for i in ids for s in SUBS if s.endswith(wall))
    rel = lambda wall: (tot(p, wall) / max(tot(t, wall), 1) - 1) * 100
    return a["mae"], a["pearson"], a["icc_2_1"], a["subscores"]["kappa_linear"], rel("ant"), rel("post")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--styles", default="lunar,biobank")
    ap.add_argument("--work", default="/tmp/aac-calibration")
    ap.add_argument("--reader", default="truth", choices=["truth", "liberal", "conservative"])
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    w = lambda *x: os.path.join(a.work, *x)
    print("| style | reader-scored scans | AAC24 MAE | Pearson r | ICC(2,1) | sub-score kappa | anterior total vs reader | posterior total vs reader | levels named right (the base's finder) | thresholds (ant / post), length factors | calibrate time (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for style in a.styles.split(","):
        data = w(f"data_{style}")
        if style == "foreign" and not os.path.exists(os.path.join(data, "scores.csv")):
            import foreign_vfa
            foreign_vfa.make(data, 400, SEEDS[style])
        elif not os.path.exists(os.path.join(data, "scores.csv")):
            args, seed = synth_style(style, SEEDS)
            aac("synth", "--n", 400, "--seed", seed, *args, "--out", data, "--force")
        reader = os.path.join(data, "scores.csv")
        if a.reader != "truth":
            reader = w(f"reader_{style}_{a.reader}.csv")
            if not os.path.exists(reader):
                binary = os.environ.get("AAC_READER_BIN", "target/release/examples/reader_scores")
                out = subprocess.run([binary, style, str(SEEDS[style]), "400", a.reader],
                                     check=True, capture_output=True, text=True).stdout
                open(reader, "w").write(out)
        ids = sorted(rows(reader))
        pool, test_ids = ids[:200], set(ids[200:])
        test = subset(data, test_ids, w(f"test_{style}"), reader)
        # Calibration leaves the finder as it is: the base's naming holds for every row.
        found = w(f"found_{style}")
        if not os.path.exists(os.path.join(found, "landmarks.csv")):
            aac("landmarks", "--model", a.model, "--images", os.path.join(test, "images"), "--out", found,
                capture=True)
        from finetune_curve import levels_right
        right, total = levels_right(test, found)
        for n in [0, 20, 50, 100, 200]:
            model, secs, thr = a.model, None, "-"
            if n:
                cal = subset(data, set(pool[:n]), w(f"pool_{style}_{n}"), reader)
                model = w(f"cal_{style}_{n}.aac")
                if not os.path.exists(model):
                    t0 = time.time()
                    aac("calibrate", "--model", a.model, "--images", os.path.join(cal, "images"),
                        "--landmarks", os.path.join(cal, "landmarks"),
                        "--scores", os.path.join(cal, "scores.csv"), "--out", model, capture=True)
                    secs = time.time() - t0
                header = json.loads(open(model, "rb").read().split(b"\n")[1])
                thr = "{:.2f} / {:.2f}".format(*header["wall_thresholds"])
                scales = header.get("length_scales") or [1.0, 1.0]
                thr += ", lengths x{:.2f} / x{:.2f}".format(*scales)
            out = w(f"pred_{style}_{n}")
            if not os.path.exists(os.path.join(out, "scores.csv")):
                aac("predict", "--model", model, "--images", os.path.join(test, "images"),
                    "--landmarks", os.path.join(test, "landmarks"), "--out", out, capture=True)
            mae, r, icc, kappa, ant, post = measure(os.path.join(test, "scores.csv"), os.path.join(out, "scores.csv"))
            f = lambda v, spec: "-" if v is None else format(v, spec)
            print(f"| {style} | {n} | {f(mae, '.2f')} | {f(r, '.3f')} | {f(icc, '.3f')} | {f(kappa, '.3f')} | {ant:+.0f}% | {post:+.0f}% "
                  f"| {right}/{total} | {thr} | {f(secs, '.0f')} |", flush=True)


if __name__ == "__main__":
    main()
