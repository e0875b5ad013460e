"""Paired contrasts over seeds: the nested bootstrap, its one-sided p, and Holm's correction.

The findings of version 2 (experiments/builtin/findings-v2.yaml) each compare two models that
share a base seed. Per seed, a statistic is a function of column sums over resampling units
(problems; for the mismatch experiment, the 0/1 fixes of each side). Resampling a seed is
then counting how often each unit is drawn and summing the columns with those counts, one
vector-matrix product per resample.

- `nested_bootstrap`: seeds resampled with replacement outside, units inside, every role of
  a seed on the same draw (the columns of both roles sit on the same row);
- `percentile_interval`, `one_sided_p`: what the bootstrap effects say;
- `holm`: step-down adjusted p-values across one family of claims.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

# Inner resamples drawn at once: at 3,840 problems a chunk's indices are 16 MB, small beside
# the other jobs of a study machine.
CHUNK = 512

# sums (m, k) of the columns under m resamples -> (m,) values, NaN where undefined
Statistic = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SeedSample:
    """One seed's resampling units: `columns` (n, k), one row per unit, and `strata`, the
    sizes of consecutive row blocks that are resampled separately (one block of problems for
    traces; the collector's fixes, then the model's own, for the mismatch experiment)."""
    columns: np.ndarray
    strata: tuple[int, ...]

    def point(self, statistic: Statistic) -> float | None:
        """The statistic on the data as measured (every unit once); None where undefined."""
        value = float(statistic(self.columns.sum(axis=0, keepdims=True))[0])
        return None if np.isnan(value) else value


def resampled_sums(rng: np.random.Generator, sample: SeedSample, draws: int) -> np.ndarray:
    """(draws, k) column sums of `draws` resamples of the seed's units, each stratum's units
    drawn with replacement on their own.

    >>> sample = SeedSample(np.array([[1., 0.], [1., 0.], [1., 0.], [0., 1.], [0., 1.]]), (3, 2))
    >>> resampled_sums(np.random.default_rng(0), sample, draws=2).tolist()   # 3 and 2 units
    [[3.0, 2.0], [3.0, 2.0]]
    """
    sums = np.zeros((draws, sample.columns.shape[1]))
    start = 0
    for size in sample.strata:
        block = sample.columns[start:start + size]                    # (size, k)
        picks = rng.integers(0, size, (draws, size)) if size else None  # (draws, size)
        for row in range(draws if size else 0):
            # Counting one row's picks, then one product, stays in cache: measured about three
            # times faster than counting all rows at once and multiplying the matrices.
            sums[row] += np.bincount(picks[row], minlength=size) @ block
        start += size
    return sums


def nested_bootstrap(samples: list[SeedSample], statistic: Statistic, draws: int,
                     rng: np.random.Generator) -> np.ndarray:
    """(draws,) bootstrap effects: per draw, the seeds are resampled with replacement and
    each drawn seed's units are resampled anew (a seed drawn twice gets two inner resamples);
    the effect is the mean of the statistic over the drawn seeds where it is defined, NaN in
    a draw where it is defined for none.

    >>> same = SeedSample(np.ones((4, 1)), (4,))                 # one column of ones
    >>> effects = nested_bootstrap([same, same], lambda s: s[:, 0] / 4, 5,
    ...                            np.random.default_rng(0))
    >>> effects.tolist()                                         # every resample sums to 4
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    picks = rng.integers(0, len(samples), (draws, len(samples)))   # (draws, seeds): outer
    values = np.full(picks.shape, np.nan)
    for index, sample in enumerate(samples):
        rows, slots = np.nonzero(picks == index)
        for start in range(0, len(rows), CHUNK):
            r, s = rows[start:start + CHUNK], slots[start:start + CHUNK]
            values[r, s] = statistic(resampled_sums(rng, sample, len(r)))   # (len(r),)
    defined = ~np.isnan(values)
    seen = defined.sum(axis=1)
    total = np.where(defined, values, 0.0).sum(axis=1)
    return np.where(seen > 0, total / np.maximum(seen, 1), np.nan)


def percentile_interval(effects: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central `level` percentile interval of the defined bootstrap effects.

    >>> low, high = percentile_interval(np.arange(101.0))   # 0, 1, ..., 100
    >>> round(low, 6), round(high, 6)
    (2.5, 97.5)
    """
    defined = effects[~np.isnan(effects)]
    tail = (1 - level) / 2
    return float(np.quantile(defined, tail)), float(np.quantile(defined, 1 - tail))


def one_sided_p(effects: np.ndarray) -> float:
    """p for "the effect is above zero": (1 + #{effect <= 0}) / (1 + B), over the B draws
    where the effect is defined; the 1s keep p above zero (at least 1 / (1 + B)).

    >>> one_sided_p(np.array([0.5, 1.0, -0.2, 0.0, np.nan]))   # 2 of 4 at or below zero
    0.6
    >>> one_sided_p(np.ones(1999))
    0.0005
    """
    defined = effects[~np.isnan(effects)]
    return (1 + int((defined <= 0).sum())) / (1 + len(defined))


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: sorted ascending, the i-th
    (1-based) becomes the largest of min(1, (m - j + 1) p_(j)) over j <= i.

    >>> [round(p, 6) for p in holm([0.01, 0.04, 0.03])]   # 3 x .01, 2 x .03, max(.06, .04)
    [0.03, 0.06, 0.06]
    >>> holm([0.5, 0.6]), holm([])
    ([1.0, 1.0], [])
    """
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):   # rank = j - 1
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted
