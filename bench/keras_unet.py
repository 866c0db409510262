"""The aac U-net in Keras/TensorFlow (the paper's stack), for the speed benchmark.

Same network as crates/aac-unet/src/net.rs: 4 down-sampling levels; per level two
3x3 'same' convolutions without bias, each followed by batch normalisation and
ReLU; dropout 0.5 between the two convolutions of the contracting path (and the
bottom); 2x2 max-pooling; 2x2 stride-2 transposed convolution up, concatenated
with the skip; a 1x1 convolution with a sigmoid per class. Binary cross-entropy,
Adam (learning rate 1e-4, epsilon 1e-7), batch 4, input 256 x 128 x 1.

Run by bench/unet_vs_keras.py: `python bench/keras_unet.py WIDTH [REPS]` prints
one JSON object with the median train-step and inference times and peak memory.
"""

import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402
from tensorflow.keras import layers  # noqa: E402

BATCH, ROWS, COLS, CLASSES, DEPTH = 4, 256, 128, 2, 4


def conv_block(x, filters, dropout):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    if dropout:
        x = layers.Dropout(0.5)(x)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    return layers.ReLU()(layers.BatchNormalization()(x))


def build(width):
    inp = keras.Input((ROWS, COLS, 1))
    x, skips = inp, []
    for level in range(DEPTH):
        x = conv_block(x, width << level, True)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = conv_block(x, width << DEPTH, True)
    for level in reversed(range(DEPTH)):
        x = layers.Conv2DTranspose(width << level, 2, strides=2)(x)
        x = layers.Concatenate()([x, skips.pop()])
        x = conv_block(x, width << level, False)
    out = layers.Conv2D(CLASSES, 1, activation="sigmoid")(x)
    model = keras.Model(inp, out)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-4, epsilon=1e-7),
        loss="binary_crossentropy",
    )
    return model


def main():
    width = int(sys.argv[1])
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    tf.random.set_seed(1)
    i = np.arange(BATCH * ROWS * COLS)
    x = (((i * 7919) % 1000) / 1000.0).astype(np.float32).reshape(BATCH, ROWS, COLS, 1)
    j = np.arange(BATCH * ROWS * COLS * CLASSES)
    y = ((j % 331) == 0).astype(np.float32).reshape(BATCH, ROWS, COLS, CLASSES)
    model = build(width)
    steps, infs = [], []
    for r in range(reps + 1):  # the first repetition compiles the graph
        t = time.perf_counter()
        model.train_on_batch(x, y)
        if r:
            steps.append(time.perf_counter() - t)
    for r in range(reps + 1):
        t = time.perf_counter()
        out = model.predict_on_batch(x)
        assert out.shape == (BATCH, ROWS, COLS, CLASSES)
        if r:
            infs.append(time.perf_counter() - t)
    ones = []
    for r in range(reps + 1):
        t = time.perf_counter()
        out = model.predict_on_batch(x[:1])
        assert out.shape == (1, ROWS, COLS, CLASSES)
        if r:
            ones.append(time.perf_counter() - t)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({
        "framework": f"keras-{keras.__version__}/tensorflow-{tf.__version__}",
        "width": width,
        "train_step_s": round(float(np.median(steps)), 4),
        "infer_batch_s": round(float(np.median(infs)), 4),
        "infer_one_s": round(float(np.median(ones)), 4),
        "peak_rss_mib": round(peak_mib, 1),
    }))


if __name__ == "__main__":
    main()
