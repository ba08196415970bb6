"""Sweeps on a Ray cluster: `zoo bench SWEEP --ray [ADDRESS]`, one Ray task per pending run.

Ray does the scheduling (resources per run, placement over the nodes, retries of a run whose worker
died); zoo only submits the runs and writes what comes back. Each run is a task in a fresh worker process
(`max_calls=1`: its memory goes back to the node when it ends) with the sweep's backend in its
environment; it trains on the node that Ray picks and returns its row, history and failure to the
driver, which is the table's only writer: rows are appended as tasks finish, in the order they finish.
Runs are claimed in the table folder like a local sweep's (`zoo.experiments.claims`), so a local `zoo bench` on the
same table skips them. A task whose worker dies is retried `retries` times, then becomes a `failed` row
naming the node it last ran on. Ctrl-C cancels the tasks still pending or running; a rerun resumes.

Every node needs zoo installed and the data at the same `--data-dir` path; the table folder needs to be
visible to the driver only.

    ray start --head --port 6379                      # on the head machine
    ray start --address HEAD_IP:6379                  # on every other machine
    zoo bench articles --ray HEAD_IP:6379 --data-dir /shared/datasets
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from zoo.backends import configured_backend
from zoo.errors import ZooError, error_text, first_line
from zoo.experiments.sweeps import PlannedRun, Sweep
from zoo.training.progress import Display

INSTALL_HINT = 'pip install -e ".[ray]" (or pip install "ray>=2.9")'


def import_ray():
    """Ray, imported only when a sweep asks for it; a clear error when it is not installed."""
    try:
        import ray
    except ImportError:
        raise ZooError(f"--ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def node_label(node_id: str, ip: str) -> str:
    """`3959b0ba@10.0.0.5`: a Ray node, short and readable."""
    return f"{node_id[:8]}@{ip}"


class _Starts:
    """A Ray actor that remembers where each run was started (node and attempt count), so that a run whose
    worker died can name its node."""

    def __init__(self):
        self.nodes: dict[str, list[str]] = {}

    def started(self, run_id: str, node: str) -> None:
        self.nodes.setdefault(run_id, []).append(node)

    def where(self, run_id: str) -> list[str]:
        return self.nodes.get(run_id, [])


def _task(run: PlannedRun, sweep: str, data_dir, tensorboard, starts) -> tuple[dict, dict | None, str | None]:
    """One run on a Ray worker: report the node, train, return (row, history, failure)."""
    import ray

    context = ray.get_runtime_context()
    node = node_label(context.get_node_id(), ray.util.get_node_ip_address())
    # first, and without waiting: a worker killed later still names its node; a task blocked in ray.get
    # lends its CPU to the next task, which would then train beside it
    starts.started.remote(run.run_id, node)
    from zoo.experiments.bench import train_row

    row, history, failure = train_row(run, sweep=sweep, data_dir=data_dir, verbose=0, tensorboard=tensorboard,
                                      release_session=False)
    row.update(node=node, attempts=len(ray.get(starts.where.remote(run.run_id))))  # after started(): same caller
    return row, history, failure


def connect(ray, address: str | None) -> bool:
    """Connect to the cluster at `address` ("auto", "host:port") or start a local Ray (None); return
    whether this process started it (and so must shut it down)."""
    import logging

    if ray.is_initialized():
        return False
    options = dict(logging_level=logging.WARNING, log_to_driver=False, configure_logging=True)
    try:
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(include_dashboard=False, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"at {address}" if address else "locally"
        raise ZooError(f"cannot start or reach a Ray cluster {where}: {first_line(exc)}") from None
    return not address


def _slots(ray, cpus: float, gpus: float) -> int:
    """How many runs the live nodes hold at once; a request no node can satisfy is refused (Ray would wait
    for it forever)."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    slots = sum(int(min(n.get("CPU", 0) // cpus, n.get("GPU", 0) // gpus if gpus else float("inf"))) for n in nodes)
    if not slots:
        have = ", ".join(f"{n.get('CPU', 0):g} CPU/{n.get('GPU', 0):g} GPU" for n in nodes) or "no live node"
        raise ZooError(f"no Ray node has {cpus:g} CPUs and {gpus:g} GPUs for a run (nodes: {have}); "
                       "lower --cpus-per-run / --gpus-per-run")
    return slots


def _failed_row(run: PlannedRun, sweep: str, exc: BaseException, nodes: list[str]) -> dict:
    """The row of a run whose task failed (its worker died more often than the retries allow)."""
    from zoo.experiments.bench import failed_row

    where = nodes[-1] if nodes else "no node (it never started)"
    return failed_row(run, sweep, f"Ray task failed on {where} after {len(nodes)} attempt(s): "
                                  + error_text(exc, limit=None),
                      node=nodes[-1] if nodes else None, attempts=len(nodes))


def run_sweep_on_ray(sweep: Sweep, *, out: str | Path, address: str | None = None, data_dir=None,
                     cpus_per_run: float = 1, gpus_per_run: float | None = None, retries: int = 2,
                     retry_failed: bool = False, tensorboard=None, plots: bool = True,
                     display: Display | None = None, log: Callable[[str], None] = print):
    """Run every pending run of `sweep` as a Ray task; append each row to the table in `out` as its task
    ends; write the plots (with `plots`); return the table. `gpus_per_run` defaults to 1 when the cluster
    has GPUs, else 0. The sweep loop is the local one's (`zoo.experiments.bench.drive`); only the executor
    differs."""
    from zoo.experiments.bench import drive

    ray = import_ray()
    display = display or Display(log=log)
    out = Path(out)
    started_here = connect(ray, address)
    try:
        gpus = gpus_per_run if gpus_per_run is not None else (1 if ray.cluster_resources().get("GPU", 0) else 0)
        executor = RayExecutor(ray, sweep.name, out, data_dir=data_dir, cpus=cpus_per_run, gpus=gpus,
                               retries=retries, tensorboard=tensorboard)
        return drive(sweep, out, executor, retry_failed=retry_failed, display=display, plots=plots)
    finally:
        if started_here:
            ray.shutdown()


class RayExecutor:
    """Runs as Ray tasks, all submitted at once (Ray queues them on the nodes' resources), each in a fresh
    worker (`max_calls=1`) with the sweep's backend in its environment; `collect` waits for the next to end
    and writes its files (the driver is the table's only writer). A task whose worker died more often than
    `retries` becomes a `failed` row naming its node."""

    slots = float("inf")

    def __init__(self, ray, sweep: str, out: Path, *, data_dir, cpus: float, gpus: float, retries: int, tensorboard):
        self.ray, self.sweep, self.out = ray, sweep, out
        self.capacity = _slots(ray, cpus, gpus)
        self.options = dict(num_cpus=cpus, num_gpus=gpus, max_retries=retries, retry_exceptions=False)
        self.data_dir, self.tensorboard = data_dir, tensorboard
        self.starts = ray.remote(num_cpus=0)(_Starts).remote()
        self.task = ray.remote(max_calls=1)(_task)
        self.refs: dict = {}
        nodes = len([n for n in ray.nodes() if n.get("Alive")])
        self.where = f" on Ray ({nodes} node(s), {cpus:g} CPU and {gpus:g} GPU per run)"

    def submit(self, run: PlannedRun) -> None:
        env = {"KERAS_BACKEND": run.backend or configured_backend(), "ZOO_QUIET_BACKEND": "1",
               "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
        task = self.task.options(**self.options, runtime_env={"env_vars": env})
        self.refs[task.remote(run, self.sweep, self.data_dir, self.tensorboard, self.starts)] = run

    def collect(self):
        """Yield (run, row) for the tasks that ended, waiting for one (in short waits: Ctrl-C is seen at once)."""
        from zoo.experiments.bench import write_run_files

        done = []
        while not done:
            done, _ = self.ray.wait(list(self.refs), num_returns=1, timeout=1.0)
        for ref in done:
            run = self.refs.pop(ref)
            try:
                row, history, failure = self.ray.get(ref)
            except (self.ray.exceptions.RayError, OSError) as exc:
                nodes = self.ray.get(self.starts.where.remote(run.run_id))
                row, history, failure = _failed_row(run, self.sweep, exc, nodes), None, None
            yield run, write_run_files(self.out, run, row, history, failure)

    def outcome(self, run: PlannedRun, row: dict) -> str:
        from zoo.experiments.bench import describe_outcome

        return f"{run.label} on {row.get('node')}: {describe_outcome(row)}"

    def cancel(self) -> int:
        for ref in self.refs:
            self.ray.cancel(ref, force=True)
        return len(self.refs)
