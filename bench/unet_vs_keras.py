#!/usr/bin/env python3
"""U-net speed: burn (flex CPU backend) against Keras/TensorFlow-CPU, same machine, one run.

For each width, one process per framework (so peak memory belongs to that run alone)
times a training step (forward, binary cross-entropy, backward, Adam) and an inference
batch, batch 4, input 1 x 256 x 128, 2 output classes, median of REPS after a warm-up.

    pip install tensorflow-cpu numpy
    python3 bench/unet_vs_keras.py            # widths 16 and 64
    python3 bench/unet_vs_keras.py 8 16 64    # other widths

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
    rows = []
    for width in widths:
        burn = run_json([BURN_BIN, "--json", str(width)])
        keras = run_json([sys.executable, os.path.join(ROOT, "bench", "keras_unet.py"),
                          str(width), reps])
        rows.append((width, burn, keras))
        print(f"width {width}: burn {burn['train_step_s']:.3f} s/step, "
              f"keras {keras['train_step_s']:.3f} s/step", file=sys.stderr)
    print(f"\n{cpu_name()}, {os.cpu_count()} logical CPUs; batch 4, 1 x 256 x 128, "
          f"2 classes; median of {reps}; {rows[0][2]['framework']}\n")
    print("| width | framework | train step (s) | inference batch of 4 (s) | "
          "train img/s | inference img/s | peak RSS (MiB) | train time / Keras | "
          "inference time / Keras |")
    print("|---|---|---|---|---|---|---|---|---|")
    for width, burn, keras in rows:
        for name, r in (("burn flex", burn), ("Keras/TF-CPU", keras)):
            print(f"| {width} | {name} | {r['train_step_s']:.3f} | {r['infer_batch_s']:.3f} | "
                  f"{4 / r['train_step_s']:.1f} | {4 / r['infer_batch_s']:.1f} | "
                  f"{r['peak_rss_mib']:.0f} | "
                  f"{r['train_step_s'] / keras['train_step_s']:.2f} | "
                  f"{r['infer_batch_s'] / keras['infer_batch_s']:.2f} |")


if __name__ == "__main__":
    main()
