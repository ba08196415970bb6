"""Statistics over seeds: mean, standard deviation and a 95% interval of the mean (Student's t), and the
interval of a difference of two means (Welch), so a claim "B beats A" is made only when that interval
excludes zero; a difference whose interval holds zero is a tie. Why t and not a normal interval: tables
run 3-5 seeds, where t's quantile (4.30 for 3 seeds) is twice the normal's 1.96.

>>> a = interval([0.90, 0.92, 0.91])
>>> round(a.mean, 3), round(a.std, 3), a.n, round(a.half, 4)
(0.91, 0.01, 3, 0.0248)
>>> difference(a, interval([0.905, 0.915, 0.91])).tie
True
>>> difference(a, interval([0.95, 0.96, 0.955])).tie
False
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CONFIDENCE = 0.95


def _t_quantile(df: float) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + CONFIDENCE / 2, df))


@dataclass(frozen=True)
class Interval:
    """A mean with its sample standard deviation (n - 1), count and the half-width of its 95% interval
    (NaN std and half-width for a single value: one seed says nothing of the spread)."""

    mean: float
    std: float
    n: int
    half: float

    @property
    def low(self) -> float:
        return self.mean - self.half

    @property
    def high(self) -> float:
        return self.mean + self.half


def _number(value) -> float:
    """`value` as a float; NaN for None, pandas' NA and anything not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def interval(values) -> Interval:
    """The mean of the finite `values` (None, NaN and pandas' NA left out) and its 95% interval; NaN
    everywhere for none."""
    xs = [x for x in map(_number, values) if math.isfinite(x)]
    n = len(xs)
    if not n:
        return Interval(math.nan, math.nan, 0, math.nan)
    mean = sum(xs) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else math.nan
    return from_summary(mean, std, n)


@dataclass(frozen=True)
class Difference:
    """`b - a` and the half-width of its 95% interval; `tie` is None when either side has one value."""

    diff: float
    half: float
    tie: bool | None


def from_summary(mean: float, std: float, n: int) -> Interval:
    """An Interval from a mean, a sample standard deviation and a count already aggregated."""
    if n < 2 or not math.isfinite(std):
        return Interval(mean, math.nan, int(n), math.nan)
    return Interval(mean, std, int(n), _t_quantile(n - 1) * std / math.sqrt(n))


def difference(a: Interval, b: Interval) -> Difference:
    """Welch's interval of `b.mean - a.mean` (unequal variances, Welch-Satterthwaite degrees of freedom)."""
    diff = b.mean - a.mean
    if a.n < 2 or b.n < 2 or not (math.isfinite(a.std) and math.isfinite(b.std)):
        return Difference(diff, math.nan, None)
    va, vb = a.std ** 2 / a.n, b.std ** 2 / b.n
    se = math.sqrt(va + vb)
    if se == 0:
        return Difference(diff, 0.0, diff == 0)
    df = (va + vb) ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1))
    half = _t_quantile(df) * se
    return Difference(diff, half, abs(diff) <= half)


def sampling_half(top1: float, test_images) -> float:
    """Half-width of the 95% interval that scoring on `test_images` images alone puts around one run's top-1
    (a binomial proportion, normal approximation): 500 images at 40% give +-4.3 points, 10,000 +-1.0."""
    images, top1 = _number(test_images), _number(top1)
    if not (math.isfinite(images) and images > 0 and math.isfinite(top1)):
        return math.nan
    return 1.959964 * math.sqrt(max(top1 * (1 - top1), 0.0) / images)


#: A claim (X beats Y) needs at least this many seeds a side (the project's rule); fewer are never ranked.
MIN_SEEDS = 3
GROUP = ("variant", "spec_overrides", "recipe", "dataset_source", "overrides")


def seed_summary(table):
    """One row per configuration (GROUP: everything but the seed) of the ok runs: top-1 mean with its 95%
    interval over seeds (for one seed: the test set's own sampling interval), best first within each data
    source, and how each compares with the best on the same data: `best`, `tie` (Welch's interval of the
    difference holds zero, or a 1-2 seed difference inside the test sets' sampling noise), a difference ±
    its interval (3+ seeds a side), or `no claim (n < 3)`.

    >>> import pandas as pd
    >>> runs = pd.DataFrame({"variant": ["a"] * 3 + ["b"] * 3, "recipe": "r", "dataset_source": "d",
    ...     "overrides": "{}", "status": "ok", "seed": [0, 1, 2] * 2, "test_images": 10000,
    ...     "top1": [0.90, 0.91, 0.92, 0.80, 0.81, 0.82]})
    >>> seed_summary(runs)[["variant", "n", "top-1 %", "vs best"]].values.tolist()
    [['a', 3, '91.00 ± 2.48 (sd 1.00)', 'best'], ['b', 3, '81.00 ± 2.48 (sd 1.00)', '-10.00 ± 2.27']]
    """
    import pandas as pd

    ok = table[table["status"] == "ok"] if "status" in table else table
    # spec_overrides only where a run changed the architecture: other tables keep their columns
    keys = [k for k in GROUP if k in ok and (k != "spec_overrides" or ok[k].notna().any())]
    if not len(ok) or "top1" not in ok:
        return pd.DataFrame()
    rows = []
    for key, group in ok.fillna({k: "" for k in keys}).groupby(keys, sort=False, dropna=False):
        values = pd.to_numeric(group["top1"], errors="coerce").tolist()
        images = pd.to_numeric(group["test_images"], errors="coerce").min() if "test_images" in group else None
        rows.append({**dict(zip(keys, key if isinstance(key, tuple) else (key,))),
                     "stats": interval(values), "test_images": images})
    data = "dataset_source" if "dataset_source" in keys else None
    first_seen = {r.get(data): i for i, r in reversed(list(enumerate(rows)))}
    rows.sort(key=lambda r: (first_seen[r.get(data)], -r["stats"].mean if math.isfinite(r["stats"].mean)
                             else math.inf))
    out = []
    for row in rows:
        best = next(r for r in rows if r.get(data) == row.get(data))  # the best on the same data
        s = row["stats"]
        if s.n >= 2:
            text = f"{100 * s.mean:.2f} ± {100 * s.half:.2f} (sd {100 * s.std:.2f})"
        else:
            half = sampling_half(s.mean, row["test_images"])
            text = f"{100 * s.mean:.2f}" + ("" if math.isnan(half) else f" ± {100 * half:.2f} (test set only)")
        out.append({**{k: row[k] for k in keys}, "n": s.n, "top-1 %": text, "vs best": _versus(row, best)})
    return pd.DataFrame(out)


def _versus(row, best) -> str:
    if row is best:
        return "best"
    a, b = best["stats"], row["stats"]
    d = difference(a, b)
    if a.n >= MIN_SEEDS and b.n >= MIN_SEEDS:
        return "tie" if d.tie else f"{100 * d.diff:+.2f} ± {100 * d.half:.2f}"
    if d.tie:
        return "tie"
    if a.n == 1 or b.n == 1:  # one seed: only the test sets' sampling noise is known
        half = math.hypot(sampling_half(a.mean, best["test_images"]), sampling_half(b.mean, row["test_images"]))
        if abs(d.diff) <= half:
            return "tie"
    return f"no claim (n < {MIN_SEEDS})"
