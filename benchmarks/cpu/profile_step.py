"""Where a training step's time goes: profile `steps` train steps of a zoo variant and print the time per op
kind (convolution forward / backward-input / backward-filter, matrix products, batch norm, elementwise,
optimizer, loss, layout and copies), per step.

    python benchmarks/cpu/profile_step.py tensorflow resnet18_cifar 32 64      # TensorFlow's profiler
    python benchmarks/cpu/profile_step.py pytorch resnet18_cifar 32 64         # torch.profiler, same net in torch.nn
    TF_ENABLE_ONEDNN_OPTS=0 python benchmarks/cpu/profile_step.py tensorflow resnet50 96 32
    python benchmarks/cpu/profile_step.py tensorflow resnet18_cifar 32 64 --precision mixed_bfloat16
    python benchmarks/cpu/profile_step.py pytorch resnet18_cifar 32 64 --precision mixed_bfloat16  # autocast

TensorFlow times are each op's self time, summed over the threads that run ops concurrently (so they can
add up to more than the step's wall time); PyTorch's are its profiler's self CPU time. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import re
import statistics
import tempfile
import time

import zoo  # first: zoo picks TensorFlow's CPU kernels before Keras loads it

KINDS = (  # (kind, op-type pattern), first match wins; batch norm is found by the layer name first
    ("conv backward (filter)", r"Conv2DBackpropFilter|convolution_backward_weight"),
    ("conv backward (input)", r"Conv2DBackpropInput"),
    ("conv backward (input + filter)", r"convolution_backward"),
    ("conv forward", r"Conv2D|mkldnn_convolution|convolution"),
    ("matrix product", r"MatMul|addmm|\bmm\b|linear"),
    ("optimizer update", r"ResourceApply|AssignSub|AssignAdd|_foreach|sgd|add_|mul_"),
    ("loss", r"Softmax|CrossEntropy|log_softmax|nll_loss"),
    ("layout and copies", r"Transpose|Pad|Slice|Concat|Tile|copy_|Identity|Reshape|Cast|to_copy|contiguous"),
    ("elementwise", r"Relu|Add|Mul|Sub|threshold|clamp|relu|add|mul"),
)


def kind_of(op_type: str, op_name: str) -> str:
    if re.search(r"_bn\d*(_\d+)?/|batch_norm|batchnorm|moments", op_name + " " + op_type) and \
            not re.search(r"Conv2D", op_type):
        return "batch norm (forward + backward)"
    for kind, pattern in KINDS:
        if re.search(pattern, op_type):
            return kind
    return "other"


def _inputs(variant, size, batch):
    import numpy as np

    classes = 10 if size <= 32 else 1000
    spec = zoo.resolve_spec(variant, input_shape=(size, size, 3), num_classes=classes)
    rng = np.random.default_rng(0)
    x = rng.random((batch, size, size, 3), dtype=np.float32)
    labels = rng.integers(0, classes, batch)
    return spec, x, labels, classes


def profile_tensorflow(variant, size, batch, steps, warmup, precision):
    import keras
    import numpy as np
    import tensorflow as tf
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin

    spec, x, labels, classes = _inputs(variant, size, batch)
    y = np.eye(classes, dtype=np.float32)[labels]
    keras.config.set_dtype_policy(precision)
    model = zoo.build(spec)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True), jit_compile=False)
    wall = _wall(lambda: float(model.train_on_batch(x, y)), steps, warmup)
    folder = tempfile.mkdtemp(prefix="zoo-profile-")
    tf.profiler.experimental.start(folder)
    for _ in range(steps):
        float(model.train_on_batch(x, y))
    tf.profiler.experimental.stop()
    path = sorted(glob.glob(f"{folder}/**/*.xplane.pb", recursive=True))[-1]
    data, _ = plugin.xspace_to_tools_data([path], "framework_op_stats", {})
    table = json.loads(data)[0]
    columns = [c["id"] for c in table["cols"]]
    times = collections.Counter()
    for row in table["rows"]:
        cell = dict(zip(columns, [c.get("v") if c else None for c in row["c"]]))
        if cell["host_or_device"] == "Host" and cell["type"] != "IDLE":
            times[kind_of(cell["type"], cell["operation"])] += cell["total_self_time"] / 1e3 / steps
    return wall, times


def profile_pytorch(variant, size, batch, steps, warmup, precision):
    import torch
    from torch.profiler import ProfilerActivity, profile

    from zoo.models.resnet.torch_reference import reference_model

    spec, x, labels, _ = _inputs(variant, size, batch)
    model = reference_model(spec).to(memory_format=torch.channels_last)
    x = torch.from_numpy(x).permute(0, 3, 1, 2)  # NHWC memory seen as NCHW: channels_last, no copy
    y = torch.from_numpy(labels)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    dtype = {"mixed_bfloat16": torch.bfloat16, "mixed_float16": torch.float16}.get(precision)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    wall = _wall(step, steps, warmup)
    with profile(activities=[ProfilerActivity.CPU]) as trace:
        for _ in range(steps):
            step()
    times = collections.Counter()
    for event in trace.key_averages():
        if event.key.startswith("aten::") and event.self_cpu_time_total > 0:
            times[kind_of(event.key.removeprefix("aten::"), event.key)] += event.self_cpu_time_total / 1e3 / steps
    return wall, times


def _wall(step, steps, warmup) -> float:
    for _ in range(warmup):
        step()
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("framework", choices=["tensorflow", "pytorch"])
    parser.add_argument("variant")
    parser.add_argument("size", type=int)
    parser.add_argument("batch", type=int)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16", "mixed_float16"])
    args = parser.parse_args()
    run = profile_tensorflow if args.framework == "tensorflow" else profile_pytorch
    wall, times = run(args.variant, args.size, args.batch, args.steps, args.warmup, args.precision)
    total = sum(times.values())
    print(f"{args.framework} {args.variant} {args.size}x{args.size} batch {args.batch} {args.precision}: "
          f"{1000 * wall:.0f} ms per step (median of {args.steps}, unprofiled), {args.batch / wall:.1f} images/s; "
          f"op time {total:.0f} ms per step\n")
    print("| op kind | ms per step | share |\n|---|---:|---:|")
    for kind, ms in times.most_common():
        print(f"| {kind} | {ms:.0f} | {100 * ms / total:.1f}% |")


if __name__ == "__main__":
    main()
