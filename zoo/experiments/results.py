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
import os
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

from zoo.errors import ZooError, first_line
from zoo.files import atomic_write_all, write_text_atomic
from zoo.experiments.schema import (COLUMN_NAMES, COLUMNS, DTYPES, PLANNED, WHERE, Column,  # noqa: F401  (re-exported)
                                    columns_markdown)

TABLE = "results.parquet"
CSV = "results.csv"
MARKDOWN = "results.md"
HISTORIES = "histories"
LOCK = "table.lock"


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns in schema order with schema dtypes (missing ones empty); extra columns kept at the end."""
    frame = frame.copy()
    for column in COLUMNS:
        if column.name not in frame:
            frame[column.name] = pd.NA
        if column.dtype == "boolean" and frame[column.name].dtype != "boolean":  # CSV text, object columns
            frame[column.name] = frame[column.name].map(
                lambda v: {"true": True, "false": False}.get(str(v).lower(), v if isinstance(v, bool) else pd.NA))
        if (column.dtype == "Int64" and not pd.api.types.is_numeric_dtype(frame[column.name])
                and frame[column.name].notna().any()):
            frame[column.name] = pd.to_numeric(frame[column.name])  # CSV text, "5.0" from a spreadsheet included
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
        _wait_for_lock(handle, fcntl, folder)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: Seconds a writer waits for a table's lock before it says so (once) and goes on waiting.
LOCK_NOTICE_AFTER = 5.0


def _wait_for_lock(handle, fcntl, folder: Path) -> None:
    """Take the lock, saying on stderr (once) when another process has held it for `LOCK_NOTICE_AFTER`
    seconds: a stopped (Ctrl-Z) zoo holding it would otherwise leave this one waiting without a word."""
    began, said = time.monotonic(), False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not said and time.monotonic() - began > LOCK_NOTICE_AFTER:
                print(f"zoo: waiting for {folder / LOCK}: another process holds it (a stopped one must be "
                      "resumed or ended)", file=sys.stderr, flush=True)
                said = True
            time.sleep(0.05)


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
    first, so a writer killed between the two renames leaves a CSV with every row of the Parquet file (each
    finished no earlier) and one more row or row version. A CSV that lacks a row of the Parquet file, or
    holds an older version of one, is an edited or stale copy: the Parquet file stays the table (and the next
    append, or `repair_csv`, rewrites the CSV from it)."""
    keys = ["run_id", "finished"]
    try:
        written = pd.read_csv(csv, usecols=lambda c: c in keys, dtype=str, keep_default_na=False)
    except Exception:  # an unreadable CSV is not a newer one
        return False
    written, mine = _versions(written), _versions(table)
    if written == mine:
        return False
    latest = dict(written)
    return all(run_id in latest and latest[run_id] >= finished for run_id, finished in mine)


def prepare_table(folder: str | os.PathLike, log=None) -> None:
    """Before a sweep writes into `folder`: fail now if it cannot be written (`check_writable`), and bring a
    CSV that lost rows or was damaged back in line with the Parquet file (`log` gets a line when it does)."""
    check_writable(folder)
    with locked(folder):
        if repair_csv(folder) and log is not None:
            log(f"{Path(folder) / CSV}: rewritten from {TABLE} (it lacked rows, held other versions or was damaged)")


def repair_csv(folder: str | os.PathLike) -> bool:
    """Rewrite a table folder's CSV from its table when the CSV is missing rows, damaged or edited (the
    Parquet file is the truth); True when it was rewritten. Call it holding `locked(folder)`."""
    folder = Path(folder)
    parquet, csv = folder / TABLE, folder / CSV
    if not parquet.exists():
        return False
    table = read_table(folder)
    try:
        same = csv.exists() and _versions(_read_file(csv)) == _versions(table)
    except ZooError:
        same = False
    if not same:
        atomic_write_all({csv: lambda tmp: table.to_csv(tmp, index=False)})
    return not same


def _versions(frame: pd.DataFrame) -> list:
    """(run_id, finished) of each row, as text: which rows, in which version, a copy of the table holds."""
    return frame.reindex(columns=["run_id", "finished"]).astype("string").fillna("").values.tolist()


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
        if markdown is None:
            from zoo.experiments.summary import summary_markdown as markdown
        text = markdown(table)
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
