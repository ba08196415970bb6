"""The first (tracing) training step with Keras' Adam against the zoo's, fresh models interleaved in one
process, and the step time after it. Prints one line per optimizer.

    python benchmarks/cpu/first_step.py resnet18_cifar10_tf2 --models 4 --batch 32

Each model is built, compiled (its Adam slots built eagerly, as `zoo.train` does) and fitted on one batch:
that call is the first step. The first model of all also pays the process's one-time set-up, so one untimed
model runs before the timed ones. Then every model's later steps are timed in alternation (`fit` on four
batches, 8 rounds).
"""

import argparse
import statistics
import time

import zoo  # first: zoo decides TensorFlow's CPU kernels before Keras loads it

import keras  # noqa: E402
import numpy as np  # noqa: E402

from zoo.training.optimizers import Adam  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("variant")
parser.add_argument("--models", type=int, default=4, help="fresh models per optimizer")
parser.add_argument("--batch", type=int, default=32)
args = parser.parse_args()

OPTIMIZERS = {"keras": keras.optimizers.Adam, "zoo": Adam}


def compiled(kind: str):
    model = zoo.build(args.variant)
    model.compile(optimizer=OPTIMIZERS[kind](1e-3), loss="categorical_crossentropy",
                  metrics=[keras.metrics.CategoricalAccuracy(name="top1")])
    model.optimizer.build(model.trainable_variables)
    return model


shape = zoo.build(args.variant).input_shape[1:]
rng = np.random.default_rng(0)
x = rng.random((args.batch * 4, *shape), dtype="float32")
y = keras.utils.to_categorical(rng.integers(0, 10, args.batch * 4), 10)
compiled("zoo").fit(x[:args.batch], y[:args.batch], batch_size=args.batch, verbose=0)  # untimed

first, last = {kind: [] for kind in OPTIMIZERS}, {}
for k in range(args.models):
    for kind in (("keras", "zoo") if k % 2 == 0 else ("zoo", "keras")):
        model = compiled(kind)
        start = time.perf_counter()
        model.fit(x[:args.batch], y[:args.batch], batch_size=args.batch, verbose=0)
        first[kind].append(time.perf_counter() - start)
        last[kind] = model
steps = {kind: [] for kind in OPTIMIZERS}
for k in range(8):
    for kind in (("keras", "zoo") if k % 2 == 0 else ("zoo", "keras")):
        start = time.perf_counter()
        last[kind].fit(x, y, batch_size=args.batch, verbose=0)
        steps[kind].append((time.perf_counter() - start) / 4)
for kind in OPTIMIZERS:
    print(f"{args.variant} {kind} Adam: first step median {statistics.median(first[kind]):.2f} s "
          f"({' '.join(f'{s:.2f}' for s in first[kind])}); later steps median "
          f"{1000 * statistics.median(steps[kind][1:]):.0f} ms")
