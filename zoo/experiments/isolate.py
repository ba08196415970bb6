"""Call a function in a fresh process, so that one training run cannot slow down or bloat the next.

Why: in a long sweep in one process the time outside every measured phase grew run after run (from under
a second to about a minute) and so did the peak memory, although each run's session was cleared (measured
in benchmarks/results/cpu-2core/README.md). A process per run starts every run from the same state and
gives its memory back to the system when it ends.

The processes come from a fork server that has imported `zoo.training.trainer` (and with it Keras and the backend)
once, so a run starts at once instead of importing the backend again; nothing has run on the backend in the
server when it forks. Where there is no fork server (Windows), runs start with "spawn" and import
everything themselves.

>>> import operator
>>> call_isolated(operator.add, 2, 3)
5
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from typing import Any, Callable

import zoo.quiet  # noqa: F401  (first: in a spawned run it hooks the backend's import, see zoo.quiet)
from zoo.errors import ZooError

# zoo.quiet first: it hooks the backend's import
PRELOAD = ["zoo.quiet", "zoo.training.trainer", "zoo.experiments.bench"]


class ProcessDied(ZooError):
    """The process running a call ended without returning or raising (killed, crashed, or exited)."""

    def __init__(self, exitcode: int | None):
        self.exitcode = exitcode
        super().__init__(f"the run's process {describe_exit(exitcode)}")


class ProcessTimedOut(ZooError):
    """The process running a call gave no answer within its time limit (it is stopped)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        super().__init__(f"the run's process gave no result within {seconds:g} s and was stopped")


def describe_exit(exitcode: int | None) -> str:
    """How a process ended, in words: `killed by SIGKILL (...)`, `exited with status 3`."""
    if exitcode is None:
        return "did not end"
    if exitcode < 0:
        name = signal.Signals(-exitcode).name if -exitcode in signal.Signals._value2member_map_ else -exitcode
        hint = " (often the kernel's out-of-memory killer)" if -exitcode == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with status {exitcode} without a result"


def _context():
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """These environment variables set while a child starts (it inherits them), the old ones back after."""
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def start_server() -> None:
    """Start the fork server now, so that its imports overlap the caller's own (the first run starts sooner)."""
    context = _context()
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


#: How often a call's process checks that its caller still lives (`_end_with`).
WATCH_SECONDS = 1.0


def _end_with(caller: int) -> None:
    """End this process once `caller` is gone. Why: a sweep stopped by SIGTERM or SIGKILL cannot stop its
    run's process (it comes from the fork server, not from the sweep), which then trained on unseen for the
    rest of the run (18 minutes once, slowing what ran next); its last epoch is in its checkpoint."""
    while True:
        time.sleep(WATCH_SECONDS)
        try:
            os.kill(caller, 0)
        except ProcessLookupError:
            os._exit(1)
        except OSError:  # alive, but not ours to signal
            pass


def _child(connection, fn, args, kwargs, events: bool, caller: int | None = None) -> None:
    if caller is not None:
        threading.Thread(target=_end_with, args=(caller,), daemon=True, name="zoo-caller-watch").start()
    if events:  # the caller's on_event gets what fn reports through its `progress` argument
        kwargs = {**kwargs, "progress": lambda event: connection.send(("event", event))}
    try:
        answer = ("ok", fn(*args, **kwargs))
    except BaseException as exc:  # sent back and raised in the caller
        answer = ("error", exc)
    try:
        connection.send(answer)
    except Exception as exc:  # an unpicklable answer or exception: send its text
        connection.send(("error", RuntimeError(f"{type(answer[1]).__name__}: {answer[1]} ({exc})")))
    connection.close()


def _answer(receive, process, on_event, timeout: float | None) -> tuple[str, Any]:
    """The child's final ("ok" | "error", value), handing its ("event", value) messages to `on_event`;
    `ProcessTimedOut` when none came within `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if deadline is not None and not receive.poll(max(deadline - time.monotonic(), 0.0)):
            raise ProcessTimedOut(timeout)
        try:
            status, value = receive.recv()
        except EOFError:  # closed without an answer: the process died
            process.join()
            raise ProcessDied(process.exitcode) from None
        if status != "event":
            return status, value
        on_event(value)


def call_isolated(fn: Callable, *args, env: dict[str, str] | None = None,
                  on_event: Callable[[Any], None] | None = None, timeout: float | None = None, **kwargs) -> Any:
    """`fn(*args, **kwargs)` in a new process: its return value, or its exception raised here.

    `fn`, its arguments and its result must pickle (module-level functions, plain data). A process that dies
    without answering raises `ProcessDied`; Ctrl-C here stops the process too, and a caller killed outright
    (SIGTERM, SIGKILL) takes it along within `WATCH_SECONDS`. `env` (say
    `{"KERAS_BACKEND": "jax"}`) starts a fresh interpreter with those variables instead of forking from the
    server, which has Keras imported already. With `on_event`, `fn` also gets a `progress` argument: a
    function whose (picklable) arguments reach `on_event` here while `fn` runs. With `timeout` (seconds), a
    call still running then is stopped and raises `ProcessTimedOut`.
    """
    context = _context() if not env else multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(send, fn, args, kwargs, on_event is not None, os.getpid()))
    with _environment(env or {}):
        process.start()
    send.close()
    try:
        status, value = _answer(receive, process, on_event, timeout)
        process.join()
    finally:
        if process.is_alive():
            process.terminate()
            process.join()
        receive.close()
    if status == "error":
        raise value
    return value
