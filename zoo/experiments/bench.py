"""`zoo bench`: run a sweep, one row per run in one results table; resumable, failures are rows.

>>> import tempfile
>>> from zoo.experiments.sweeps import parse_sweep
>>> sweep = parse_sweep('''
... [[group]]
... variants = ["resnet_tiny"]
... recipes = ["mnist_functional"]
... datasets = ["digits"]
... limit = 64
... overrides = { epochs = 1, batch_size = 32 }
... ''', name="doc")
>>> table = run_sweep(sweep, out=tempfile.mkdtemp(), verbose=0, plots=False, log=lambda line: None)
>>> table[["variant", "dataset_source", "epochs", "status"]].values.tolist()
[['resnet_tiny', 'digits', 1, 'ok']]

Each run: train with the recipe (compilation and warm-up timed apart from training), evaluate on the test
split, time inference on a fixed batch, then append the row under the table's file lock. A rerun of the
same sweep skips run ids already in the table (`retry_failed` reruns the ones that did not end ok).
Several processes (or hosts on a shared filesystem) on one table divide the runs: each run is claimed
under the table's lock before it starts, and a run another live process holds is skipped (`zoo.experiments.claims`).
A non-finite loss stops a run as `diverged`; an out-of-memory error retries once at half the batch; any
other exception becomes a `failed` row with its message, and the sweep goes on.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import time
import traceback
from pathlib import Path
from typing import Callable

import keras
import pandas as pd

from zoo.backends import BACKEND_PACKAGES
from zoo.environment import environment, load_average, mib, peak_host_memory
from zoo.errors import ZooError, error_text
from zoo.experiments.claims import Heartbeat, claim, holder, release
from zoo.experiments.isolate import ProcessDied, call_isolated
from zoo.experiments.results import HISTORIES, append_rows, locked, prepare_table, read_table, write_history
from zoo.experiments.sweeps import PlannedRun, Sweep, pending_runs
from zoo.experiments.summary import summary_markdown
from zoo.files import write_text_atomic
from zoo.training.budget import other_seconds
from zoo.training.progress import Display
from zoo.training.recipes import get_recipe
from zoo.training.result import table_row

#: Where `train_row` hands `write_run_files` the effective spec of a run with spec overrides.
SPEC_KEY = "_spec"
#: The table folder's subfolder holding unfinished runs' checkpoints (one folder per run id, removed when done).
CHECKPOINTS = "checkpoints"
OOM_MARKERS = ("resource_exhausted", "resource exhausted", "out of memory", "outofmemory", "oom when allocating",
               "failed to allocate")


def is_out_of_memory(exc: BaseException) -> bool:
    """True for the out-of-memory errors of every backend (XLA RESOURCE_EXHAUSTED, torch OOM, MemoryError)."""
    if isinstance(exc, MemoryError) or type(exc).__name__ in ("OutOfMemoryError", "ResourceExhaustedError"):
        return True
    text = f"{type(exc).__name__} {exc}".lower()
    return any(marker in text for marker in OOM_MARKERS)


def _train_kwargs(run: PlannedRun, data_dir, verbose: int, tensorboard, progress, checkpoint=None) -> dict:
    """`zoo.train`'s arguments for `run` (progress, TensorBoard and a checkpoint folder only when asked for)."""
    extra = {"progress": progress} if progress else {}
    if checkpoint is not None:
        extra["checkpoint"] = checkpoint
    if tensorboard:
        extra["tensorboard"] = Path(tensorboard) / f"{run.run_id}-{run.variant}"
    return dict(**extra, data_dir=data_dir, limit=run.limit, test_limit=run.test_limit, out_dir=None, verbose=verbose,
                measure_inference=run.inference_batch > 0, inference_batch=run.inference_batch or 1,
                target_top1=run.target_top1, dataset=run.dataset, seed=run.seed, **run.overrides)


def train_row(run: PlannedRun, *, sweep: str, data_dir=None, verbose: int = 1, train_fn: Callable | None = None,
              progress: Callable[[dict], None] | None = None, tensorboard: str | Path | None = None,
              release_session: bool = True, checkpoint: Path | None = None) -> tuple[dict, dict | None, str | None]:
    """Train one planned run, writing no file: (its table row, its history or None, the traceback of its
    failure or None). Never raises for a failing run. `progress` gets its training progress events
    (`zoo.training.progress`); with `tensorboard`, its TensorBoard logs go to `tensorboard/<run_id>-<variant>`.
    `release_session=False` skips clearing Keras' session afterwards (a process that ends with the run).
    With `checkpoint` (a folder), the run saves its state after every epoch and continues from there when it
    was killed before (`zoo.training.checkpoint`; Keras' fit loop only: other loops train without one)."""
    if train_fn is None:
        from zoo.training.trainer import train as train_fn
    row = planned_row(run, sweep)
    start = time.perf_counter()
    kwargs = _train_kwargs(run, data_dir, verbose, tensorboard, progress, checkpoint)
    result, history, failure = None, None, None
    try:
        try:
            result = train_fn(run.model(), run.recipe, **kwargs)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            batch = get_recipe(run.recipe, **run.overrides).batch_size
            row["oom_retry_from_batch"] = batch
            if batch < 2:
                raise
            _release()
            kwargs["batch_size"] = batch // 2
            result = train_fn(run.model(), run.recipe, **kwargs)
    except Exception as exc:  # the row records it; the sweep goes on
        row["status"] = "oom" if is_out_of_memory(exc) else "failed"
        row["error"] = error_text(exc)
        failure = traceback.format_exc()
        if row.get("oom_retry_from_batch"):
            row["batch_size"] = row["oom_retry_from_batch"] // 2
            row["error"] = f"out of memory at batch {row['oom_retry_from_batch']} and at half: {row['error']}"
    if result is not None:
        row.update(table_row(result))
        if row.get("oom_retry_from_batch"):
            note = f"out of memory at batch {row['oom_retry_from_batch']}; retried at {row['batch_size']}"
            row["error"] = f"{note}; {row['error']}" if row.get("error") else note
        history = {**result.get("history", {}), "epoch_seconds": result.get("epoch_seconds", [])}
        if run.spec:  # the architecture as trained, beside the history (`write_run_files`)
            history[SPEC_KEY] = result.get("spec")
    del result
    if release_session:
        _release()
    row["peak_host_memory_mb"] = mib(peak_host_memory())
    row["load_average"] = load_average()  # after the run: what ran beside it shows here
    row["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    row["wall_seconds"] = time.perf_counter() - start
    row["other_seconds"] = other_seconds(row, row["wall_seconds"])
    return row, history, failure


def write_run_files(out: Path, run: PlannedRun, row: dict, history: dict | None, failure: str | None) -> dict:
    """Write a trained run's history (its row then names the file) and its failure's traceback into the
    table folder `out`; return the row."""
    if failure:
        write_text_atomic(Path(out) / "errors" / f"{run.run_id}.txt", failure)
    if history is not None:
        spec = history.pop(SPEC_KEY, None)
        if spec is not None:
            write_text_atomic(Path(out) / HISTORIES / f"{run.run_id}.spec.json", json.dumps(spec, indent=1))
        row["history_file"] = write_history(out, run.run_id, history)
    return row


def run_one(run: PlannedRun, *, sweep: str, out: Path, **kwargs) -> dict:
    """Train one planned run (`train_row`'s arguments) and return its table row, its history and failure
    written into the table folder `out` (never raises for a failing run)."""
    kwargs.setdefault("checkpoint", Path(out) / CHECKPOINTS / run.run_id)
    return write_run_files(out, run, *train_row(run, sweep=sweep, **kwargs))


def planned_row(run: PlannedRun, sweep: str) -> dict:
    """A run's row before it trains: what it is and where it runs (this process's environment)."""
    return {"run_id": run.run_id, "sweep": sweep, "variant": run.variant, "dataset": run.dataset,
            "recipe": run.recipe, "overrides": json.dumps(run.overrides, sort_keys=True), "seed": run.seed,
            "spec_overrides": json.dumps(run.spec, sort_keys=True) if run.spec else None,
            "inference_batch": run.inference_batch, **environment(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S")}


def run_isolated(run: PlannedRun, *, sweep: str, out: Path, progress: Callable[[dict], None] | None = None,
                 **kwargs) -> dict:
    """`run_one` in a fresh process (`zoo.experiments.isolate`), on the run's own backend when it names one; a process
    that dies mid-run, or a backend that is not installed, becomes a `failed` row."""
    start = time.perf_counter()
    other = run.backend not in (None, keras.backend.backend())
    try:
        package = BACKEND_PACKAGES[run.backend] if other else None
        if package and importlib.util.find_spec(package) is None:
            raise ZooError(f"the {run.backend} backend is not installed (pip install {package})")
        env = {"KERAS_BACKEND": run.backend} if other else None
        return call_isolated(run_one, run, sweep=sweep, out=out, env=env, on_event=progress, release_session=False,
                             **kwargs)
    except (ProcessDied, ZooError) as exc:
        row = failed_row(run, sweep, str(exc), wall_seconds=time.perf_counter() - start)
        return {**row, "backend": run.backend or row["backend"]}


def failed_row(run: PlannedRun, sweep: str, error: str, **columns) -> dict:
    """The row of a run that never returned one (its process or worker died, its backend is missing):
    `failed`, the error (at most 500 characters), finished now, plus `columns`."""
    return {**planned_row(run, sweep), "status": "failed", "error": error[:500],
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), **columns}


def _release() -> None:
    """Free the finished run's graphs and device buffers before the next one."""
    keras.backend.clear_session()
    gc.collect()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def describe_outcome(row: dict) -> str:
    if row.get("status") != "ok":
        return f"{row.get('status')}: {row.get('error')}"
    top1 = f"top-1 {100 * row['top1']:.2f}%"
    return f"ok, {top1}, {row['train_seconds']:.1f} s training, {row['wall_seconds']:.1f} s in all"


class LocalExecutor:
    """Runs one run at a time to its end, in this process or (`isolate`) in a fresh process per run: the
    executor of a plain `zoo bench`; several such processes on one table divide the runs by their claims."""

    slots = 1
    where = ""

    def __init__(self, runner: Callable, **kwargs):
        self.runner, self.kwargs, self._queued = runner, kwargs, []

    def submit(self, run: PlannedRun) -> None:
        self._queued.append(run)

    def collect(self):
        """Yield (run, row) for the run submitted: trained now, its files written into the table folder."""
        run = self._queued.pop(0)
        yield run, self.runner(run, **self.kwargs)

    def outcome(self, run: PlannedRun, row: dict) -> str:
        return f"    {describe_outcome(row)}"

    def cancel(self) -> int:
        return 0


def drive(sweep: Sweep, out: Path, executor, *, retry_failed: bool, display: Display, plots: bool) -> pd.DataFrame:
    """The one sweep loop, whatever runs the runs (`LocalExecutor`, `zoo.experiments.ray_sweep.RayExecutor`):
    plan what is pending, claim each run under the table's lock just before it is handed to the executor
    (runs another process holds or wrote are skipped), keep the claims' heartbeats, append each row as its
    run ends and release its claim; Ctrl-C cancels what the executor still runs (a rerun resumes)."""
    log = display.log
    prepare_table(out, log)
    todo = pending_runs(sweep, read_table(out), retry_failed=retry_failed)
    skipped = len(sweep.runs) - len(todo)
    log(f"sweep {sweep.name}: {len(sweep.runs)} runs, {skipped} already in {out}, {len(todo)} to run{executor.where}")
    display.sweep(sweep.name, len(todo))
    began, queue, active, index = time.perf_counter(), list(todo), {}, 0
    try:
        with Heartbeat() as heartbeat:
            while queue or active:
                while queue and len(active) < executor.slots:
                    run, index = queue.pop(0), index + 1
                    mine = _claim(out, run, f"[{skipped + index}/{len(sweep.runs)}] {run.label}", retry_failed, log)
                    if mine is None:
                        display.finished("skipped")
                        continue
                    if executor.slots == 1:
                        elapsed = time.perf_counter() - began
                        eta = f", ETA {_duration(elapsed / (index - 1) * (len(todo) - index + 1))}" if index > 1 else ""
                        log(f"[{skipped + index}/{len(sweep.runs)}] {run.label}  (elapsed {_duration(elapsed)}{eta})")
                        display.run(f"{run.variant} · {run.dataset}")
                    heartbeat.add(mine)
                    active[run.run_id] = (run, mine)
                    executor.submit(run)
                if executor.slots > 1:
                    display.running(min(len(active), getattr(executor, "capacity", len(active))))
                for run, row in executor.collect() if active else ():
                    append_rows(out, [row], markdown=lambda t: summary_markdown(t, title=f"sweep {sweep.name}"))
                    release(active.pop(run.run_id)[1])
                    log(executor.outcome(run, row))
                    display.finished("ok" if row.get("status") == "ok" else "failed")
    except KeyboardInterrupt:
        cancelled = executor.cancel()
        if cancelled:
            log(f"sweep {sweep.name}: interrupted; {cancelled} run(s) cancelled (rerun to resume)")
        raise
    finally:
        for _, mine in active.values():
            release(mine)
    display.running(0)
    return finish_sweep(sweep, out, began=began, plots=plots, log=log)


def _claim(out: Path, run: PlannedRun, head: str, retry_failed: bool, log: Callable[[str], None]):
    """Claim `run` for this process under the table's lock; None (and a line saying why) when it has a row
    by now or another live process holds it."""
    with locked(out):
        done = not pending_runs(Sweep("", "", (run,)), read_table(out), retry_failed=retry_failed)
        mine = None if done else claim(out, run.run_id, log=log)
    if mine is None:
        who = None if done else holder(out, run.run_id)
        log(f"{head}: skipped, " + (f"running in {who['host']} pid {who['pid']}" if who
                                     else "written meanwhile by another sweep"))
    return mine


def run_sweep(sweep: Sweep, *, out: str | Path, data_dir=None, verbose: int = 1, retry_failed: bool = False,
              plots: bool = True, log: Callable[[str], None] = print, train_fn: Callable | None = None,
              isolate: bool = False, display: Display | None = None,
              tensorboard: str | Path | None = None) -> pd.DataFrame:
    """Run every pending run of `sweep`, appending a row to the table in `out` after each; return the table.

    `isolate` runs each in a fresh process (`zoo.experiments.isolate`: what `zoo bench` does), so every run
    starts from the same state and the sweep's memory stays that of its largest run; `train_fn` must then
    pickle. A `display` (`zoo.training.progress.Display`) shows the sweep's progress and each run's training
    (with `verbose`) and takes the log lines; without one they go to `log`. `tensorboard`: a folder for every run's
    TensorBoard logs (one subfolder per run).
    """
    display = display or Display(log=log)
    foreign = sorted({r.backend for r in sweep.runs} - {None, keras.backend.backend()})
    if foreign and not isolate:
        raise ZooError(f"sweep {sweep.name} lists backends {', '.join(foreign)}: they need a process per run "
                       f"(zoo bench without --in-process)")
    out = Path(out)
    executor = LocalExecutor(run_isolated if isolate else run_one, sweep=sweep.name, out=out, data_dir=data_dir,
                             verbose=verbose, train_fn=train_fn, progress=display if verbose else None,
                             tensorboard=tensorboard)
    return drive(sweep, out, executor, retry_failed=retry_failed, display=display, plots=plots)


def finish_sweep(sweep: Sweep, out: Path, *, began: float, plots: bool, log: Callable[[str], None]) -> pd.DataFrame:
    """A sweep's end, however its runs ran: the table's plots (with `plots`), the closing line, the table."""
    table = read_table(out)
    if plots and len(table):
        from zoo.experiments.plots import write_plots

        for path in write_plots(out, table):
            log(f"plot: {path}")
    log(f"sweep {sweep.name}: done in {_duration(time.perf_counter() - began)}; table {out / 'results.parquet'}")
    return table
