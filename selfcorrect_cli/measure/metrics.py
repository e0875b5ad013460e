"""Self-correction metrics, pure functions over per-trajectory rewards.

All rates are fractions of ALL trajectories (not conditional rates), as in the SCoRe paper:
Delta(t1,t2) = Acc@t2 - Acc@t1 = Delta i->c - Delta c->i.
"""

from __future__ import annotations

import numpy as np
from rapidfuzz.distance import Levenshtein


def correction_metrics(r1, r2) -> dict[str, float]:
    """The five paper metrics from first- and second-attempt rewards (0/1 per trajectory).

    >>> m = correction_metrics([1, 1, 0, 0], [1, 0, 1, 1])
    >>> m["acc_t1"], m["acc_t2"], m["delta"], m["delta_i2c"], m["delta_c2i"]
    (0.5, 0.75, 0.25, 0.5, 0.25)
    """
    r1 = np.asarray(r1, dtype=float)
    r2 = np.asarray(r2, dtype=float)
    if r1.shape != r2.shape or r1.size == 0:
        raise ValueError("need the same, non-zero number of first and second attempts")
    return {
        "acc_t1": float(r1.mean()),
        "acc_t2": float(r2.mean()),
        "delta": float(r2.mean() - r1.mean()),
        "delta_i2c": float(((1 - r1) * r2).mean()),
        "delta_c2i": float((r1 * (1 - r2)).mean()),
    }


def edit_distance_ratio(a: str, b: str) -> float:
    """Levenshtein distance normalised by the combined length: 0 identical, 1 nothing shared.

    >>> edit_distance_ratio("abcd", "abcd")
    0.0
    >>> edit_distance_ratio("ab", "cd")   # 2 substitutions / 4 characters
    0.5
    >>> edit_distance_ratio("", "")
    0.0
    """
    total = len(a) + len(b)
    return Levenshtein.distance(a, b) / total if total else 0.0


def answer_changed(first: str | None, second: str | None) -> bool:
    """Whether the final answer differs; a missing answer differs from any present one.

    >>> answer_changed("7", "7"), answer_changed("7", "8"), answer_changed(None, None)
    (False, True, False)
    """
    return first != second


def bootstrap_ci(values_by_group: np.ndarray, statistic, samples: int, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of `statistic` over groups (problems), resampled with replacement.

    values_by_group: (G, ...) one entry per problem, so the samples of one problem move
    together and the CI reflects the number of problems, not of samples.
    """
    rng = np.random.default_rng(seed)
    n = len(values_by_group)
    stats = np.empty(samples)
    for i in range(samples):
        stats[i] = statistic(values_by_group[rng.integers(0, n, n)])
    tail = (1 - level) / 2
    return float(np.quantile(stats, tail)), float(np.quantile(stats, 1 - tail))


def accuracy_by_attempt(rewards: np.ndarray) -> list[float]:
    """Acc@t for t = 1..T from a (N, T) reward matrix.

    >>> accuracy_by_attempt(np.array([[1, 0, 1], [0, 1, 1]]))
    [0.5, 0.5, 1.0]
    """
    return [float(x) for x in np.asarray(rewards, dtype=float).mean(axis=0)]


def summarize(rewards: np.ndarray, groups: np.ndarray, edit_ratios: np.ndarray,
              changed: np.ndarray, bootstrap_samples: int, seed: int = 0) -> dict:
    """Everything `eval` reports, with 95% bootstrap CIs over problems.

    rewards: (N, T) per trajectory and attempt; groups: (N,) problem index of each trajectory;
    edit_ratios, changed: (N,) between attempts 1 and 2.
    """
    rewards = np.asarray(rewards, dtype=float)
    r1, r2 = rewards[:, 0], rewards[:, 1]
    out = correction_metrics(r1, r2)
    _, inverse = np.unique(groups, return_inverse=True)
    outcomes = np.stack([r1, r2, (1 - r1) * r2, r1 * (1 - r2)], axis=1)  # (N, 4)
    per_problem = _per_problem_means(outcomes, inverse)  # (P, 4)
    statistics = {
        "acc_t1": lambda x: x[:, 0].mean(),
        "acc_t2": lambda x: x[:, 1].mean(),
        "delta": lambda x: (x[:, 1] - x[:, 0]).mean(),
        "delta_i2c": lambda x: x[:, 2].mean(),
        "delta_c2i": lambda x: x[:, 3].mean(),
    }
    for key, statistic in statistics.items():
        out[f"{key}_ci"] = list(bootstrap_ci(per_problem, statistic, bootstrap_samples, seed))
    out["accuracy_by_attempt"] = accuracy_by_attempt(rewards)
    out["edit_distance_ratio_mean"] = float(np.mean(edit_ratios))
    out["edit_distance_ratios"] = [round(float(x), 4) for x in edit_ratios]
    out["answer_changed_frac"] = float(np.mean(changed))
    out["fix_rate"] = out["delta_i2c"] / (1 - out["acc_t1"]) if out["acc_t1"] < 1 else 0.0
    out["n_trajectories"] = int(len(rewards))
    out["n_problems"] = int(len(per_problem))
    return out


def _per_problem_means(values: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    counts = np.bincount(inverse)
    sums = np.zeros((counts.size, values.shape[1]))
    np.add.at(sums, inverse, values)
    return sums / counts[:, None]
