#!/usr/bin/env python3
"""U-net speed: burn (flex CPU backend) against Keras/TensorFlow-CPU, same machine, one run.

For each width, one process per framework (so peak memory belongs to that run alone)
times a training step (forward, binary cross-entropy, backward, Adam; batch 4) and
inference of a batch of 4 and of one image, input 1 x 256 x 128, 2 output classes,
median of REPS after a warm-up; the whole comparison is run RUNS times (default 3)
and the table gives the median and range over runs (these VMs vary from minute to
minute). Time ratios below 1 mean burn is faster.

    pip install tensorflow-cpu numpy
    python3 bench/unet_vs_keras.py            # widths 16 and 64
    python3 bench/unet_vs_keras.py 8 16 32 64    # other widths

Prints a Markdown table; docs/segmentation.md records the figures.
"""

import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BURN_BIN = os.path.join(ROOT, "target", "release", "examples", "unet_bench")


def run_json(cmd):
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        sys.exit(f"no result from {' '.join(cmd)}:\n{out}")
    return json.loads(lines[-1])


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    widths = [int(a) for a in sys.argv[1:]] or [16, 64]
    reps = os.environ.get("REPS", "3")
    subprocess.run(
        ["cargo", "build", "--release", "-p", "aac-unet", "--example", "unet_bench"],
        cwd=ROOT, check=True,
    )
    runs = int(os.environ.get("RUNS", "3"))
    # Whole runs alternate between the frameworks so that a slow minute on
    # the VM falls on both; each figure is the median over runs, with the
    # range beside it.
    results = {w: {"burn": [], "keras": []} for w in widths}
    for run in range(runs):
        for width in widths:
            burn = run_json([BURN_BIN, "--json", str(width)])
            keras = run_json([sys.executable, os.path.join(ROOT, "bench", "keras_unet.py"),
                              str(width), reps])
            results[width]["burn"].append(burn)
            results[width]["keras"].append(keras)
            print(f"run {run + 1}/{runs} width {width}: burn {burn['train_step_s']:.3f} s/step, "
                  f"keras {keras['train_step_s']:.3f} s/step", file=sys.stderr)
    framework = results[widths[0]]["keras"][0]["framework"]
    print(f"\n{cpu_name()}, {os.cpu_count()} logical CPUs; 1 x 256 x 128, 2 classes; "
          f"median of {reps} repetitions per run, median [min-max] of {runs} runs; {framework}\n")
    print("| width | framework | train step, batch 4 (s) | inference, batch 4 (s) | "
          "inference, batch 1 (s) | peak RSS (MiB) | train / Keras | infer 4 / Keras | "
          "infer 1 / Keras |")
    print("|---|---|---|---|---|---|---|---|---|")
    keys = ("train_step_s", "infer_batch_s", "infer_one_s")
    med = lambda v: sorted(v)[len(v) // 2]
    for width in widths:
        k = {key: med([r[key] for r in results[width]["keras"]]) for key in keys}
        for name, side in (("burn flex", "burn"), ("Keras/TF-CPU", "keras")):
            rs = results[width][side]
            cells = []
            for key in keys:
                v = [r[key] for r in rs]
                cells.append(f"{med(v):.3f} [{min(v):.3f}-{max(v):.3f}]")
            ratios = " | ".join(f"{med([r[key] for r in rs]) / k[key]:.2f}" for key in keys)
            print(f"| {width} | {name} | {' | '.join(cells)} | "
                  f"{max(r['peak_rss_mib'] for r in rs):.0f} | {ratios} |")

if __name__ == "__main__":
    main()
