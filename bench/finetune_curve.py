#!/usr/bin/env python3
"""Fine-tuning's learning curve: `aac train bundle --init` on N annotated scans
of a style, measured on 200 other scans of it.

For each style, 300 scans are drawn (own seed): the first 100 are the site's
pool, the last 200 the test. For N = 0 (the bundle as it is), 10, 25, 50 and
100 the bundle is fine-tuned on the pool's first N (default schedule) and
tested: AAC24 against the annotation-derived truth with the true points
given (MAE, Pearson r, ICC(2,1), sub-score weighted kappa, per-wall totals) and the
levels named right by its finder (a scan's levels are wrong when a found
L1-L4 body centre lies more than half a vertebra from the true one). Prints
one Markdown table (docs/adapt.md) with each fine-tuning's wall-clock time.

    cargo build --release
    python3 bench/finetune_curve.py --model model.aac [--styles legacy,biobank]
        [--work /tmp/aac-finetune]

A style may name factors it does not draw (`biobank+aortic_shadow`, as in
bench/calibration_curve.py). The style `foreign` draws its 300 scans with bench/foreign_vfa.py (the
second generator, seed 78) instead of `aac synth`.

Set AAC_BIN to use another aac binary. Steps already done in --work are kept.
"""

import argparse
import json
import math
import os
import statistics
import time

from aac_bench import aac
from calibration_curve import SEEDS, subset, rows, SUBS, synth_style
from landmarks_held_out import read_pts, centres

SEEDS = dict(SEEDS, legacy=75, biobank=76, ectatic=77, foreign=78)


def levels_right(test, found_dir):
    right = n = 0
    for r in rows(os.path.join(found_dir, "landmarks.csv")).values():
        n += 1
        if r["status"] == "error":
            continue
        truth = read_pts(os.path.join(test, "landmarks", r["id"] + ".pts"))[:20]
        found = read_pts(os.path.join(found_dir, r["id"] + ".pts"))
        tc, fc = centres(truth), centres(found)
        step = statistics.mean(math.dist(tc[k], tc[k + 1]) for k in range(3))
        right += all(math.dist(f, t) < step / 2 for f, t in zip(fc, tc))
    return right, n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--styles", default="legacy,biobank")
    ap.add_argument("--work", default="/tmp/aac-finetune")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    w = lambda *x: os.path.join(a.work, *x)
    print("| style | site scans | AAC24 MAE | Pearson r | ICC(2,1) | sub-score kappa | anterior total | posterior total | levels named right | fine-tuning time (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for style in a.styles.split(","):
        data = w(f"data_{style}")
        if style == "foreign" and not os.path.exists(os.path.join(data, "scores.csv")):
            import foreign_vfa
            foreign_vfa.make(data, 300, SEEDS[style])
        elif not os.path.exists(os.path.join(data, "scores.csv")):
            args, seed = synth_style(style, SEEDS)
            aac("synth", "--n", 300, "--seed", seed, *args, "--out", data, "--force")
        ids = sorted(rows(os.path.join(data, "scores.csv")))
        pool, test_ids = ids[:100], set(ids[100:])
        test = subset(data, test_ids, w(f"test_{style}"))
        for n in [0, 10, 25, 50, 100]:
            model, secs = a.model, None
            if n:
                site = subset(data, set(pool[:n]), w(f"site_{style}_{n}"))
                masks = os.path.join(site, "masks")
                os.makedirs(masks, exist_ok=True)
                for i in pool[:n]:
                    link = os.path.join(masks, i + ".png")
                    if not os.path.exists(link):
                        os.symlink(os.path.join(data, "masks", i + ".png"), link)
                model = w(f"site_{style}_{n}.aac")
                if not os.path.exists(model):
                    t0 = time.time()
                    aac("train", "bundle", "--init", a.model, "--data", site, "--out", model, capture=True)
                    secs = time.time() - t0
            out = w(f"pred_{style}_{n}")
            if not os.path.exists(os.path.join(out, "scores.csv")):
                aac("predict", "--model", model, "--images", os.path.join(test, "images"),
                    "--landmarks", os.path.join(test, "landmarks"), "--out", out, capture=True)
            found = w(f"found_{style}_{n}")
            if not os.path.exists(os.path.join(found, "landmarks.csv")):
                aac("landmarks", "--model", model, "--images", os.path.join(test, "images"), "--out", found,
                    capture=True)
            ag = json.loads(aac("agree", "--a", os.path.join(test, "scores.csv"), "--b",
                                os.path.join(out, "scores.csv"), "--json", capture=True))
            sub = ag["subscores"]
            rel = lambda tot: f"{(tot[1] / max(tot[0], 1) - 1) * 100:+.0f}%"
            right, total = levels_right(test, found)
            f = lambda v, spec: "-" if v is None else format(v, spec)
            print(f"| {style} | {n} | {ag['mae']:.2f} | {ag['pearson']:.3f} | {ag['icc_2_1']:.3f} | {sub['kappa_linear']:.3f} | "
                  f"{rel(sub['anterior_total'])} | {rel(sub['posterior_total'])} | {right}/{total} | {f(secs, '.0f')} |",
                  flush=True)


if __name__ == "__main__":
    main()
