"""`zoo throughput`: training and inference images/s of variants at a given input size, batch and precision,
with achieved TFLOP/s and model FLOPs utilization (MFU), beside keras.applications and PyTorch on the same
machine, across Keras backends.

>>> rows = measure("zoo", "resnet_tiny", input_size=32, batch_size=4, precision="float32", steps=2, warmup=1)
>>> [(r["framework"], r["mode"], r["status"]) for r in rows]
[('zoo', 'train', 'ok'), ('zoo', 'inference', 'ok')]

How it is timed: one batch of random data is made once; `warmup` steps (tracing, compilation, allocation)
run first and are not timed; then `steps` steps are timed one by one, each returning its loss or
predictions to the host (torch on a GPU: `torch.cuda.synchronize()`), and a row's images/s is the batch
over the median step. FLOPs per image are 2 x MACs for inference and 3 x that for a training step
(forward + backward with weight and input gradients); MFU divides the achieved rate by the device's dense
peak: NVIDIA's data sheet for H100/H200/A100/L4, and on a CPU the rate of a 2048x2048 float32 matrix
product measured once per host (`cpu_peak_tflops`), in bfloat16 for `mixed_bfloat16` on CPUs with bfloat16
instructions (AVX512_BF16, AMX; elsewhere bfloat16 has no faster path and the float32 peak serves).

Serving latency (`latency=("keras", "onnx", ...)`): `latency` rows of the zoo model at batch 1, the median
and 99th percentile of `LATENCY_RUNS` single-image calls after a warm-up, in Keras (`predict_on_batch`)
and in each exported runtime (`zoo.training.export`: the model exported by Keras' `Model.export`, run by
TensorFlow, ONNX Runtime or LiteRT's interpreter); a runtime that is not installed is a failed row
saying what to install.

Frameworks: `zoo` (this Keras backend), `keras-applications` (keras.applications' ResNet50/101/152 on the
same backend, for the variants it has), `pytorch-eager` and `pytorch-compile` (timm's model when timm
imports, else the same spec in plain torch.nn: `zoo.models.resnet.torch_reference`; channels_last, SGD with momentum).
With several backends or rounds, every (round, framework, backend, variant) runs in its own process,
rounds interleaved, and the table keeps each row's median over the rounds (`throughput_table`).
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import time
from pathlib import Path

from zoo.errors import error_text
from zoo.experiments.isolate import call_isolated
from zoo.experiments.peaks import cpu_peak_tflops, peak_tflops  # noqa: F401  (re-exported)
from zoo.experiments.throughput_report import throughput_markdown, write_throughput  # noqa: F401  (re-exported)

TIMM_MODELS = ("resnet18", "resnet50")
KERAS_APPLICATIONS = {"resnet50": "ResNet50", "resnet50_keras": "ResNet50", "resnet101": "ResNet101",
                      "resnet152": "ResNet152"}
FRAMEWORKS = ("zoo", "keras-applications", "pytorch-eager", "pytorch-compile")
DEFAULT_FRAMEWORKS = ("zoo", "keras-applications", "pytorch-eager")
#: Columns that identify a measurement; rounds of the same one are merged into their median.
KEY = ("framework", "backend", "variant", "mode", "loop", "runtime")
LATENCY_RUNTIMES = ("keras", "saved_model", "onnx", "litert")
LATENCY_RUNS = 100


# -- one row ----------------------------------------------------------------------------------

def _row(framework, variant, mode, *, input_size, batch_size, precision, macs, step_seconds=None, steps=None,
         error=None, device=None, extra=None) -> dict:
    """A row; `step_seconds` is the median (or mean, for a device loop) seconds per step."""
    row = {"framework": framework, "variant": variant, "mode": mode, "input_size": input_size,
           "batch_size": batch_size, "precision": precision, "macs_per_image": macs,
           "steps": steps, "status": "failed" if error else "ok", "error": error, **(extra or {})}
    row.setdefault("loop", None)
    row.setdefault("runtime", None)
    if device is None:
        from zoo.environment import device_name

        device = device_name()
    row["device"] = device
    if not error and step_seconds:
        images_per_second = batch_size / step_seconds
        flops_per_image = 2 * macs * (3 if mode == "train" else 1)
        tflops = images_per_second * flops_per_image / 1e12
        peak = peak_tflops(device, precision, tflops)
        row.update(images_per_second=images_per_second, step_ms=1000 * step_seconds, tflops=tflops,
                   peak_tflops=peak, mfu=tflops / peak if peak else None)
    return row


def _step_times(step, *, steps: int, warmup: int, sync=None) -> list[float]:
    """Seconds of each of `steps` calls of `step`, after `warmup` untimed ones; `sync()` waits for the device."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        if sync:
            sync()
        start = time.perf_counter()
        step()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    return times


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _measured(framework, variant, mode, step, *, steps, warmup, sync=None, per_call=1, **row_args) -> dict:
    """One timed row: the median of `steps` timed calls of `step` (each `per_call` steps) after `warmup`
    untimed calls; an exception (out of memory at this batch, an unsupported precision...) is a failed row."""
    try:
        times = _step_times(step, steps=steps, warmup=warmup, sync=sync)
    except Exception as exc:
        return _row(framework, variant, mode, error=_error(exc), **row_args)
    return _row(framework, variant, mode, step_seconds=statistics.median(times) / per_call,
                steps=steps * per_call, **row_args)


# -- Keras models (zoo, keras.applications) ---------------------------------------------------

def _keras_rows(framework: str, variant: str, model, *, input_size, batch_size, precision, steps, warmup,
                num_classes, latency=()) -> list[dict]:
    import keras
    import numpy as np

    from zoo.training import device_loop
    from zoo.models.macs import count_macs
    from zoo.training.policy import has_accelerator, resolve_jit_compile

    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                  jit_compile=resolve_jit_compile("auto"))
    x = keras.random.uniform((batch_size, input_size, input_size, 3), seed=0)
    y = keras.ops.one_hot(keras.random.randint((batch_size,), 0, num_classes, seed=1), num_classes)
    common = dict(steps=steps, warmup=warmup, input_size=input_size, batch_size=batch_size, precision=precision,
                  macs=count_macs(model))
    rows = []
    if framework == "zoo" and device_loop.available() and has_accelerator():  # where `zoo train` uses it
        rows.append(_device_loop_row(model, variant, x, y, **common))
    # Each step brings its loss / predictions to the host, so it has finished on the device when timed.
    rows.append(_measured(framework, variant, "train", lambda: float(model.train_on_batch(x, y)),
                          extra={"loop": "keras"}, **common))
    rows.append(_measured(framework, variant, "inference", lambda: np.asarray(model.predict_on_batch(x)),
                          **common))
    if framework == "zoo" and latency:
        rows += _latency_rows(model, variant, runtimes=latency, input_size=input_size, precision=precision,
                              macs=common["macs"])
    return rows


def _latency_rows(model, variant: str, *, runtimes, input_size: int, precision: str, macs: int,
                  runs: int = LATENCY_RUNS, warmup: int = 10) -> list[dict]:
    """Batch-1 latency rows of `model` in Keras and in each exported runtime of `runtimes` (see the module)."""
    import tempfile

    import numpy as np

    from zoo.training import export

    image = np.random.default_rng(0).random((input_size, input_size, 3)).astype("float32")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for runtime in runtimes:
            common = dict(input_size=input_size, batch_size=1, precision=precision, macs=macs,
                          extra={"runtime": runtime})
            try:
                if runtime == "keras":
                    predict = lambda batch: np.asarray(model.predict_on_batch(batch))  # noqa: E731
                else:
                    path = export.export(model, runtime, Path(folder) / f"model{export.FORMATS[runtime].suffix}")
                    predict = export.Runtime(path, runtime).predict
                timing = export.latency(predict, image, runs=runs, warmup=warmup)
            except Exception as exc:  # not installed, an export the converter refuses: the row says so
                rows.append(_row("zoo", variant, "latency", error=_error(exc), **common))
                continue
            row = _row("zoo", variant, "latency", step_seconds=timing["median_ms"] / 1000, steps=runs, **common)
            rows.append({**row, "latency_p99_ms": timing["p99_ms"]})
    return rows


def _device_loop_row(model, variant, x, y, *, steps, warmup, **row_args) -> dict:
    """The train step as `zoo.train` runs it on JAX with an accelerator: `steps` steps in one compiled call
    over a device-resident batch (one untimed warm-up call; compilation happens before it, ahead of time)."""
    import numpy as np

    from zoo.training import device_loop
    try:
        trainer = device_loop.DeviceEpochs(model, x, y, batch_size=row_args["batch_size"], steps=steps)
    except Exception as exc:
        return _row("zoo", variant, "train", error=_error(exc), extra={"loop": "device"}, **row_args)
    order = np.tile(np.arange(row_args["batch_size"]), (steps, 1))
    return _measured("zoo", variant, "train", lambda: trainer.run(order), steps=1, per_call=steps, warmup=1,
                     extra={"loop": "device", "compile_seconds": trainer.compile_seconds}, **row_args)


def _keras_model(framework: str, variant: str, *, input_size: int, precision: str, num_classes: int,
                 spec: dict | None = None):
    import keras

    from zoo.models.builder import build
    from zoo.models.registry import resolve_spec

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        if framework == "keras-applications":
            application = getattr(keras.applications, KERAS_APPLICATIONS[variant])
            return application(weights=None, input_shape=(input_size, input_size, 3), classes=num_classes,
                               classifier_activation=None)
        return build(resolve_spec(variant, input_shape=(input_size, input_size, 3), num_classes=num_classes,
                                  **(spec or {})))
    finally:
        keras.config.set_dtype_policy(previous)


# -- PyTorch ----------------------------------------------------------------------------------

def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def timm_available() -> bool:
    if not torch_available() or importlib.util.find_spec("timm") is None:
        return False
    try:  # timm imports torchvision, which fails against a torch build it was not made for
        importlib.import_module("timm")
    except Exception:
        return False
    return True


def _torch_model(variant: str, *, input_size: int, num_classes: int, spec: dict | None = None):
    """(module, description): timm's model for the ImageNet names it has (unless spec fields are
    overridden), else the spec in plain torch.nn."""
    from zoo.models.registry import resolve_spec

    overrides = spec or {}
    spec = resolve_spec(variant, input_shape=(input_size, input_size, 3), num_classes=num_classes, **overrides)
    if variant in TIMM_MODELS and timm_available() and not overrides:
        import timm

        return timm.create_model(variant, num_classes=num_classes), f"timm {timm.__version__} {variant}"
    from zoo.models.registry import family_of

    family = family_of(spec)
    return family.torch_model(spec), f"{family.torch_reference.split(':')[0]} (torch.nn)"


def measure_torch(variant: str, *, input_size: int = 224, batch_size: int = 256, precision: str = "mixed_bfloat16",
                  steps: int = 20, warmup: int = 3, compiled: bool = False, num_classes: int = 1000,
                  macs: int | None = None, spec: dict | None = None) -> list[dict]:
    """The variant in PyTorch: channels_last, autocast to the precision's compute dtype, SGD train steps."""
    import torch

    framework = "pytorch-compile" if compiled else "pytorch-eager"
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    common = dict(input_size=input_size, batch_size=batch_size, precision=precision, macs=macs,
                  device=torch.cuda.get_device_name(0) if cuda else None)
    extra = {"backend": "pytorch", "backend_version": torch.__version__, "loop": "compiled" if compiled else "eager"}
    dtype = {"mixed_bfloat16": torch.bfloat16, "mixed_float16": torch.float16}.get(precision)
    try:
        model, source = _torch_model(variant, input_size=input_size, num_classes=num_classes, spec=spec)
        extra["pytorch_model"] = source
        model = model.to(device).to(memory_format=torch.channels_last)
        step_model = torch.compile(model) if compiled else model
        x = torch.randn(batch_size, 3, input_size, input_size, device=device).to(memory_format=torch.channels_last)
        y = torch.randint(0, num_classes, (batch_size,), device=device)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()
    except Exception as exc:
        return [_row(framework, variant, "train", error=_error(exc), extra=extra, **common)]

    def autocast():
        return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = loss_fn(step_model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    def inference_step():
        with torch.inference_mode(), autocast():
            return step_model(x).cpu()

    sync = torch.cuda.synchronize if cuda else None
    model.train()
    rows = [_measured(framework, variant, "train", train_step, sync=sync, steps=steps, warmup=warmup,
                      extra=extra, **common)]
    model.eval()
    rows.append(_measured(framework, variant, "inference", inference_step, sync=sync, steps=steps, warmup=warmup,
                          extra={**extra, "loop": None}, **common))
    return rows


# -- one framework, one variant, in this process ----------------------------------------------

def measure(framework: str, variant: str, *, input_size: int = 224, batch_size: int = 256,
            precision: str = "mixed_bfloat16", steps: int = 20, warmup: int = 3, num_classes: int = 1000,
            macs: int | None = None, latency=(), spec: dict | None = None) -> list[dict]:
    """Train and inference rows of `variant` (with `spec` field overrides) in `framework`, in this process,
    each with its environment; for the zoo, batch-1 `latency` rows in each of those runtimes
    (`LATENCY_RUNTIMES`)."""
    unknown = [r for r in latency if r not in LATENCY_RUNTIMES]
    if unknown:
        raise ValueError(f"latency runtime {unknown[0]!r} is not one of {', '.join(LATENCY_RUNTIMES)}")
    import keras

    from zoo.environment import environment
    from zoo.runtime import onednn_enabled

    args = dict(input_size=input_size, batch_size=batch_size, precision=precision, steps=steps, warmup=warmup,
                num_classes=num_classes)
    if framework.startswith("pytorch"):
        if macs is None:
            macs = _zoo_macs(variant, input_size=input_size, num_classes=num_classes, spec=spec)
        rows = measure_torch(variant, compiled=framework == "pytorch-compile", macs=macs, spec=spec, **args)
    else:
        model = _keras_model(framework, variant, input_size=input_size, precision=precision,
                             num_classes=num_classes, spec=spec)
        rows = _keras_rows(framework, variant, model, latency=tuple(latency), **args)
        keras.backend.clear_session()
    env = environment()
    onednn = onednn_enabled() if keras.backend.backend() == "tensorflow" else None
    fields = {"spec_overrides": json.dumps(spec, sort_keys=True)} if spec else {}
    return [{**env, "tf_onednn": None if r.get("backend") == "pytorch" else onednn, **r, **fields} for r in rows]


def _zoo_macs(variant: str, *, input_size: int, num_classes: int, spec: dict | None = None) -> int:
    """MACs per image of the zoo model (the PyTorch rows' FLOPs: same layers, same count)."""
    from zoo.models.builder import build
    from zoo.models.macs import count_macs

    return count_macs(build(variant, input_shape=(input_size, input_size, 3), num_classes=num_classes,
                            **(spec or {})))


# -- several frameworks, backends and rounds ---------------------------------------------------

def plan(variants, *, backends, frameworks) -> list[dict]:
    """Jobs {framework, backend, variant} in measuring order: per variant, each backend's zoo and
    keras.applications rows, then PyTorch (skipped where the framework has no such model or no torch)."""
    jobs = []
    for variant in variants:
        for backend in backends:
            jobs.append({"framework": "zoo", "backend": backend, "variant": variant})
            if "keras-applications" in frameworks and variant in KERAS_APPLICATIONS:
                jobs.append({"framework": "keras-applications", "backend": backend, "variant": variant})
        if torch_available():
            for framework in ("pytorch-eager", "pytorch-compile"):
                if framework in frameworks:
                    jobs.append({"framework": framework, "backend": "pytorch", "variant": variant})
    return [job for job in jobs if job["framework"] in frameworks]


def measure_in_subprocess(job: dict, options: dict, *, timeout: float = 3600) -> list[dict]:
    """`measure` in a fresh Python process (`zoo.experiments.isolate`) with `KERAS_BACKEND` set to the job's
    backend; a process that fails, dies or runs past `timeout` seconds is a failed row saying so."""
    backend = "torch" if job["backend"] == "pytorch" else job["backend"]  # no TensorFlow beside torch
    try:
        return call_isolated(measure, job["framework"], job["variant"], timeout=timeout,
                             env={"KERAS_BACKEND": backend, "ZOO_QUIET_BACKEND": "1"}, **options)
    except Exception as exc:  # the row records it; the table goes on
        why = error_text(exc, limit=None)
    common = {k: options[k] for k in ("input_size", "batch_size", "precision")}
    return [_row(job["framework"], job["variant"], "train", error=why, macs=None, device="",
                 extra={"backend": job["backend"]}, **common)]


def throughput_table(variants, *, input_size=224, batch_size=256, precision="mixed_bfloat16", steps=20, warmup=3,
                     backends=None, frameworks=DEFAULT_FRAMEWORKS, rounds: int = 1, latency=(), spec=None,
                     log=print):
    """All rows, with `zoo_ratio` = the zoo's images/s (on the backend this process uses) over each other
    row's for the same model and mode. `spec` ({field: value}) overrides the variants' fields (the PyTorch
    rows build the same changed spec; keras.applications rows are left out). With `backends` or `rounds > 1` every job runs in its own process,
    rounds interleaved, and each measurement keeps its median over the rounds (`rounds_images_per_second`
    lists them); otherwise everything runs here, on this process's backend."""
    import pandas as pd

    from zoo.backends import configured_backend

    home = configured_backend()
    isolated = bool(backends) or rounds > 1
    if spec:  # keras.applications has its own fixed networks: no like-for-like row with changed fields
        frameworks = [f for f in frameworks if f != "keras-applications"]
    jobs = plan(variants, backends=backends or [home], frameworks=frameworks)
    options = dict(input_size=input_size, batch_size=batch_size, precision=precision, steps=steps, warmup=warmup,
                   **({"spec": dict(spec)} if spec else {}))
    rows = []
    for round_ in range(1, rounds + 1):
        for job in jobs:
            log(f"{'round ' + str(round_) + ': ' if rounds > 1 else ''}{job['framework']} ({job['backend']}) "
                f"{job['variant']}: {input_size}x{input_size}, batch {batch_size}, {precision}")
            extra = {"latency": tuple(latency)} if latency and job["framework"] == "zoo" else {}
            found = measure_in_subprocess(job, {**options, **extra}) if isolated else measure(
                job["framework"], job["variant"], **options, **extra)
            rows += [{**row, "round": round_} for row in found]
    table = one_peak(median_over_rounds(pd.DataFrame(rows)))
    table["zoo_ratio"] = _zoo_ratios(table, home)
    return conform_throughput(table)


def conform_throughput(table):
    """The table's columns in `THROUGHPUT_COLUMNS` order with their dtypes (a declared column no row has is
    left out); a column the schema does not declare is a programming error, refused by name."""
    from zoo.experiments.schema import THROUGHPUT_COLUMNS, undeclared

    unknown = undeclared(table.columns, THROUGHPUT_COLUMNS)
    if unknown:
        raise ValueError(f"throughput rows hold undeclared columns {unknown}: declare them in zoo.experiments.schema")
    present = [c for c in THROUGHPUT_COLUMNS if c.name in table]
    return table[[c.name for c in present]].astype({c.name: c.dtype for c in present})


def one_peak(table):
    """Every row of a device divided by the same peak, the highest its rows were given (a CPU's measured
    peak can rise during a run: `cpu_peak_tflops`), so the MFU column compares like with like."""
    if "peak_tflops" not in table or table["peak_tflops"].isna().all():
        return table
    table = table.copy()
    table["peak_tflops"] = table.groupby("device")["peak_tflops"].transform("max")
    table["mfu"] = table["tflops"] / table["peak_tflops"]
    return table


def median_over_rounds(table):
    """One row per measurement (KEY): the median round's row, with every round's images/s listed."""
    import pandas as pd

    if "round" not in table or table["round"].nunique() < 2:
        return table.drop(columns=["round"], errors="ignore")
    merged = []
    for _, group in table.groupby([k for k in KEY if k in table], dropna=False, sort=False):
        ok = group[group["status"] == "ok"].sort_values("images_per_second")
        pick = ok.iloc[(len(ok) - 1) // 2] if len(ok) else group.iloc[-1]
        row = pick.to_dict()
        if len(ok):
            row.update(images_per_second=float(ok["images_per_second"].median()),
                       rounds_images_per_second=" ".join(f"{v:.1f}" for v in group["images_per_second"]))
            factor = row["images_per_second"] / pick["images_per_second"]  # 1 for an odd number of rounds
            row.update(step_ms=pick["step_ms"] / factor, tflops=pick["tflops"] * factor)
            if row.get("peak_tflops"):
                row["mfu"] = row["tflops"] / row["peak_tflops"]
        merged.append(row)
    return pd.DataFrame(merged).drop(columns=["round"])


def _zoo_ratios(table, home: str) -> list:
    """zoo images/s on `home` (its default loop there) over each row's, for the same model and mode;
    keras.applications rows compare with the zoo on their own backend."""
    from zoo.training.policy import resolve_loop

    speeds = {}
    for r in table.to_dict("records"):
        if r["framework"] == "zoo" and r.get("images_per_second") == r.get("images_per_second"):
            if r.get("loop") in (None, resolve_loop("auto")) or r["mode"] == "inference":
                speeds.setdefault((r.get("backend"), r["variant"], r["mode"]), r.get("images_per_second"))
    ratios = []
    for r in table.to_dict("records"):
        own = r["framework"] == "zoo" and r.get("backend") == home
        against = r.get("backend") if r["framework"] == "keras-applications" else home
        zoo_speed, speed = speeds.get((against, r["variant"], r["mode"])), r.get("images_per_second")
        ratios.append(zoo_speed / speed if not own and zoo_speed and speed and speed == speed else None)
    return ratios
