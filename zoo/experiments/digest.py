"""The committed results in one generated Markdown table, so that the numbers a README quotes are read
from `benchmarks/results/` and never typed by hand.

For every table folder `<results>/<machine>/<sweep>/`: its machine (folder and the rows' device), the
rows' backend, how many runs finished ok, the runs' wall time added up and its share in training steps
(without, then with the first, compiling steps: `zoo.experiments.summary.training_shares`), the span
from the first run's start to the last run's end (longer when a sweep ran in parts), and every variant
and recipe's test top-1 (mean over seeds), best first. A JUnit XML file in a machine folder (written by
`pytest --junitxml`) adds the test suite's count and time.

    python -m zoo.experiments.digest benchmarks/results                 # print the table
    python -m zoo.experiments.digest benchmarks/results --readme README.md   # rewrite the block between the markers

The README holds the table between `<!-- results:begin -->` and `<!-- results:end -->`; a test checks that
it matches the files.
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ElementTree
from datetime import datetime
from pathlib import Path

import pandas as pd

from zoo.errors import ZooError
from zoo.experiments.results import TABLE, ok_rows, read_table
from zoo.experiments.summary import training_shares
from zoo.markdown import format_table

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def _span(table: pd.DataFrame) -> str:
    """First start to last finish of the rows (the sweep's wall time, less starting the first process)."""
    started = pd.to_datetime(table["started"], errors="coerce").min()
    finished = pd.to_datetime(table["finished"], errors="coerce").max()
    if pd.isna(started) or pd.isna(finished):
        return ""
    return _duration((finished - started).total_seconds())


def _differing(overrides: pd.Series) -> pd.Series:
    """Each row's overrides reduced to the knobs whose values differ between the rows (`budget_seconds=60`):
    what tells apart the runs of one variant and recipe."""
    parsed = [json.loads(o) if isinstance(o, str) and o else {} for o in overrides]
    keys = sorted({k for p in parsed for k in p if len({json.dumps(q.get(k)) for q in parsed}) > 1})
    return pd.Series([" ".join(f"{k}={p.get(k)}" for k in keys) for p in parsed], index=overrides.index)


def _scores(table: pd.DataFrame) -> str:
    """Test top-1 per variant, recipe and differing knobs (mean over seeds), best first."""
    ok = ok_rows(table, "top1").astype({"top1": float})
    if not len(ok):
        return ""
    knobs = ok.groupby(["variant", "recipe"], group_keys=False)["overrides"].apply(_differing) if "overrides" in ok \
        else ""
    ok = ok.assign(knobs=knobs)
    means = ok.groupby(["variant", "recipe", "knobs", "dataset_source"])["top1"].mean()
    return ", ".join(f"{variant} · {recipe}{' ' + knobs if knobs else ''} ({source}) {100 * top1:.2f}%"
                     for (variant, recipe, knobs, source), top1 in means.sort_values(ascending=False).items())


def _first(table: pd.DataFrame, column: str) -> str:
    values = table[column].dropna().astype(str).unique() if column in table else []
    return ", ".join(sorted(values))


def _training(table: pd.DataFrame) -> str:
    """The ok runs' share of their wall time in training steps, then with the first, compiling steps."""
    shares = training_shares(table)
    return "" if shares is None else f"{100 * shares[0]:.0f}% ({100 * shares[1]:.0f}%)"


def sweep_rows(results: Path) -> list[dict]:
    """One row per table folder under `results/<machine>/`."""
    rows = []
    for machine in sorted(p for p in results.iterdir() if p.is_dir()):
        for folder in sorted(p for p in machine.iterdir() if (p / TABLE).exists()):
            table = read_table(folder)
            rows.append({"machine": f"{machine.name} ({_first(table, 'device')})", "sweep": folder.name,
                         "backend": f"{_first(table, 'backend')} {_first(table, 'backend_version')}",
                         "runs": f"{len(ok_rows(table))}/{len(table)}", "span": _span(table),
                         "wall": _duration(pd.to_numeric(table["wall_seconds"], errors="coerce").sum()),
                         "training": _training(table), "top1": _scores(table)})
    return rows


def suite_rows(results: Path) -> list[dict]:
    """The test-suite runs recorded as JUnit XML (`pytest --junitxml FILE`) in the machine folders."""
    rows = []
    for path in sorted(results.glob("*/*.xml")):
        try:
            suite = ElementTree.parse(path).getroot()
        except ElementTree.ParseError as exc:
            raise ZooError(f"{path} is not JUnit XML: {exc}") from None
        suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
        tests, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        when = suite.get("timestamp", "")[:10] or datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d")
        rows.append({"machine": path.parent.name, "file": path.name, "date": when,
                     "result": f"{tests - skipped - failed} passed, {skipped} skipped, {failed} failed",
                     "time": _duration(float(suite.get("time", 0)))})
    return rows


def digest(results: str | Path) -> str:
    """The generated Markdown: the sweeps' table, then the test-suite runs when any were recorded."""
    results = Path(results)
    if not results.is_dir():
        raise ZooError(f"no such results folder: {results}")
    lines = [format_table(sweep_rows(results), [("machine", "machine"), ("sweep", "sweep"), ("backend", "backend"),
                                                ("runs", "runs ok"), ("wall", "runs' wall time"),
                                                ("training", "in training steps (with first steps)"),
                                                ("span", "first start to last finish"),
                                                ("top1", "test top-1 by variant · recipe (data), best first")])]
    suites = suite_rows(results)
    if suites:
        lines += ["", format_table(suites, [("machine", "machine"), ("file", "test suite (JUnit XML)"),
                                            ("date", "date"), ("result", "result"), ("time", "time")])]
    return "\n".join(lines) + "\n"


def with_digest(readme: str, generated: str) -> str:
    """`readme` with the block between the markers replaced by `generated`."""
    if BEGIN not in readme or END not in readme:
        raise ZooError(f"the README has no {BEGIN} ... {END} block to fill")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{generated}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo.experiments.digest", description=__doc__.splitlines()[0])
    parser.add_argument("results", help="the results folder, e.g. benchmarks/results")
    parser.add_argument("--readme", metavar="FILE", help="rewrite the generated block of this Markdown file")
    args = parser.parse_args(argv)
    try:
        generated = digest(args.results)
        if args.readme:
            path = Path(args.readme)
            path.write_text(with_digest(path.read_text(), generated))
        else:
            print(generated, end="")
    except (ZooError, OSError) as exc:
        print(f"zoo: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
