#!/usr/bin/env python3
"""Random forest benchmark: ours vs scikit-learn on the same feature matrix.

Usage (from the repository root):
    pip install scikit-learn numpy
    aac synth --n 200 --seed 42 --out /tmp/c200
    aac ssm fit --data /tmp/c200 --out /tmp/ssm.json
    aac warp --data /tmp/c200 --ssm /tmp/ssm.json --out /tmp/w200
    aac train rf --data /tmp/w200 --out /tmp/rf.model --export-features /tmp/rf-features
    python3 bench/rf_vs_sklearn.py /tmp/rf-features

Both forests use the paper's settings (10 trees) with max depth 18, minimum
leaf 5, sqrt(features) per split, bootstrap; every fifth row is held out, the
rest train. Prints a Markdown table.
"""
import json
import os
import subprocess
import sys
import time

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score


def main():
    d = sys.argv[1]
    shape = json.load(open(os.path.join(d, "shape.json")))
    x = np.fromfile(os.path.join(d, "features.f32"), dtype="<f4").reshape(shape["rows"], shape["cols"])
    y = (np.fromfile(os.path.join(d, "labels.u8"), dtype=np.uint8) > 0).astype(np.uint8)
    # Every 5th sample is held out (rows are grouped by class, so no contiguous split).
    held = np.arange(x.shape[0]) % 5 == 4
    xt, yt, xh, yh = x[~held], y[~held], x[held], y[held]
    rf = RandomForestClassifier(n_estimators=10, max_depth=18, min_samples_leaf=5, max_features="sqrt", n_jobs=-1, random_state=1)
    t = time.perf_counter()
    rf.fit(xt, yt)
    train_s = time.perf_counter() - t
    p = rf.predict_proba(xh)[:, 1]
    acc = float(((p >= 0.5) == (yh > 0)).mean())
    auc = float(roc_auc_score(yh, p))
    roi = np.resize(xh, (128 * 256, x.shape[1]))
    t = time.perf_counter()
    rf.predict_proba(roi)
    predict_s = time.perf_counter() - t
    ours = json.loads(subprocess.check_output(["cargo", "run", "--release", "-q", "-p", "aac-rf", "--example", "rf_matrix_bench", "--", d]))
    print(f"{x.shape[0]} samples x {x.shape[1]} features; {os.cpu_count()} cores")
    print("| forest | training (s) | one 128x256 ROI from features (s) | held-out accuracy | held-out AUC |")
    print("|---|---|---|---|---|")
    print(f"| aac (Rust) | {ours['train_s']:.2f} | {ours['predict_roi_s']:.3f} | {ours['accuracy']:.4f} | {ours['auc']:.4f} |")
    print(f"| scikit-learn {__import__('sklearn').__version__} | {train_s:.2f} | {predict_s:.3f} | {acc:.4f} | {auc:.4f} |")


if __name__ == "__main__":
    main()
