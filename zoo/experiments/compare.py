"""`zoo compare`: join result tables on keys, aggregate seeds, show differences with intervals, ties, speed ratios.

>>> import pandas as pd
>>> a = pd.DataFrame({"variant": ["resnet20"] * 2, "dataset": "cifar10", "recipe": "fast", "seed": [0, 1],
...                   "top1": [0.90, 0.92], "train_images_per_second": 1000.0, "train_seconds": 50.0})
>>> b = a.assign(top1=[0.915, 0.925], train_images_per_second=2000.0, train_seconds=25.0)
>>> result = compare({"A": a, "B": b})
>>> row = result.table.iloc[0]
>>> round(float(row["top1 mean [A]"]), 3), round(float(row["top1 diff [B-A]"]), 4), row["tie [B-A]"]
(0.91, 0.01, True)
>>> float(row["speed [B/A]"]), float(row["time [B/A]"])
(2.0, 0.5)

The first table is the baseline: every other table's difference and speed ratio is against it. Each mean
comes with its 95% interval over seeds (Student's t), each difference with Welch's 95% interval; a
difference whose interval holds zero is a tie, never a ranking (`zoo.experiments.stats`). When either side
has a single seed the spread is unknown and the tie flag is empty. Rows measured
differently (dataset source, precision, device) are refused unless allowed; rows trained differently
(epochs, budget, training-set size) are compared and flagged in a `setup differs` column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.errors import ZooError
from zoo.experiments.results import ok_rows, read_table
from zoo.experiments.stats import difference, from_summary

GUARDED = ("dataset_source", "precision", "device")  # rows must agree on these to be compared
SETUP = ("epochs", "budget_seconds", "budget_images", "train_images")  # differences here are flagged, not refused
DEFAULT_KEYS = ("variant", "dataset", "recipe")
SPEED = "train_images_per_second"
TIME = "train_seconds"
SPEC = "spec_overrides"


@dataclass
class Comparison:
    table: pd.DataFrame                      # one row per key found in two tables or more, numeric columns
    labels: list[str]
    keys: list[str]
    metric: str
    only_in: dict[str, list[tuple]] = field(default_factory=dict)   # label -> keys found only there
    mismatches: list[str] = field(default_factory=list)             # described, when allowed
    setup: dict[tuple, list[str]] = field(default_factory=dict)     # key -> how its rows' training differed


def load(path: str | Path, *, log=None) -> pd.DataFrame:
    """A bench/tune table folder, or a .parquet / .csv file (the reference table included). A run found
    twice (a table beside its backup copy, a file with rows repeated) counts once, its latest row: the
    statistics would otherwise see more seeds than ran; `log` gets a line saying how many were dropped."""
    path = Path(path)
    if not path.exists():
        raise ZooError(f"no such table: {path}")
    if path.is_dir() and not (path / "results.parquet").exists():
        csvs = sorted(path.glob("*.csv"))
        if not csvs:
            raise ZooError(f"{path} holds no results.parquet and no .csv table")
        frame = pd.concat([read_table(p) for p in csvs], ignore_index=True)
    else:
        frame = read_table(path)
    if "run_id" in frame and frame["run_id"].notna().any():
        order = frame.sort_values("finished", kind="stable", na_position="first") if "finished" in frame else frame
        named = order["run_id"].notna()
        repeated = named & order["run_id"].duplicated(keep="last")
        if repeated.any():
            if log is not None:
                log(f"table {path}: {int(repeated.sum())} row(s) repeat a run already in it (same run_id); "
                    "each run counted once (its latest row)")
            frame = order[~repeated].sort_index()
    return frame


def labels_for(paths: list[str]) -> list[str]:
    """Short unique labels: the folder or file name, with A/B/... prefixed when names repeat."""
    names = [Path(p).stem if Path(p).suffix in (".csv", ".parquet") else Path(p).name for p in paths]
    if len(set(names)) == len(names):
        return names
    return [f"{chr(65 + i)}:{n}" for i, n in enumerate(names)]


def _aggregate(frame: pd.DataFrame, keys: list[str], metric: str) -> pd.DataFrame:
    ok = ok_rows(frame)
    grouped = ok.groupby(keys, dropna=False, sort=True)
    out = pd.DataFrame({
        "mean": grouped[metric].mean(),
        "std": grouped[metric].std(ddof=1),
        "n": grouped[metric].count(),
        "speed": grouped[SPEED].mean() if SPEED in ok else np.nan,
        "time": grouped[TIME].mean() if TIME in ok else np.nan,
    })
    for column in GUARDED + SETUP:
        if column in ok:
            out[column] = grouped[column].agg(_distinct)
    return out


def _distinct(values: pd.Series) -> str:
    """A column's distinct values in a group as text ("60", "1, 5"); numbers without trailing zeros."""
    def text(value) -> str:
        number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
        return str(value) if pd.isna(number) else f"{float(number):g}"

    return ", ".join(sorted({text(v) for v in values.dropna()}))


def _key_index(keys_found, names: list[str]) -> pd.MultiIndex:
    """Group keys as a MultiIndex (pandas gives bare values, not 1-tuples, for a single key)."""
    return pd.MultiIndex.from_tuples([k if isinstance(k, tuple) else (k,) for k in keys_found], names=names)


def _check_table(label: str, frame: pd.DataFrame, keys: list[str], metric: str) -> None:
    """Key and metric columns with values (a file without them reads as empty schema columns), numeric,
    finite metrics in the rows that finished ok."""
    missing = [k for k in keys + [metric] if k not in frame or frame[k].isna().all()]
    if missing:
        hint = " (a CSV must be comma-separated with a header row)" if len(frame.columns) else ""
        raise ZooError(f"table {label} has no values in column(s) {', '.join(missing)}{hint}")
    given = ok_rows(frame)[metric]
    values = pd.to_numeric(given, errors="coerce")
    bad = given[values.isna() | ~np.isfinite(values.astype(float))]
    if len(bad):
        raise ZooError(f"table {label}: {len(bad)} ok row(s) have a non-numeric or non-finite {metric} "
                       f"(first: {bad.iloc[0]})")
    outside = values[(values < 0) | (values > 1)]
    if _scale(metric) == 100 and len(outside):
        raise ZooError(f"table {label}: {metric} must be a fraction in [0, 1], got {outside.iloc[0]:g} (percent? "
                       "divide by 100)")


def compare(tables: dict[str, pd.DataFrame], *, on=DEFAULT_KEYS, metric: str = "top1",
            allow_mismatch: bool = False) -> Comparison:
    """Compare the tables (the first is the baseline) on the `on` keys. With the default keys, rows whose
    architecture a sweep changed (`spec_overrides`) are told apart from the registered variant's."""
    if len(tables) < 2:
        raise ZooError("compare needs at least two tables")
    keys = list(on)
    if tuple(on) == DEFAULT_KEYS and any(SPEC in f and f[SPEC].notna().any() for f in tables.values()):
        keys.insert(1, SPEC)
        tables = {label: f.assign(**{SPEC: f[SPEC].fillna("") if SPEC in f else ""}) for label, f in tables.items()}
    labels = list(tables)
    for label, frame in tables.items():
        _check_table(label, frame, keys, metric)
    stats = {label: _aggregate(frame, keys, metric) for label, frame in tables.items()}
    all_keys = sorted(set().union(*(s.index for s in stats.values())), key=lambda k: tuple(map(str, np.atleast_1d(k))))
    index = _key_index(all_keys, keys)
    table = pd.DataFrame(index=index)
    present = {}
    for label, s in stats.items():
        s = s.copy()
        s.index = _key_index(s.index, keys)
        s = s.reindex(index)
        present[label] = s["n"].fillna(0) > 0
        table[f"{metric} mean [{label}]"] = s["mean"]
        table[f"{metric} std [{label}]"] = s["std"]
        table[f"n [{label}]"] = s["n"].fillna(0).astype(int)
        table[f"{metric} ci95 [{label}]"] = [from_summary(*m).half for m in _summaries(table, metric, label)]
        table[f"_speed [{label}]"] = s["speed"]
        table[f"_time [{label}]"] = s["time"]
        for column in GUARDED + SETUP:
            table[f"_{column} [{label}]"] = s[column] if column in s else ""
    base = labels[0]
    mismatches, mismatched_keys, setup = [], set(), {}
    for label in labels[1:]:
        for column, key, x, y in _differences(table, present, base, label, GUARDED):
            mismatched_keys.add(key)
            mismatches.append(f"{', '.join(map(str, key))}: {column} {x!r} in {base} vs {y!r} in {label}")
        for column, key, x, y in _differences(table, present, base, label, SETUP):
            setup.setdefault(tuple(key), []).append(f"{column.replace('_', ' ')} {y} in {label} vs {x}")
        diffs = [difference(from_summary(*a), from_summary(*b)) for a, b in
                 zip(_summaries(table, metric, base), _summaries(table, metric, label))]
        table[f"{metric} diff [{label}-{base}]"] = [d.diff for d in diffs]
        table[f"{metric} diff ci95 [{label}-{base}]"] = [d.half for d in diffs]
        table[f"tie [{label}-{base}]"] = pd.Series([d.tie for d in diffs], index=table.index, dtype="object")
        table[f"speed [{label}/{base}]"] = table[f"_speed [{label}]"] / table[f"_speed [{base}]"]
        table[f"time [{label}/{base}]"] = table[f"_time [{label}]"] / table[f"_time [{base}]"]
    if mismatches and not allow_mismatch:
        raise ZooError("refusing to compare rows measured differently (pass --allow-mismatch to compare anyway):\n  "
                       + "\n  ".join(mismatches))
    only_in = {}
    for label in labels:
        others = np.logical_or.reduce([present[o].to_numpy() for o in labels if o != label])
        only = table.index[present[label].to_numpy() & ~others]
        if len(only):
            only_in[label] = [tuple(k) for k in only]
    shared = sum(present[label].astype(int).to_numpy() for label in labels) >= 2
    table = table[shared]
    if mismatches:
        table["mismatch"] = [key in mismatched_keys for key in table.index]
    table["setup differs"] = ["; ".join(setup.get(tuple(key), [])) for key in table.index]
    table = table[[c for c in table.columns if not c.startswith("_")]].reset_index()
    return Comparison(table=table, labels=labels, keys=keys, metric=metric, only_in=only_in, mismatches=mismatches,
                      setup={k: v for k, v in setup.items() if k in set(map(tuple, table[keys].itertuples(index=False)))})


def _summaries(table: pd.DataFrame, metric: str, label: str):
    """(mean, std, n) of each row for one table."""
    return zip(table[f"{metric} mean [{label}]"], table[f"{metric} std [{label}]"], table[f"n [{label}]"])


def _differences(table: pd.DataFrame, present: dict, base: str, label: str, columns):
    """(column, key, base value, other value) wherever both tables have the key and a value that differs."""
    both = present[base] & present[label]
    for column in columns:
        a = [str(v) if isinstance(v, str) else "" for v in table[f"_{column} [{base}]"]]
        b = [str(v) if isinstance(v, str) else "" for v in table[f"_{column} [{label}]"]]
        for key, shared, x, y in zip(table.index, both, a, b):
            if shared and x and y and x != y:
                yield column, key, x, y


# -- rendering ---------------------------------------------------------------------------------------


def _scale(metric: str) -> int:
    """Accuracies are shown in percent (differences in points); other metrics as they are."""
    return 100 if metric in ("top1", "top5", "best_val_top1") else 1


def _pct(mean, std, n, half, metric) -> str | None:
    """`91.00 ± 2.48 (sd 1.00, n=3)`: the mean, its 95% interval, the seeds' standard deviation."""
    if pd.isna(mean):
        return None
    scale = _scale(metric)
    text = f"{scale * mean:.2f}"
    if n and n > 1 and not pd.isna(std):
        return text + f" ± {scale * half:.2f} (sd {scale * std:.2f}, n={n})"
    return text + f" (n={n})"


def _delta(diff, half, tie, scale) -> str | None:
    if pd.isna(diff):
        return None
    text = f"{scale * diff:+.2f}" + ("" if pd.isna(half) else f" ± {scale * half:.2f}")
    return text + (" (tie)" if tie is True else "")


def display_frame(result: Comparison) -> pd.DataFrame:
    """Human-readable columns: metric as mean ± 95% interval (sd, n), difference ± its interval with the
    tie flag, ratios."""
    t, m, base = result.table, result.metric, result.labels[0]
    scale = _scale(m)
    unit = " (pts)" if scale == 100 else ""
    out = t[result.keys].copy()
    for label in result.labels:
        out[f"{m} {label}"] = [_pct(a, s, n, h, m) for a, s, n, h in
                               zip(t[f"{m} mean [{label}]"], t[f"{m} std [{label}]"], t[f"n [{label}]"],
                                   t[f"{m} ci95 [{label}]"])]
    for label in result.labels[1:]:
        out[f"Δ {label}-{base}{unit}"] = [_delta(d, h, z, scale) for d, h, z in
                                          zip(t[f"{m} diff [{label}-{base}]"], t[f"{m} diff ci95 [{label}-{base}]"],
                                              t[f"tie [{label}-{base}]"])]
        out[f"train img/s {label}/{base}"] = [None if pd.isna(r) else f"{r:.2f}x" for r in t[f"speed [{label}/{base}]"]]
        out[f"train s {label}/{base}"] = [None if pd.isna(r) else f"{r:.2f}x" for r in t[f"time [{label}/{base}]"]]
    if "mismatch" in t:
        out["mismatch"] = ["yes" if v else "" for v in t["mismatch"]]
    if t["setup differs"].astype(bool).any():
        out["setup differs from baseline"] = [v or None for v in t["setup differs"]]
    return out


def render(result: Comparison, fmt: str = "md") -> str:
    """The comparison as Markdown (with the only-in lists and mismatches), CSV (numeric) or HTML."""
    if fmt == "csv":
        return result.table.to_csv(index=False)
    frame = display_frame(result)
    if fmt == "html":
        return frame.to_html(index=False, na_rep="", border=0)
    if fmt != "md":
        raise ZooError(f"format must be md, csv or html, got {fmt!r}")
    from zoo.markdown import format_table

    rows = [{c: (None if pd.isna(v) else v) for c, v in r.items()} for r in frame.to_dict("records")]
    lines = [f"baseline: {result.labels[0]}; {result.metric} as mean ± its 95% interval over seeds (Student's t; "
             "sd: the seeds' standard deviation, n runs); Δ ± Welch's 95% interval; tie: the interval holds "
             "zero, so neither is better", "",
             format_table(rows, [(c, c) for c in frame.columns])]
    for label, keys in result.only_in.items():
        lines += ["", f"only in {label}: " + "; ".join(", ".join(map(str, k)) for k in keys)]
    if result.mismatches:
        lines += ["", "compared despite different measurement conditions:"] + [f"- {m}" for m in result.mismatches]
    return "\n".join(lines) + "\n"
