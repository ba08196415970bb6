"""One training-step timing in this process, for before/after comparisons across zoo checkouts: only the
API every zoo version has (`zoo.build`, Keras' `train_on_batch`). Prints one JSON line.

    PYTHONPATH=<checkout> python benchmarks/cpu/step_time.py resnet18_cifar 32 3 64 --steps 6 --warmup 3
"""

import argparse
import json
import os
import statistics
import time

import zoo  # first: zoo decides TensorFlow's CPU kernels before Keras loads it (zoo.runtime, where present)

import keras  # noqa: E402
import numpy as np  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("variant")
parser.add_argument("size", type=int)
parser.add_argument("channels", type=int)
parser.add_argument("batch", type=int)
parser.add_argument("--classes", type=int, default=10)
parser.add_argument("--steps", type=int, default=6)
parser.add_argument("--warmup", type=int, default=3)
args = parser.parse_args()

model = zoo.build(args.variant, input_shape=(args.size, args.size, args.channels), num_classes=args.classes)
model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
              loss=keras.losses.CategoricalCrossentropy(from_logits=True), jit_compile=False)
rng = np.random.default_rng(0)
x = rng.random((args.batch, args.size, args.size, args.channels), dtype=np.float32)
y = np.eye(args.classes, dtype=np.float32)[rng.integers(0, args.classes, args.batch)]
for _ in range(args.warmup):
    model.train_on_batch(x, y)
times = []
for _ in range(args.steps):
    start = time.perf_counter()
    float(model.train_on_batch(x, y))
    times.append(time.perf_counter() - start)
print(json.dumps({"variant": args.variant, "size": args.size, "batch": args.batch,
                  "zoo": os.path.dirname(os.path.dirname(os.path.abspath(zoo.__file__))),
                  "onednn_env": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
                  "matmul_env": os.environ.get("ZOO_MATMUL_MAX_POSITIONS"),
                  "images_per_second": args.batch / statistics.median(times),
                  "steps": [round(t, 4) for t in times]}))
