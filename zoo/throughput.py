"""`zoo throughput`: training and inference images/s of variants at a given input size, batch and precision,
with achieved TFLOP/s and model FLOPs utilization (MFU), and timm's ResNets on the same device when
`torch` and `timm` are importable.

>>> rows = measure_zoo("resnet_tiny", input_size=32, batch_size=4, precision="float32", steps=2, warmup=1)
>>> [(r["framework"], r["mode"], r["status"]) for r in rows]
[('zoo', 'train', 'ok'), ('zoo', 'inference', 'ok')]

How it is timed: the batch is generated on the device once; `warmup` steps (tracing, compilation,
allocation) run first and are not timed; then `steps` steps are timed, each returning its loss or
predictions to the host, so the clock stops only after the device has finished (torch:
`torch.cuda.synchronize()`). FLOPs per image are 2 x MACs for inference and 3 x that for a training
step (forward + backward with weight and input gradients); MFU divides the achieved rate by the
device's dense peak for the precision (known for H100/H200/A100/L4; empty elsewhere).
"""

from __future__ import annotations

import time

import keras
import numpy as np

from zoo import device_loop
from zoo.environment import device_name, environment

# Dense (no sparsity) tensor-core peaks in TFLOP/s from NVIDIA's data sheets; float32 means TF32 tensor cores.
PEAK_TFLOPS = {
    "H100": {"mixed_bfloat16": 989.0, "mixed_float16": 989.0, "float32": 494.0},
    "H200": {"mixed_bfloat16": 989.0, "mixed_float16": 989.0, "float32": 494.0},
    "A100": {"mixed_bfloat16": 312.0, "mixed_float16": 312.0, "float32": 156.0},
    "L4": {"mixed_bfloat16": 121.0, "mixed_float16": 121.0, "float32": 60.0},
}
TIMM_MODELS = ("resnet18", "resnet50")


def peak_tflops(device: str, precision: str) -> float | None:
    for key, peaks in PEAK_TFLOPS.items():
        if key in device:
            return peaks.get(precision)
    return None


def _row(framework, model, mode, *, input_size, batch_size, precision, macs, seconds=None, steps=None,
         error=None, device=None, extra=None) -> dict:
    row = {"framework": framework, "model": model, "mode": mode, "input_size": input_size,
           "batch_size": batch_size, "precision": precision, "macs_per_image": macs,
           "steps": steps, "status": "failed" if error else "ok", "error": error, **(extra or {})}
    device = device or device_name()
    row["device"] = device
    if not error and seconds:
        images_per_second = steps * batch_size / seconds
        flops_per_image = 2 * macs * (3 if mode == "train" else 1)
        tflops = images_per_second * flops_per_image / 1e12
        peak = peak_tflops(device, precision)
        row.update(images_per_second=images_per_second, step_ms=1000 * seconds / steps, tflops=tflops,
                   mfu=tflops / peak if peak else None)
    return row


def _timed(step, *, steps: int, warmup: int, sync=None) -> float:
    """Seconds for `steps` calls of `step` after `warmup` untimed ones; `sync()` waits for the device."""
    for _ in range(warmup):
        step()
    if sync:
        sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if sync:
        sync()
    return time.perf_counter() - start


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _measured(framework, model, mode, step, *, steps, warmup, sync=None, calls=None, **row_args) -> dict:
    """One timed row of `steps` steps made by `calls` calls of `step` (default: one step per call) after
    `warmup` untimed calls; an exception (out of memory at this batch, an unsupported precision...) is a
    failed row."""
    try:
        seconds = _timed(step, steps=calls or steps, warmup=warmup, sync=sync)
    except Exception as exc:
        return _row(framework, model, mode, error=_error(exc), **row_args)
    return _row(framework, model, mode, seconds=seconds, steps=steps, **row_args)


def measure_zoo(variant: str, *, input_size: int = 224, batch_size: int = 256, precision: str = "mixed_bfloat16",
                steps: int = 20, warmup: int = 3, num_classes: int = 1000) -> list[dict]:
    """Train-step and inference throughput of a zoo variant (Keras, current backend). Train rows: on JAX
    the device loop (`loop="device"`: `steps` steps in one compiled call, as `zoo train` runs on a GPU),
    and everywhere `train_on_batch` (`loop="keras"`: Keras' per-call overhead, synchronized every step)."""
    from zoo.builder import build
    from zoo.macs import count_macs
    from zoo.registry import resolve_spec
    from zoo.training import resolve_jit_compile

    spec = resolve_spec(variant, input_shape=(input_size, input_size, 3), num_classes=num_classes)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        model = build(spec)
    finally:
        keras.config.set_dtype_policy(previous)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                  jit_compile=resolve_jit_compile("auto"))
    x = keras.random.uniform((batch_size, input_size, input_size, 3), seed=0)
    y = keras.ops.one_hot(keras.random.randint((batch_size,), 0, num_classes, seed=1), num_classes)
    common = dict(steps=steps, warmup=warmup, input_size=input_size, batch_size=batch_size, precision=precision,
                  macs=count_macs(model))
    rows = []
    if device_loop.available():
        rows.append(_device_loop_row(model, variant, x, y, **common))
    # Each step brings its loss / predictions to the host, so it has finished on the device when timed.
    rows.append(_measured("zoo", variant, "train", lambda: float(model.train_on_batch(x, y)),
                          extra={"loop": "keras"}, **common))
    rows.append(_measured("zoo", variant, "inference", lambda: np.asarray(model.predict_on_batch(x)), **common))
    return rows


def _device_loop_row(model, variant, x, y, *, steps, warmup, **row_args) -> dict:
    """The train step as `zoo.train` runs it on JAX with an accelerator: `steps` steps in one compiled call
    over a device-resident batch (one untimed warm-up call; compilation happens before it, ahead of time)."""
    try:
        trainer = device_loop.DeviceEpochs(model, x, y, batch_size=row_args["batch_size"], steps=steps)
    except Exception as exc:
        return _row("zoo", variant, "train", error=_error(exc), extra={"loop": "device"}, **row_args)
    order = np.tile(np.arange(row_args["batch_size"]), (steps, 1))
    return _measured("zoo", variant, "train", lambda: trainer.run(order), steps=steps, calls=1, warmup=1,
                     extra={"loop": "device", "compile_seconds": trainer.compile_seconds}, **row_args)


def timm_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("torch", "timm"))


def measure_timm(name: str, *, input_size: int = 224, batch_size: int = 256, precision: str = "mixed_bfloat16",
                 steps: int = 20, warmup: int = 3, compiled: bool = False, macs: int) -> list[dict]:
    """timm's model in PyTorch: channels_last, autocast to the precision's compute dtype, SGD train steps."""
    import torch
    import timm

    framework = "timm-compile" if compiled else "timm-eager"
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    common = dict(steps=steps, warmup=warmup, input_size=input_size, batch_size=batch_size, precision=precision,
                  macs=macs, device=torch.cuda.get_device_name(0) if cuda else device_name(),
                  extra={"torch_version": torch.__version__, "timm_version": timm.__version__})
    dtype = {"mixed_bfloat16": torch.bfloat16, "mixed_float16": torch.float16}.get(precision)
    try:
        model = timm.create_model(name, num_classes=1000).to(device).to(memory_format=torch.channels_last)
        step_model = torch.compile(model) if compiled else model
        x = torch.randn(batch_size, 3, input_size, input_size, device=device).to(memory_format=torch.channels_last)
        y = torch.randint(0, 1000, (batch_size,), device=device)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()
    except Exception as exc:
        return [_row(framework, name, "train", error=_error(exc), **{k: v for k, v in common.items()
                                                                        if k not in ("steps", "warmup")})]

    def autocast():
        return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = loss_fn(step_model(x), y)
        loss.backward()
        optimizer.step()

    def inference_step():
        with torch.inference_mode(), autocast():
            step_model(x)

    sync = torch.cuda.synchronize if cuda else None
    model.train()
    rows = [_measured(framework, name, "train", train_step, sync=sync, **common)]
    model.eval()
    rows.append(_measured(framework, name, "inference", inference_step, sync=sync, **common))
    return rows


def throughput_table(variants, *, input_size=224, batch_size=256, precision="mixed_bfloat16", steps=20, warmup=3,
                     with_timm: bool | None = None, log=print):
    """All rows (zoo variants, then timm eager and compiled for resnet18/resnet50), with the environment
    and, for timm rows, `zoo_ratio` = zoo images/s divided by that timm row's images/s."""
    import pandas as pd

    rows = []
    for variant in variants:
        log(f"zoo {variant}: {input_size}x{input_size}, batch {batch_size}, {precision}")
        rows += measure_zoo(variant, input_size=input_size, batch_size=batch_size, precision=precision,
                            steps=steps, warmup=warmup)
        keras.backend.clear_session()
    if with_timm is None:
        with_timm = timm_available()
    if with_timm:
        macs = {r["model"]: r["macs_per_image"] for r in rows}
        for name in [v for v in variants if v in TIMM_MODELS]:
            for compiled in (False, True):
                log(f"timm {name} ({'torch.compile' if compiled else 'eager'})")
                rows += measure_timm(name, input_size=input_size, batch_size=batch_size, precision=precision,
                                     steps=steps, warmup=warmup, compiled=compiled, macs=macs[name])
    table = pd.DataFrame(rows)
    env = environment()
    for key, value in env.items():
        table[key] = value
    # the ratio uses the loop `zoo train` itself picks here (device loop on JAX with an accelerator)
    from zoo.training import resolve_loop

    loop = resolve_loop("auto")
    zoo_speed = {(r["model"], r["mode"]): r.get("images_per_second") for r in rows
                 if r["framework"] == "zoo" and r.get("loop", loop) == loop}
    table["zoo_ratio"] = [
        (zoo_speed.get((m, mode)) / s) if f != "zoo" and s and zoo_speed.get((m, mode)) else None
        for f, m, mode, s in zip(table["framework"], table["model"], table["mode"],
                                 table.get("images_per_second", [None] * len(table)))]
    return table


MARKDOWN_COLUMNS = (("framework", "framework"), ("model", "model"), ("mode", "mode"), ("loop", "loop"),
                    ("input_size", "input"),
                    ("batch_size", "batch"), ("precision", "precision"), ("images_per_second", "images/s"),
                    ("step_ms", "ms/step"), ("tflops", "TFLOP/s"), ("mfu", "MFU %"), ("zoo_ratio", "zoo / this"),
                    ("status", "status"))


def throughput_markdown(table) -> str:
    from zoo.markdown import format_table

    def cell(key, value):
        if value is None or (isinstance(value, float) and value != value):
            return None
        if key == "images_per_second":
            return f"{value:,.0f}"
        if key in ("step_ms", "tflops"):
            return f"{value:.2f}"
        if key == "mfu":
            return f"{100 * value:.1f}"
        if key == "zoo_ratio":
            return f"{value:.2f}x"
        return value.item() if hasattr(value, "item") else value

    rows = [{k: cell(k, r.get(k)) for k, _ in MARKDOWN_COLUMNS} for r in table.to_dict("records")]
    first = table.iloc[0]
    header = (f"device: {first['device']}; backend: {first['backend']} {first['backend_version']}; "
              f"keras {first['keras_version']}; git {first['git_sha']}")
    failed = [f"- {r['framework']} {r['model']} {r['mode']}: {r['error']}" for r in table.to_dict("records")
              if r["status"] != "ok"]
    return "\n".join([header, "", format_table(rows, list(MARKDOWN_COLUMNS))] + (["", *failed] if failed else [])) + "\n"


def write_throughput(table, out) -> list:
    """throughput.parquet / .csv / .md in `out` (each written atomically); returns the paths."""
    from pathlib import Path

    from zoo.results import write_text_atomic

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".throughput.parquet.tmp"
    table.to_parquet(tmp, index=False)
    tmp.replace(out / "throughput.parquet")
    write_text_atomic(out / "throughput.csv", table.to_csv(index=False))
    write_text_atomic(out / "throughput.md", throughput_markdown(table))
    return [out / "throughput.parquet", out / "throughput.csv", out / "throughput.md"]
