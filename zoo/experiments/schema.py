"""Every table's columns, declared once: the results table of `zoo bench` (`COLUMNS`: the planned run, where
it ran, and what it measured, the last from `zoo.training.result.RunResult`'s fields), the trials table of
`zoo tune` (`TRIAL_COLUMNS` beside those), and the throughput table of `zoo throughput`
(`THROUGHPUT_COLUMNS`). Each column has its pandas dtype, unit and meaning; the column reference in
benchmarks/README.md is generated from here (`columns_markdown`), and a test checks that every writer's
rows hold declared columns only (`undeclared`).

>>> undeclared({"variant": "resnet20", "top1": 0.9}, COLUMNS)
[]
>>> undeclared({"variant": "resnet20", "tpo1": 0.9}, COLUMNS)
['tpo1']
"""

from __future__ import annotations

from dataclasses import dataclass

from zoo.training.result import column_metadata, table_fields


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str          # pandas dtype: "string", "Int64", "Float64", "boolean"
    description: str
    unit: str = ""


def _measured(group: str) -> tuple[Column, ...]:
    """The columns a run's `RunResult` fills, from its fields' metadata (their one definition)."""
    found = []
    for name in table_fields():
        meta = column_metadata(name)
        if meta["group"] == group:
            found.append(Column(name, meta["dtype"], meta["description"], meta["unit"]))
    return tuple(found)


# The runner's own columns (what was planned, where it ran) are defined here; every measured one in
# zoo.training.result.RunResult.
PLANNED: tuple[Column, ...] = (
    Column("run_id", "string", "stable id of the run definition (variant, dataset, recipe, seed, overrides, limit); "
                               "reruns of a sweep skip ids already in the table"),
    Column("sweep", "string", "name of the sweep (or `tune:<directory>` for tuner trials)"),
    Column("variant", "string", "registry name of the architecture (`zoo show NAME`)"),
    Column("dataset", "string", "dataset name asked for"),
    Column("recipe", "string", "training recipe (`zoo recipes`)"),
    Column("overrides", "string", "recipe knobs changed from the recipe's defaults, as JSON"),
    Column("spec_overrides", "string", "architecture (ResNetSpec) fields changed from the variant's, as JSON (a "
                                       "sweep's `spec` axes, `zoo bench --set`); the whole spec is in "
                                       "`histories/<run_id>.spec.json`; empty for the registered variant"),
    Column("seed", "Int64", "random seed (weights, shuffling, augmentation, subset choice)"),
)
WHERE: tuple[Column, ...] = (
    Column("backend", "string", "Keras backend: tensorflow, jax or torch"),
    Column("backend_version", "string", "version of the backend framework"),
    Column("keras_version", "string", "Keras version"),
    Column("device", "string", "accelerator name, or `cpu: <model>` when training ran on the CPU"),
    Column("cpu_features", "string", "the host CPU's kernel-deciding flags (`avx2 fma avx512f avx512_bf16 ...`): "
                                     "one model name covers CPUs with and without AVX-512 or bfloat16"),
    Column("host", "string", "host name of the machine"),
    Column("load_average", "string", "the host's 1-, 5- and 15-minute load averages when the row was written: about "
                                     "the core count for a run alone; more means other work ran beside it and the "
                                     "row's times should be measured again"),
    Column("node", "string", "Ray node the run ran on (`zoo bench --ray`): node id (8 hex digits) @ IP; empty "
                             "for runs in the sweep's own process or host"),
    Column("attempts", "Int64", "how many times the run was started (`zoo bench --ray` retries a run whose worker "
                                "died); empty for local runs"),
    Column("python_version", "string", "Python version"),
    Column("zoo_version", "string", "zoo version"),
    Column("git_sha", "string", "commit of the zoo checkout (`+dirty` with local changes)"),
)
COLUMNS: tuple[Column, ...] = (
    *PLANNED, *_measured("run"),
    *WHERE, *_measured("model"), *_measured("accuracy"), *_measured("time"),
    Column("inference_batch", "Int64", "batch size of the inference timing"),
    Column("peak_host_memory_mb", "Float64", "peak resident memory of the process in MiB (process-wide)"),
    *_measured("outcome"),
    Column("oom_retry_from_batch", "Int64", "original batch size when an out-of-memory error was retried at half"),
    Column("history_file", "string", "per-epoch history, relative to the table folder"),
)

COLUMN_NAMES = tuple(c.name for c in COLUMNS)
DTYPES = {c.name: c.dtype for c in COLUMNS}


#: The trials table (`zoo tune`): every results column, then these; and one column per searched knob, named
#: after it (`stem`, `lr`, ...: the trial's value), which a search declares by its search space.
TRIAL_COLUMNS: tuple[Column, ...] = (
    Column("trial_id", "string", "keras-tuner's trial id within the search"),
    Column("tuner_id", "string", "the process that ran the trial (`tuner0`, a worker's name)"),
    Column("score", "Float64", "the trial's objective: best validation top-1 (the mean over its seeds)",
           unit="fraction"),
    Column("score_ci95", "Float64", "half-width of the score's 95% interval over the trial's seeds (empty for one "
                                    "seed)", unit="fraction"),
    Column("score_seeds", "string", "each seed's best validation top-1, as JSON"),
    Column("seeds", "Int64", "training runs of the trial (`zoo tune --seeds`)"),
    Column("spec", "string", "the trial's whole architecture (`ResNetSpec.to_dict()`), as JSON"),
)

#: The throughput table (`zoo throughput`): one row per framework x backend x variant x mode (x loop, runtime).
THROUGHPUT_COLUMNS: tuple[Column, ...] = (
    Column("framework", "string", "`zoo`; `keras-applications` (keras.applications' ResNet50/101/152, same backend); "
                                  "`pytorch-eager`, `pytorch-compile` (PyTorch, when torch is installed: timm's model "
                                  "when timm loads, else `zoo.models.resnet.torch_reference`, the spec in plain torch.nn)"),
    Column("variant", "string", "registry name of the architecture (`model` in tables written before 2026-12-03)"),
    Column("spec_overrides", "string", "architecture fields changed from the variant's (`zoo throughput --set`), as "
                                       "JSON; empty for the registered variant"),
    Column("mode", "string", "`train` (forward, backward, SGD-momentum update), `inference` (a batch), or "
                             "`latency` (one image, `--latency`)"),
    Column("loop", "string", "train rows: `keras` (`train_on_batch`), `device` (JAX: the steps in one compiled call, "
                             "as `zoo train` runs on a GPU), `eager` or `compiled` (PyTorch)"),
    Column("runtime", "string", "latency rows: `keras`, or the runtime of the exported model (`saved_model`, "
                                "`onnx`: ONNX Runtime, `litert`: LiteRT's interpreter)"),
    Column("input_size", "Int64", "square input side", unit="px"),
    Column("batch_size", "Int64", "images a step (1 for latency rows)"),
    Column("precision", "string", "Keras dtype policy (PyTorch: autocast to the same compute dtype)"),
    Column("macs_per_image", "Int64", "multiply-accumulates of one forward pass (the zoo's count, also used for "
                                      "PyTorch's model of the same name)"),
    Column("steps", "Int64", "timed steps after the untimed warm-up"),
    Column("step_ms", "Float64", "median milliseconds a step (latency rows: a single-image call)", unit="ms"),
    Column("latency_p99_ms", "Float64", "latency rows: the 99th percentile of the single-image calls", unit="ms"),
    Column("images_per_second", "Float64", "batch / median step", unit="images/s"),
    Column("rounds_images_per_second", "string", "with `--rounds`: each round's images/s (the row keeps their "
                                                 "median)"),
    Column("tflops", "Float64", "achieved TFLOP/s: images/s x MACs x 2 (inference) or x 6 (training)", unit="TFLOP/s"),
    Column("peak_tflops", "Float64", "the device's dense peak for the precision (a data sheet's, or on a CPU its "
                                     "2048x2048 matrix product, measured once per host)", unit="TFLOP/s"),
    Column("mfu", "Float64", "tflops / peak_tflops (model FLOPs utilization)", unit="fraction"),
    Column("zoo_ratio", "Float64", "zoo images/s over this row's (same variant and mode): the zoo on this process's "
                                   "backend, or on the row's own backend for keras.applications"),
    Column("compile_seconds", "Float64", "device-loop rows: compiling the steps' call, before timing", unit="s"),
    Column("tf_onednn", "boolean", "TensorFlow rows: whether its oneDNN CPU kernels were on (`zoo.runtime`)"),
    Column("pytorch_model", "string", "PyTorch rows: which model ran (timm's, or the torch.nn reference)"),
    Column("status", "string", "`ok` or `failed`"),
    Column("error", "string", "why a failed row failed (out of memory at this batch, a runtime not installed...)"),
    *WHERE,
)


def columns_markdown(columns: tuple[Column, ...] = COLUMNS) -> str:
    """A table's column reference, as in benchmarks/README.md (a test keeps the two identical)."""
    lines = ["| column | type | unit | meaning |", "|---|---|---|---|"]
    lines += [f"| `{c.name}` | {c.dtype.lower()} | {c.unit} | {c.description} |" for c in columns]
    return "\n".join(lines)


def undeclared(row, columns: tuple[Column, ...], extra=()) -> list[str]:
    """The names in `row` (a dict or a table's columns) that neither `columns` nor `extra` declares."""
    declared = {c.name for c in columns} | set(extra)
    return [name for name in row if name not in declared]
