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


def interval(values) -> Interval:
    """The mean of the finite `values` and its 95% interval; NaN everywhere for none."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if not n:
        return Interval(math.nan, math.nan, 0, math.nan)
    mean = sum(xs) / n
    if n < 2:
        return Interval(mean, math.nan, 1, math.nan)
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    return Interval(mean, std, n, _t_quantile(n - 1) * std / math.sqrt(n))


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
