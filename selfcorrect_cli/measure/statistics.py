"""The statistics of the study, each defined once: confidence intervals and the fix rate.

- `bootstrap_ci`: one run's 95% CI, a percentile bootstrap over problems;
- `aggregate` (an `Estimate`) and `mean_and_ci`: the mean over seeds with a 95% Student
  t-interval; a study has a handful of seeds (often 3), for which a normal interval would be
  too narrow;
- `fix_rate`: P(y2 right | y1 wrong), None (undefined) when no first attempt is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import mean, stdev

import numpy as np

# Two-sided 95% Student t quantiles t_{0.975, df} for df = 1..30 (no scipy in our deps).
_T975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
         2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905,
         2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
         2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272)


def bootstrap_ci(values_by_group: np.ndarray, statistic, samples: int, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of `statistic` over groups (problems), resampled with replacement.

    values_by_group: (G, ...) one entry per problem, so the samples of one problem move
    together and the CI reflects the number of problems, not of samples.

    >>> bootstrap_ci(np.ones((20, 1)), lambda x: x.mean(), samples=50)   # no spread, no width
    (1.0, 1.0)
    """
    rng = np.random.default_rng(seed)
    n = len(values_by_group)
    stats = np.empty(samples)
    for i in range(samples):
        stats[i] = statistic(values_by_group[rng.integers(0, n, n)])
    tail = (1 - level) / 2
    return float(np.quantile(stats, tail)), float(np.quantile(stats, 1 - tail))


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds with its 95% CI (None where one seed gave no interval)."""
    mean: float
    low: float | None
    high: float | None
    seeds: int

    def __str__(self) -> str:
        ci = "" if self.low is None else f" [{self.low:.3f}, {self.high:.3f}]"
        return f"{self.mean:.3f}{ci}"


def aggregate(values, cis=None) -> Estimate:
    """Mean and 95% CI across seeds: a t-interval for several, the run's own CI for one.

    mean +- t_{0.975, n-1} * sd / sqrt(n), sd with n - 1 in the denominator; rounded to 5
    decimals, so that float noise never decides a comparison.

    >>> aggregate([0.1, 0.2, 0.3])   # sd 0.1, se 0.1/sqrt(3), t(2) = 4.302653
    Estimate(mean=0.2, low=-0.04841, high=0.44841, seeds=3)
    >>> aggregate([0.04], cis=[(0.01, 0.07)])   # one seed: its bootstrap CI over problems
    Estimate(mean=0.04, low=0.01, high=0.07, seeds=1)
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("aggregate needs at least one value")
    centre = mean(values)
    if len(values) == 1:
        low, high = (float(x) for x in cis[0]) if cis and cis[0] is not None else (None, None)
        return Estimate(round(centre, 5), low, high, 1)
    # Beyond 30 degrees of freedom the df=30 quantile is used: slightly wide, never narrow.
    half = _T975[min(len(values) - 1, 30) - 1] * stdev(values) / math.sqrt(len(values))
    return Estimate(round(centre, 5), round(centre - half, 5), round(centre + half, 5),
                    len(values))


def mean_and_ci(values: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): `aggregate` as a triple for plotting; one seed has no spread to
    measure, so its interval is the value itself.

    >>> mean, low, high = mean_and_ci([1, 2, 3])   # half-width 4.302653 / sqrt(3) = 2.48414
    >>> round(mean, 4), round(low, 4), round(high, 4)
    (2.0, -0.4841, 4.4841)
    >>> mean_and_ci([0.5])
    (0.5, 0.5, 0.5)
    """
    if len(values) == 0:
        raise ValueError("mean_and_ci needs at least one value")
    e = aggregate(values)
    return (e.mean, e.mean, e.mean) if e.low is None else (e.mean, e.low, e.high)


def fix_rate(acc_t1: float, delta_i2c: float) -> float | None:
    """P(y2 right | y1 wrong) from two fractions of all problems: Delta i->c / (1 - Acc@t1).

    Undefined (None) when every first attempt is right: there was nothing to fix, which is
    not the same as fixing nothing (0.0). Averages over steps or seeds skip None.

    >>> fix_rate(0.75, 0.125)   # a quarter wrong at t1, half of those fixed
    0.5
    >>> fix_rate(0.5, 0.0)
    0.0
    >>> fix_rate(1.0, 0.0) is None
    True
    """
    wrong = 1 - acc_t1
    return delta_i2c / wrong if wrong > 0 else None
