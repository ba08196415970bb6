"""What a person sees while runs train: one display for a single run (`zoo train`) or a whole sweep
(`zoo bench`, `zoo tune`), on stderr so that stdout keeps only the result.

On a terminal it is a live rich display (the sweep's runs done / failed, elapsed and ETA over the current
run's bar: its epoch, loss and share of the budget); anywhere else (a file, a pipe, CI) it writes one plain
line per epoch and per run, with no control characters.

Training reports progress as plain dicts (`event`: "step" or "epoch"); they pickle, so a run in its own
process (`zoo.experiments.isolate`) sends them to the display in the sweep's process.

>>> import io
>>> from rich.console import Console
>>> with Display(Console(file=io.StringIO())) as display:
...     display({"event": "epoch", "epoch": 2, "epochs": 5, "fraction": 0.4, "seconds": 3.25,
...              "logs": {"loss": 1.5, "top1": 0.5, "val_top1": 0.25}})
>>> display.console.file.getvalue()
'epoch 2/5  loss 1.5000  top1 50.00%  val_top1 25.00%  3.2 s\\n'
"""

from __future__ import annotations

from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

#: History keys that are fractions, shown as percentages.
PERCENT_KEYS = ("top1", "top5", "val_top1", "val_top5", "test_top1", "test_top5")


def epoch_line(event: dict) -> str:
    """One epoch in words: `epoch 3/10  loss 1.2345  top1 45.60%  val_top1 44.00%  12.3 s` (a budgeted run,
    whose epochs are not known ahead, shows the share of its budget used instead of the epoch count)."""
    epochs = event.get("epochs")
    head = f"epoch {event['epoch']}/{epochs}" if epochs else f"epoch {event['epoch']} ({100 * event['fraction']:.0f}% " \
                                                             "of the budget)"
    parts = [head]
    for key, value in event.get("logs", {}).items():
        parts.append(f"{key} {100 * value:.2f}%" if key in PERCENT_KEYS else f"{key} {value:.4f}")
    if event.get("seconds") is not None:
        parts.append(f"{event['seconds']:.1f} s")
    return "  ".join(parts)


class Display:
    """The console display: call it with training events; `log(line)` prints a line above it; for a sweep,
    `sweep(name, total)` once, then `run(label)` and `finished(outcome)` around each run.

    Live (rich) when the console is a terminal, plain lines otherwise; with `log` (a function taking a
    line) every line goes there and nothing is live. `indent` prefixes epoch lines (a sweep indents them
    under their run's line). Use it as a context manager: the live display stops at the end whatever happens.
    """

    def __init__(self, console: Console | None = None, *, indent: str = "", log: Callable[[str], None] | None = None):
        self.console = console or Console(stderr=True)
        self.indent = indent
        self._log = log
        self.live = log is None and self.console.is_terminal
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=24), TaskProgressColumn(),
                                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                  TextColumn("{task.fields[info]}"), console=self.console) if self.live else None
        self._sweep = self._run = None
        self._counts = {"ok": 0, "failed": 0, "skipped": 0}
        self._name = ""

    def __enter__(self) -> Display:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    def log(self, line: str) -> None:
        if self._log is not None:
            self._log(line)
        else:
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def sweep(self, name: str, total: int | None) -> None:
        """A sweep of `total` runs starts (None: not known ahead)."""
        self._name = name
        if self._progress is not None:
            self._sweep = self._progress.add_task(self._sweep_text(), total=total and max(total, 1), info="")

    def run(self, label: str) -> None:
        """A run starts: the run bar restarts under its label."""
        if self._progress is None:
            return
        if self._run is not None:
            self._progress.remove_task(self._run)
        self._run = self._progress.add_task(f"  {label}", total=1.0, info="")
        self._update_sweep(running=1)

    def running(self, count: int) -> None:
        """How many runs are running now (a sweep spread over a cluster runs several at once)."""
        self._update_sweep(running=count)

    def finished(self, outcome: str) -> None:
        """A run ended: `outcome` is "ok", "failed" (any row that is not ok) or "skipped" (another process
        holds or wrote it)."""
        self._counts[outcome] += 1
        if self._progress is not None and self._run is not None:
            self._progress.remove_task(self._run)
            self._run = None
        self._update_sweep(running=0)

    def __call__(self, event: dict) -> None:
        """A training event: "epoch" events print a line, "step" events move the live bar."""
        if event.get("event") == "epoch":
            self.log(self.indent + epoch_line(event))
        if self._progress is None:
            return
        if self._run is None:
            self._run = self._progress.add_task("  training", total=1.0, info="")
        epochs = event.get("epochs")
        where = f"epoch {event['epoch']}" + (f"/{epochs}" if epochs else "")
        loss = event.get("loss", event.get("logs", {}).get("loss"))
        info = where + (f"  loss {loss:.4f}" if loss is not None else "")
        self._progress.update(self._run, completed=min(event.get("fraction", 0.0), 1.0), info=info)

    def _sweep_text(self) -> str:
        others = "".join(f", {self._counts[k]} {k}" for k in ("failed", "skipped") if self._counts[k])
        return f"sweep {self._name}: {self._counts['ok']} done{others}"

    def _update_sweep(self, running: int) -> None:
        if self._progress is None or self._sweep is None:
            return
        self._progress.update(self._sweep, description=self._sweep_text(),
                              completed=sum(self._counts.values()),
                              info=f"{running} running" if running else "")
