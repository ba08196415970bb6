"""The trials table of a `zoo tune` search: where it lives and how its rows read (the markdown table and
the one-line outcome under each trial's progress).

>>> _score_text({"score": 0.452, "seeds": 3, "score_ci95": 0.011})
'45.20 ± 1.10% (3 seeds)'
>>> _score_text({"score": 0.452, "seeds": 1, "score_ci95": float("nan")})
'45.20%'
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from zoo.experiments.summary import summary_cell
from zoo.markdown import format_table


def trials_folder(directory, project) -> Path:
    return Path(directory) / project / "trials"


def knob_cell(value):
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, float):
        return f"{value:.4g}" if not value.is_integer() else str(int(value))
    return str(value)


def trials_markdown(table, knobs: list[str]) -> str:
    columns = [("trial_id", "trial")] + [(k, k) for k in knobs if k in table] + [
        ("score", "val top-1 %" if not any(_over_seeds(r) for _, r in table.iterrows()) else "val top-1 % (95%)"), ("top1", "test top-1 %"), ("params", "params"), ("macs_per_image", "MACs"),
        ("train_seconds", "train s"), ("wall_seconds", "trial s"), ("status", "status")]
    rows = []
    for _, row in table.iterrows():
        cells = {}
        for key, _ in columns:
            value = row.get(key)
            if key in knobs:
                cells[key] = knob_cell(value)
            elif key == "wall_seconds":
                cells[key] = None if value is None or value != value else f"{float(value):.1f}"
            elif key == "score" and _over_seeds(row):
                cells[key] = f"{100 * value:.2f} ± {100 * row['score_ci95']:.2f}"  # mean ± 95% over its seeds
            else:
                cells[key] = value if key == "trial_id" else summary_cell("top1" if key == "score" else key, value)
        rows.append(cells)
    lines = ["# trials", "", format_table(rows, columns)]
    failed = table[table["status"] != "ok"]
    if len(failed):
        lines += ["", "Trials that failed:", ""] + [f"- trial {r.trial_id}: {r.error}" for r in failed.itertuples()]
    return "\n".join(lines) + "\n"


def trial_outcome(row: dict) -> str:
    """`    ok, val top-1 45.20%, 3.1 s training` or the trial's error, under the trial's line."""
    if row.get("status") != "ok":
        return f"    failed: {row.get('error')}"
    return f"    ok, val top-1 {_score_text(row)}, {row['train_seconds']:.1f} s training"


def _over_seeds(row) -> bool:
    """Whether a trial row scores several seeds with an interval."""
    half, seeds, score = (knob_cell(row.get(k)) for k in ("score_ci95", "seeds", "score"))
    return None not in (half, seeds, score) and int(seeds) > 1


def _score_text(row) -> str:
    """`45.20%`, or over seeds `45.20 ± 1.10% (3 seeds)`."""
    if not _over_seeds(row):
        return f"{100 * row['score']:.2f}%"
    return f"{100 * row['score']:.2f} ± {100 * row['score_ci95']:.2f}% ({int(row['seeds'])} seeds)"
