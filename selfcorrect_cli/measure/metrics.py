"""Self-correction metrics, pure functions over per-trajectory rewards and attempts.

All rates are fractions of ALL trajectories (not conditional rates), as in the SCoRe paper:
Delta(t1,t2) = Acc@t2 - Acc@t1 = Delta i->c - Delta c->i. The one conditional rate, the fix
rate, and the confidence intervals are in statistics.py.
"""

from __future__ import annotations

import numpy as np
from rapidfuzz.distance import Levenshtein

from selfcorrect_cli.measure.statistics import bootstrap_ci, fix_rate
from selfcorrect_cli.tasks.division import MISTAKE_KINDS

# A second attempt whose edit-distance ratio to the first is below this is a near copy: it
# edits fewer than 10% of the characters of the longer attempt. Used by the collapse analysis
# (paper Figure 3) and by finding F3. Fixed before any result was seen as 0.05 on the earlier
# scale (distance / combined length, which is about half of distance / longer length for
# attempts of similar length); restated as 0.10 when the ratio moved to the 0-1 scale, so that
# the criterion keeps its meaning (about 3 edited characters in a 30-character attempt).
NEAR_COPY_RATIO = 0.10
# The kinds of a wrong attempt, in the order tables show them (Task.mistake_kind).
WRONG_KINDS = tuple(k for k in MISTAKE_KINDS if k != "right")


def outcome_columns(r1, r2) -> np.ndarray:
    """The four outcomes of each trajectory that the five metrics average, from its first- and
    second-attempt rewards: right at t1, right at t2, wrong -> right, right -> wrong.

    >>> outcome_columns([1, 0], [0, 1]).tolist()
    [[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]]
    """
    r1 = np.asarray(r1, dtype=float)
    r2 = np.asarray(r2, dtype=float)
    if r1.shape != r2.shape or r1.size == 0:
        raise ValueError("need the same, non-zero number of first and second attempts")
    return np.stack([r1, r2, (1 - r1) * r2, r1 * (1 - r2)], axis=1)  # (N, 4)


# The paper's five metrics, each a statistic of outcome columns: of the trajectories' (N, 4)
# for a run's values, of resampled per-problem means (P, 4) for its bootstrap CIs.
FIVE_METRICS = {
    "acc_t1": lambda x: x[:, 0].mean(),
    "acc_t2": lambda x: x[:, 1].mean(),
    "delta": lambda x: (x[:, 1] - x[:, 0]).mean(),
    "delta_i2c": lambda x: x[:, 2].mean(),
    "delta_c2i": lambda x: x[:, 3].mean(),
}


def correction_metrics(r1, r2) -> dict[str, float]:
    """The five paper metrics (FIVE_METRICS) from first- and second-attempt rewards (0/1 per
    trajectory).

    >>> m = correction_metrics([1, 1, 0, 0], [1, 0, 1, 1])
    >>> m["acc_t1"], m["acc_t2"], m["delta"], m["delta_i2c"], m["delta_c2i"]
    (0.5, 0.75, 0.25, 0.5, 0.25)
    """
    outcomes = outcome_columns(r1, r2)
    values = {key: float(statistic(outcomes)) for key, statistic in FIVE_METRICS.items()}
    # A run's Delta is Acc@t2 - Acc@t1, as the paper writes it: the mean of the differences
    # equals it but for rounding in the last bit, and every metrics file so far holds this one
    values["delta"] = values["acc_t2"] - values["acc_t1"]
    return values


def edit_distance_ratio(a: str, b: str) -> float:
    """Levenshtein distance / the longer length, on a true 0-1 scale: 0 identical, 1 when
    nothing can be kept (every character of the longer string edited); 0 for two empty ones.

    >>> edit_distance_ratio("abcd", "abcd")
    0.0
    >>> edit_distance_ratio("ab", "cd")   # 2 substitutions / 2 characters
    1.0
    >>> round(edit_distance_ratio("abc", "abd"), 4)   # 1 substitution / 3
    0.3333
    >>> edit_distance_ratio("", "xy"), edit_distance_ratio("", "")
    (1.0, 0.0)
    >>> edit_distance_ratio("kitten", "sitting") == 3 / 7   # k->s, e->i, +g over 7
    True
    """
    return Levenshtein.normalized_distance(a, b)


def near_copy_fraction(ratios) -> float:
    """Share of (y1, y2) pairs whose edit-distance ratio is below NEAR_COPY_RATIO.

    >>> near_copy_fraction([0.0, 0.01, 0.2, 0.5])
    0.5
    """
    if len(ratios) == 0:
        raise ValueError("near_copy_fraction needs at least one edit-distance ratio")
    return sum(r < NEAR_COPY_RATIO for r in ratios) / len(ratios)


def answer_changed(first: str | None, second: str | None) -> bool:
    """Whether the final answer differs; a missing answer differs from any present one.

    >>> answer_changed("7", "7"), answer_changed("7", "8"), answer_changed(None, None)
    (False, True, False)
    """
    return first != second


def answer_changed_rate(first: list, second: list) -> float:
    """Share of second attempts whose final answer differs from the first (answer_changed).

    >>> answer_changed_rate(["7", "7", None, "3"], ["7", "8", "5", "3"])
    0.5
    """
    if len(first) != len(second) or not first:
        raise ValueError("need the same, non-zero number of first and second answers")
    return sum(answer_changed(a, b) for a, b in zip(first, second)) / len(first)


def change_rates(r1, changed) -> dict[str, float | None]:
    """How often the second answer differs from the first after a right first attempt and
    after a wrong one, and their difference, the discrimination. A collapsed corrector changes
    at one rate whatever its first attempt (discrimination 0); an adaptive one changes the
    wrong ones (towards 1). A rate with no first attempt of its kind is None, and so is the
    difference then.

    >>> change_rates([1, 1, 1, 1, 0, 0], [False, False, False, True, True, False])
    {'change_rate_after_right': 0.25, 'change_rate_after_wrong': 0.5, 'discrimination': 0.25}
    >>> change_rates([1, 1], [True, False])["discrimination"] is None
    True
    """
    r1 = np.asarray(r1, dtype=float)
    changed = np.asarray(changed, dtype=bool)
    if r1.shape != changed.shape or r1.size == 0:
        raise ValueError("need the same, non-zero number of first rewards and change flags")
    right, wrong = r1 == 1, r1 == 0
    after_right = float(changed[right].mean()) if right.any() else None
    after_wrong = float(changed[wrong].mean()) if wrong.any() else None
    both = after_right is not None and after_wrong is not None
    return {"change_rate_after_right": after_right, "change_rate_after_wrong": after_wrong,
            "discrimination": after_wrong - after_right if both else None}


def kind_metrics(first_kinds: list[str], r1, r2) -> dict[str, dict]:
    """Per kind of first attempt (Task.mistake_kind): its share of all trajectories, its
    Delta i->c (wrong at t1 with this kind, right at t2, as a fraction of ALL trajectories, so
    the kinds' i->c add up to Delta i->c) and its fix rate, i->c over the share of wrong first
    attempts of this kind (None for a kind with none, such as "right").

    >>> m = kind_metrics(["right", "guess", "guess", "misread"], [1, 0, 0, 0], [1, 1, 0, 0])
    >>> m["guess"]
    {'share_t1': 0.5, 'delta_i2c': 0.25, 'fix_rate': 0.5}
    >>> m["misread"]
    {'share_t1': 0.25, 'delta_i2c': 0.0, 'fix_rate': 0.0}
    >>> m["right"]
    {'share_t1': 0.25, 'delta_i2c': 0.0, 'fix_rate': None}
    """
    kinds = np.asarray(first_kinds, dtype=object)
    r1, r2 = np.asarray(r1, dtype=float), np.asarray(r2, dtype=float)
    if not (kinds.shape == r1.shape == r2.shape) or kinds.size == 0:
        raise ValueError("need the same, non-zero number of first kinds and rewards")
    out = {}
    for kind in sorted(set(first_kinds)):
        of_kind = kinds == kind
        wrong = float((of_kind * (1 - r1)).mean())
        i2c = float((of_kind * (1 - r1) * r2).mean())
        out[kind] = {"share_t1": float(of_kind.mean()), "delta_i2c": i2c,
                     "fix_rate": i2c / wrong if wrong > 0 else None}
    return out


def error_mix(counts: dict[str, float]) -> dict[str, float]:
    """The mix of WRONG attempts: each mistake kind's share among the wrong ones, from counts
    (or shares of all attempts, such as metrics.json's `share_t1`) per kind; "right" is left
    out. Every wrong kind of the built-in world is listed (0.0 when absent), in table order,
    then any other kind a task names; empty when nothing is wrong.

    >>> error_mix({"right": 5, "guess": 3, "slip": 1})
    {'guess': 0.75, 'misread': 0.0, 'slip': 0.25, 'malformed': 0.0}
    >>> error_mix({"right": 2})
    {}
    """
    wrong = {k: float(v) for k, v in counts.items() if k != "right"}
    total = sum(wrong.values())
    if total <= 0:
        return {}
    kinds = [*WRONG_KINDS, *sorted(set(wrong) - set(WRONG_KINDS))]
    return {k: wrong.get(k, 0.0) / total for k in kinds}


def total_variation(p: dict[str, float], q: dict[str, float]) -> float | None:
    """Total-variation distance between two mixes, half the summed absolute differences over
    the kinds of either (0: the same mix, 1: no kind in common); None when one is empty.

    >>> total_variation({"guess": 0.75, "slip": 0.25}, {"guess": 0.5, "misread": 0.5})
    0.5
    >>> total_variation({"guess": 1.0}, {}) is None
    True
    """
    if not p or not q:
        return None
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


def accuracy_by_attempt(rewards: np.ndarray) -> list[float]:
    """Acc@t for t = 1..T from a (N, T) reward matrix.

    >>> accuracy_by_attempt(np.array([[1, 0, 1], [0, 1, 1]]))
    [0.5, 0.5, 1.0]
    """
    return [float(x) for x in np.asarray(rewards, dtype=float).mean(axis=0)]


def summarize(rewards: np.ndarray, groups: np.ndarray, edit_ratios: np.ndarray,
              changed_rate: float, bootstrap_samples: int, seed: int = 0) -> dict:
    """Everything `eval` reports, with 95% bootstrap CIs over problems.

    rewards: (N, T) per trajectory and attempt; groups: (N,) problem index of each trajectory;
    edit_ratios: (N,) between attempts 1 and 2; changed_rate: answer_changed_rate of them.
    """
    rewards = np.asarray(rewards, dtype=float)
    r1, r2 = rewards[:, 0], rewards[:, 1]
    out = correction_metrics(r1, r2)
    _, inverse = np.unique(groups, return_inverse=True)
    per_problem = _per_problem_means(outcome_columns(r1, r2), inverse)  # (P, 4)
    for key, statistic in FIVE_METRICS.items():
        out[f"{key}_ci"] = list(bootstrap_ci(per_problem, statistic, bootstrap_samples, seed))
    out["accuracy_by_attempt"] = accuracy_by_attempt(rewards)
    out["edit_distance_ratio_mean"] = float(np.mean(edit_ratios))
    out["edit_distance_ratios"] = [round(float(x), 4) for x in edit_ratios]
    out["answer_changed_frac"] = float(changed_rate)
    out["fix_rate"] = fix_rate(out["acc_t1"], out["delta_i2c"])
    out["n_trajectories"] = int(len(rewards))
    out["n_problems"] = int(len(per_problem))
    return out


def _per_problem_means(values: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    counts = np.bincount(inverse)
    sums = np.zeros((counts.size, values.shape[1]))
    np.add.at(sums, inverse, values)
    return sums / counts[:, None]
