#!/usr/bin/env python3
"""Does photometric augmentation help a U-net trained on one scanner score another's?

Trains two 2-class U-nets on the same synthetic cohort of one style (hologic by
default), one with and one without photometric augmentation (same seed, same
budget), and the random forest baseline on the same images, then scores new
cohorts of every style with each: held-out Dice of the predicted masks against
the ground truth (in warped space, predicted aorta) and AAC24 agreement with the
ground-truth scores.

    cargo build --release
    python3 bench/cross_style.py [--train-style hologic] [--n-train 200] [--n-test 60]
                                 [--epochs 3] [--width 8] [--work /tmp/aac-cross-style]

Set AAC_BIN to use another aac binary. Steps already done in --work are kept.
Prints a Markdown table; docs/segmentation.md records the figures.
"""

import argparse
import json
import os
import sys
import time

from aac_bench import AAC, aac

STYLES = ["hologic", "lunar", "legacy"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train-style", default="hologic", choices=STYLES)
    p.add_argument("--n-train", type=int, default=200)
    p.add_argument("--n-test", type=int, default=60)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--augment", type=int, default=1)
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--work", default="/tmp/aac-cross-style")
    a = p.parse_args()
    if not os.path.exists(AAC):
        sys.exit(f"{AAC} is missing: run `cargo build --release` first")
    os.makedirs(a.work, exist_ok=True)
    w = lambda *parts: os.path.join(a.work, *parts)  # noqa: E731

    train = w(f"train-{a.train_style}")
    if not os.path.exists(train):
        aac("synth", "--n", a.n_train, "--seed", 11, "--style", a.train_style,
            "--calcified-only", "--out", train)
    ssm = w("ssm.json")
    if not os.path.exists(ssm):
        aac("ssm", "fit", "--data", train, "--out", ssm)

    models, train_s = {}, {}
    for photometric in (True, False):
        name = "with" if photometric else "without"
        model = w(f"unet-{name}.model")
        if not os.path.exists(model):
            t = time.time()
            aac("train", "unet", "--data", train, "--ssm", ssm, "--classes", 2,
                "--width", a.width, "--epochs", a.epochs, "--augment", a.augment,
                "--lr", a.lr, "--seed", 1, "--out", model,
                *([] if photometric else ["--no-photometric"]))
            train_s[name] = time.time() - t
        models[name] = model

    # The paper's baseline (binary, as in the demo), trained on the same
    # images (warped with the annotated aorta); no photometric augmentation.
    rf = w("rf.model")
    if not os.path.exists(rf):
        train_warped = w(f"train-{a.train_style}-warped")
        if not os.path.exists(train_warped):
            aac("warp", "--data", train, "--ssm", ssm, "--out", train_warped)
        aac("train", "rf", "--data", train_warped, "--classes", 1, "--seed", 1, "--out", rf)
    models["random forest"] = rf

    rows = []
    for i, style in enumerate(STYLES):
        test = w(f"test-{style}")
        warped = w(f"test-{style}-warped")
        if not os.path.exists(test):
            aac("synth", "--n", a.n_test, "--seed", 100 + i, "--style", style,
                "--calcified-only", "--out", test)
        if not os.path.exists(warped):
            aac("warp", "--data", test, "--ssm", ssm, "--out", warped)
        for name, model in models.items():
            tag = name.replace(" ", "-")
            pred = f"pred-{tag}"
            aac("segment", "--model", model, "--data", warped, "--out", os.path.join(warped, pred))
            scores = os.path.join(warped, f"scores-{tag}.csv")
            aac("score", "--data", warped, "--masks", os.path.join(warped, pred, "masks"),
                "--out", scores)
            cmp = json.loads(aac("compare", "--data", warped, "--a", "masks",
                                 "--b", os.path.join(pred, "masks"), "--json", capture=True))
            agr = json.loads(aac("agree", "--a", os.path.join(test, "scores.csv"), "--b", scores,
                                 "--col", "aac24", "--json", capture=True))
            dice = cmp["summary"]["union"]["dice"]
            rows.append((style, name, dice, agr))

    print(f"\nTrained on {a.n_train} {a.train_style} images (width {a.width}, {a.epochs} epochs x "
          f"{a.augment} warps, lr {a.lr}); tested on {a.n_test} new images per style.")
    if train_s:
        print("Training time: " + ", ".join(f"{k} photometric {v:.0f} s" for k, v in train_s.items()))
    print("\n| test style | model | Dice (mean ± SD) | AAC24 R² | Pearson r | "
          "ICC(2,1) | MAE | category accuracy |")
    print("|---|---|---|---|---|---|---|---|")
    for style, name, dice, agr in rows:
        r2 = (agr.get("linear") or {}).get("r2")
        fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        d = "-" if dice is None else f"{dice['mean']:.3f} ± {dice['sd']:.3f}"
        same = " (same style)" if style == a.train_style else ""
        model = name if name == "random forest" else f"U-net, {name} photometric"
        print(f"| {style}{same} | {model} | {d} | {fmt(r2)} | {fmt(agr.get('pearson'))} | "
              f"{fmt(agr.get('icc_2_1'))} | {fmt(agr.get('mae'))} | "
              f"{fmt(agr.get('category_accuracy'))} |")


if __name__ == "__main__":
    main()
