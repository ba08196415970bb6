"""The results table: one row per run, its schema, and safe appends shared by `zoo bench` and `zoo tune`.

A table is a folder::

    results.parquet   the table (pandas, typed columns in COLUMNS order)
    results.csv       the same rows as CSV
    results.md        a readable Markdown summary
    histories/        <run_id>.json: per-epoch history of each run, linked by the run_id column
    table.lock        the lock every writer holds while it rewrites the three files

`append_rows` takes an exclusive file lock, reads the current table, adds or replaces rows by `run_id`
and writes each file to a temporary name before an atomic rename: a killed writer leaves either the
old table or the new one, never half a file, and concurrent writers (two sweeps on one table) queue
on the lock.

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> table = append_rows(folder, [{"run_id": "a1", "variant": "resnet20", "top1": 0.91, "status": "ok"}])
>>> list(table["variant"]), float(table["top1"][0])
(['resnet20'], 0.91)
>>> len(read_table(folder))
1
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from zoo.errors import ZooError, first_line
from zoo.files import atomic_write_all, write_text_atomic
from zoo.training.result import column_metadata, table_fields

TABLE = "results.parquet"
CSV = "results.csv"
MARKDOWN = "results.md"
HISTORIES = "histories"
LOCK = "table.lock"


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


def columns_markdown() -> str:
    """The column reference of benchmarks/README.md (a test keeps the two identical)."""
    lines = ["| column | type | unit | meaning |", "|---|---|---|---|"]
    lines += [f"| `{c.name}` | {c.dtype.lower()} | {c.unit} | {c.description} |" for c in COLUMNS]
    return "\n".join(lines)


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns in schema order with schema dtypes (missing ones empty); extra columns kept at the end."""
    frame = frame.copy()
    for column in COLUMNS:
        if column.name not in frame:
            frame[column.name] = pd.NA
        if column.dtype == "boolean" and frame[column.name].dtype != "boolean":  # CSV text, object columns
            frame[column.name] = frame[column.name].map(
                lambda v: {"true": True, "false": False}.get(str(v).lower(), v if isinstance(v, bool) else pd.NA))
        frame[column.name] = frame[column.name].astype(column.dtype)
    extra = [c for c in frame.columns if c not in DTYPES]
    return frame[list(COLUMN_NAMES) + extra].reset_index(drop=True)


@contextlib.contextmanager
def locked(folder: str | os.PathLike):
    """Hold the table folder's exclusive lock (blocks until the other writer is done)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "a+") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: msvcrt locks the first byte instead
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
            try:
                yield
            finally:
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_table(folder_or_file: str | os.PathLike) -> pd.DataFrame:
    """A results table from its folder, its Parquet file or a CSV file (empty table when the folder has none).

    In a folder the Parquet file is the table; when it is missing or unreadable (a damaged copy), or older
    than the CSV beside it (a writer killed between the two renames), and the CSV reads, the CSV's rows are
    the table, so the next append rewrites both instead of starting over or losing a row.
    """
    path = Path(folder_or_file)
    if path.suffix in (".csv", ".parquet"):
        return _read_file(path)
    parquet, csv = path / TABLE, path / CSV
    if not parquet.exists():  # a new table folder, or its Parquet file lost: the CSV's rows
        return _read_file(csv) if csv.exists() else conform(pd.DataFrame())
    try:
        table = _read_file(parquet)
    except ZooError:
        if not csv.exists():
            raise
        return _read_file(csv)  # the Parquet file is damaged: its CSV copy
    return _read_file(csv) if csv.exists() and _csv_is_newer(table, csv) else table


def _csv_is_newer(table: pd.DataFrame, csv: Path) -> bool:
    """Whether the CSV holds a later write than the Parquet file: `append_rows` renames the CSV into place
    first, so a writer killed between the two renames leaves a CSV with rows (or row versions) that the
    Parquet file lacks."""
    keys = ["run_id", "finished"]
    try:
        written = pd.read_csv(csv, usecols=lambda c: c in keys, dtype=str, keep_default_na=False)
    except Exception:  # an unreadable CSV is not a newer one
        return False
    mine = table.reindex(columns=keys).astype("string").fillna("")
    return written.reindex(columns=keys).fillna("").values.tolist() != mine.values.tolist()


def _read_file(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".csv":
            with warnings.catch_warnings():  # a row longer than the header: an error, not a silent index
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], index_col=False)
        else:
            frame = pd.read_parquet(path)
        return conform(frame)
    except FileNotFoundError:
        raise ZooError(f"table {path} does not exist") from None
    except Exception as exc:  # pyarrow and pandas raise many types for damaged files
        raise ZooError(f"cannot read table {path} (truncated or corrupt?): {first_line(exc)}") from None


def check_writable(folder: str | os.PathLike) -> None:
    """Fail now, with the reason, if a table cannot be written in `folder` (before any run trains)."""
    folder = Path(folder)
    try:
        with locked(folder):
            write_text_atomic(folder / ".write-check", "")
            (folder / ".write-check").unlink()
    except OSError as exc:
        raise ZooError(f"cannot write the table folder {folder}: {exc.strerror or exc}") from None


def append_rows(folder: str | os.PathLike, rows: list[dict], *, markdown=None) -> pd.DataFrame:
    """Add rows to the table in `folder` (a row with an existing run_id replaces it, in place); return the table.

    `markdown(table) -> str` renders results.md (default: `summary_markdown`).
    """
    folder = Path(folder)
    with locked(folder):
        for stale in folder.glob(".results.*.tmp"):  # left by a writer killed mid-write (we hold the lock)
            stale.unlink(missing_ok=True)
        table = read_table(folder)
        new = conform(pd.DataFrame(rows))
        if len(table):
            position = {run_id: i for i, run_id in enumerate(table["run_id"])}
            for run_id in new["run_id"]:
                position.setdefault(run_id, len(position))
            kept = table[~table["run_id"].isin(set(new["run_id"]))]
            table = pd.concat([kept, new], ignore_index=True)
            table = conform(table.iloc[table["run_id"].map(position).argsort(kind="stable")])
        else:
            table = new
        text = (markdown or summary_markdown)(table)
        # all three written first, then renamed in this order: a killed writer leaves the CSV as new as the
        # Parquet file or newer, never behind, and read_table then takes the CSV's rows
        atomic_write_all({folder / CSV: lambda tmp: table.to_csv(tmp, index=False),
                          folder / MARKDOWN: lambda tmp: Path(tmp).write_text(text),
                          folder / TABLE: lambda tmp: table.to_parquet(tmp, index=False)})
    return table


def ok_rows(table: pd.DataFrame, *required: str) -> pd.DataFrame:
    """Rows that finished ok (a table without a status column, like a hand-made one, counts as all ok)
    and have a value in every `required` column."""
    keep = table["status"].fillna("ok").eq("ok") if "status" in table else pd.Series(True, index=table.index)
    for column in required:
        keep &= table[column].notna()
    return table[keep]


def write_history(folder: str | os.PathLike, run_id: str, history: dict) -> str:
    """Save one run's per-epoch history; return its path relative to the table folder."""
    relative = f"{HISTORIES}/{run_id}.json"
    write_text_atomic(Path(folder) / relative, json.dumps(history, indent=1))
    return relative


def read_history(folder: str | os.PathLike, row) -> dict:
    """The per-epoch history of a table row ({} when the run has none)."""
    name = row["history_file"]
    if pd.isna(name):
        return {}
    path = Path(folder) / name
    return json.loads(path.read_text()) if path.exists() else {}


def time_to_accuracy(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (variant, data, recipe, overrides, target) with a time-to-accuracy target: seeds run,
    seeds that reached it, medians of the seconds and epochs to it and of the final top-1, and the means
    with their 95% intervals over seeds (`zoo.experiments.stats`; the seconds' only when every seed
    reached the target: a mean over the seeds that did would flatter the configuration).

    >>> rows = [{"run_id": str(s), "variant": "v", "recipe": "fast", "seed": s, "target_top1": 0.9,
    ...          "seconds_to_target": t, "epochs_to_target": e, "top1": 0.91, "status": "ok"}
    ...         for s, t, e in ((0, 10.0, 5), (1, 12.0, 6), (2, None, None))]
    >>> time_to_accuracy(conform(pd.DataFrame(rows)))[["variant", "seeds", "reached", "median s"]].values.tolist()
    [['v', 3, 2, 12.0]]
    >>> summary = time_to_accuracy(conform(pd.DataFrame(rows[:2])))   # both seeds reached it
    >>> summary[["mean s ± 95%", "mean top-1 % ± 95%"]].values.tolist()
    [['11.0 ± 12.7 (n=2)', '91.00 ± 0.00 (n=2)']]
    """
    import numpy as np

    from zoo.experiments.stats import interval

    def spread(values, scale: float = 1.0, digits: int = 1) -> str | None:
        found = interval(values)
        if not found.n:
            return None
        half = "n/a" if not math.isfinite(found.half) else f"{scale * found.half:.{digits}f}"
        return f"{scale * found.mean:.{digits}f} ± {half} (n={found.n})"

    runs = table[table["target_top1"].notna()]
    if not len(runs):
        return pd.DataFrame()
    keys = ["variant", "spec_overrides", "dataset_source", "recipe", "overrides", "target_top1"]
    out = []
    for key, group in runs.groupby(keys, dropna=False, sort=False):
        ok = group["status"].eq("ok")
        seconds = group["seconds_to_target"].astype("float64").where(ok).fillna(np.inf)
        epochs = group["epochs_to_target"].astype("float64").where(ok).fillna(np.inf)
        median_s, median_epochs = float(np.median(seconds)), float(np.median(epochs))
        values = dict(zip(keys, key))
        spec = {"spec": values["spec_overrides"]} if runs["spec_overrides"].notna().any() else {}
        out.append({"variant": values["variant"], **spec, "data": values["dataset_source"], "recipe": values["recipe"],
                    "overrides": values["overrides"], "target %": f"{100 * values['target_top1']:.2f}",
                    "seeds": len(group), "reached": int(group["seconds_to_target"].notna().sum()),
                    "median s": round(median_s, 1) if np.isfinite(median_s) else None,
                    "median epochs": median_epochs if np.isfinite(median_epochs) else None,
                    "median top-1 %": round(100 * float(group["top1"].astype("float64").median()), 2),
                    "mean s ± 95%": spread(group["seconds_to_target"]) if ok.all() and np.isfinite(seconds).all()
                    else None,
                    "mean top-1 % ± 95%": spread(group["top1"].where(ok), scale=100, digits=2)})
    return pd.DataFrame(out)


#: Where the runs' time went, in the order a run spends it: (label, how to get its seconds from the table).
#: `compile_seconds` is inside `build_seconds`; apart here, as the first train steps.
_PHASES = (("data", lambda t: t["data_seconds"]),
           ("building", lambda t: t["build_seconds"] - t["compile_seconds"].fillna(0.0)),
           ("first (compiling) steps", lambda t: t["compile_seconds"]),
           ("training steps", lambda t: t["train_seconds"]),
           ("validation", lambda t: t["validation_seconds"]),
           ("BN re-estimation", lambda t: t["precise_bn_seconds"]),
           ("test scoring", lambda t: t["test_seconds"]),
           ("inference timing", lambda t: t["inference_seconds"]),
           ("other", lambda t: t["other_seconds"]))


def _seconds(values) -> float:
    """A time column's (or phase's) seconds added up, missing values as zero."""
    return float(pd.to_numeric(values, errors="coerce").fillna(0.0).sum())


def time_split(table: pd.DataFrame) -> dict[str, float]:
    """Seconds per phase over the ok runs (they add up to their `wall_seconds`, data to other), the first,
    compiling steps apart from the later training steps.

    >>> row = {"run_id": "a", "status": "ok", "data_seconds": 1.0, "build_seconds": 9.0, "compile_seconds": 6.0,
    ...        "train_seconds": 40.0, "test_seconds": 3.0, "other_seconds": 1.0, "wall_seconds": 54.0}
    >>> split = time_split(conform(pd.DataFrame([row])))
    >>> split["training steps"], split["first (compiling) steps"], sum(split.values())
    (40.0, 6.0, 54.0)
    """
    runs = ok_rows(table)
    return {label: _seconds(seconds(runs)) for label, seconds in _PHASES}


def training_shares(table: pd.DataFrame) -> tuple[float, float] | None:
    """The ok runs' share of their wall time in training steps, without and with the first, compiling steps
    (in Keras' loop the first step trains a batch like the others; the device loop compiles without running
    one, so its compile time never counts as training). None when no ok run has a wall time.

    >>> row = {"run_id": "a", "status": "ok", "loop": "keras", "build_seconds": 9.0, "compile_seconds": 6.0,
    ...        "train_seconds": 40.0, "wall_seconds": 50.0}
    >>> training_shares(conform(pd.DataFrame([row])))
    (0.8, 0.92)
    """
    runs = ok_rows(table)
    wall = _seconds(runs["wall_seconds"])
    if wall <= 0:
        return None
    steps = _seconds(runs["train_seconds"])
    first = _seconds(runs["compile_seconds"].where(runs["loop"].fillna("keras").eq("keras")))
    return steps / wall, (steps + first) / wall


def time_split_line(table: pd.DataFrame) -> str:
    """One sentence: the ok runs' wall time and where it went, training steps first (`training_shares`).

    >>> row = {"run_id": "a", "status": "ok", "loop": "keras", "data_seconds": 1.0, "build_seconds": 9.0,
    ...        "compile_seconds": 6.0, "train_seconds": 40.0, "test_seconds": 3.0, "other_seconds": 1.0,
    ...        "wall_seconds": 54.0}
    >>> print(time_split_line(conform(pd.DataFrame([row]))))
    The 1 ok run took 54.0 s: training steps 40.0 s (74.1%; 85.2% with the first, compiling steps, which train a batch too), first (compiling) steps 6.0 s (11.1%), building 3.0 s (5.6%), test scoring 3.0 s (5.6%), data 1.0 s (1.9%), other 1.0 s (1.9%).
    """
    runs = ok_rows(table)
    shares = training_shares(runs)
    if shares is None:
        return ""
    split, wall = time_split(runs), _seconds(runs["wall_seconds"])
    rest = sorted(((label, s) for label, s in split.items() if label != "training steps" and s > 0.05),
                  key=lambda item: -item[1])
    parts = [f"training steps {split['training steps']:.1f} s ({100 * shares[0]:.1f}%; {100 * shares[1]:.1f}% "
             f"with the first, compiling steps, which train a batch too)"]
    parts += [f"{label} {s:.1f} s ({100 * s / wall:.1f}%)" for label, s in rest]
    return f"The {len(runs)} ok run{'' if len(runs) == 1 else 's'} took {wall:.1f} s: {', '.join(parts)}."


# -- the Markdown summary ---------------------------------------------------------------------------

SUMMARY = (("variant", "variant"), ("dataset_source", "data"), ("recipe", "recipe"), ("seed", "seed"),
           ("epochs", "epochs"), ("batch_size", "batch"), ("precision", "precision"), ("params", "params"),
           ("macs_per_image", "MACs"), ("top1", "top-1 %"), ("top5", "top-5 %"),
           ("budget_seconds", "budget s"), ("images_seen", "images"), ("compile_seconds", "compile s"),
           ("train_seconds", "train s"), ("wall_seconds", "wall s"),
           ("seconds_per_epoch", "s/epoch"), ("train_images_per_second", "train img/s"),
           ("inference_images_per_second", "infer img/s"), ("status", "status"))
SHARED = ("backend", "backend_version", "keras_version", "device", "host", "git_sha")


def summary_cell(key: str, value):
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if key in ("top1", "top5"):
        return f"{100 * value:.2f}"
    if key == "macs_per_image":
        from zoo.models.macs import format_count

        return format_count(int(value))
    if key in ("train_seconds", "seconds_per_epoch", "compile_seconds", "wall_seconds", "budget_seconds"):
        return f"{value:.1f}"
    if key.endswith("per_second"):
        return f"{value:,.0f}"
    if hasattr(value, "item"):
        return value.item()
    return value


def summary_markdown(table: pd.DataFrame, *, title: str | None = None) -> str:
    """A readable Markdown summary: environment shared by every row once, one line per run, then each
    configuration over its seeds with intervals and ties (`zoo.experiments.stats.seed_summary`)."""
    from zoo.experiments.stats import MIN_SEEDS, seed_summary
    from zoo.markdown import format_table

    lines = [f"# {title}", ""] if title else []
    if not len(table):
        return "\n".join(lines + ["(no runs yet)", ""])
    shared = [(key, table[key].iloc[0]) for key in SHARED if table[key].nunique(dropna=False) == 1]
    if shared:
        lines += [", ".join(f"{key}: {'' if pd.isna(v) else v}" for key, v in shared), ""]
    columns = list(SUMMARY) + [(key, key) for key in SHARED if key not in dict(shared)]
    rows = [{key: summary_cell(key, row[key]) for key, _ in columns} for _, row in table.iterrows()]
    lines.append(format_table(rows, columns))
    by_config = seed_summary(table)
    if len(by_config) > 1 or (len(by_config) and by_config["n"].max() > 1):
        lines += ["", "By configuration (top-1 mean ± its 95% interval over seeds; one seed: the test set's "
                      f"sampling interval alone). A ranking needs {MIN_SEEDS} seeds a side; `tie`: the "
                      "difference from the best is inside its interval:", ""]
        lines.append(format_table(by_config.to_dict("records"), [(c, c) for c in by_config.columns]))
    targets = time_to_accuracy(table)
    if len(targets):
        lines += ["", "Time to accuracy (medians over seeds; a seed that never reached the target counts as "
                      "infinitely slow, so the median is empty when half or more missed):", ""]
        lines.append(format_table(targets.to_dict("records"), [(c, c) for c in targets.columns]))
    split = time_split_line(table)
    if split:
        lines += ["", split]
    problems = table[table["status"] != "ok"]
    if len(problems):
        lines += ["", "Runs that did not finish ok:", ""]
        lines += [f"- {r.variant} / {r.dataset} / {r.recipe} / seed {r.seed}: {r.status}: {r.error}"
                  for r in problems.itertuples()]
    return "\n".join(lines) + "\n"
