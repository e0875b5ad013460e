"""The statistics of the findings, version 2, as functions of column sums (measure/paired.py).

Per problem, `problem_columns` counts what one model did over its samples of that problem
(COLUMNS); a seed's statistic is then a function of the columns summed over the problems,
as measured or as resampled. Sums arrive as (m, k) arrays, one row per resample, and every
statistic returns (m,) fractions, NaN where it is undefined (nothing to divide by). The
definitions are those declared in experiments/builtin/findings-v2.yaml:

- acc_t2: Acc@t2 of a minus of b (or of a alone);
- delta: Delta(t1, t2) of a minus of b, or of a alone;
- discrimination: a's change rate after a wrong first attempt minus after a right one,
  minus the same of b (a change: the second answer differs from the first);
- kind_spread: b's spread of fix rates over the kinds of wrong first attempt minus a's, over
  the kinds (SPREAD_KINDS) that both models make at least MIN_KIND_COUNT times; undefined
  with fewer than two such kinds;
- mismatch_gap: the fix rate on a collector's first attempts minus on the model's own.
"""

from __future__ import annotations

import numpy as np

from selfcorrect_cli.measure.metrics import answer_changed

# The kinds of wrong first attempt a spread is taken over (malformed answers are left out:
# the declaration names these three).
SPREAD_KINDS = ("guess", "misread", "slip")
MIN_KIND_COUNT = 20
COLUMNS = ("trajectories", "right_t1", "right_t2", "changed_after_wrong", "changed_after_right",
           *(f"wrong_{kind}" for kind in SPREAD_KINDS), *(f"fixed_{kind}" for kind in SPREAD_KINDS))
_AT = {name: i for i, name in enumerate(COLUMNS)}
_WRONG = [_AT[f"wrong_{kind}"] for kind in SPREAD_KINDS]
_FIXED = [_AT[f"fixed_{kind}"] for kind in SPREAD_KINDS]
# The mismatch experiment's units: one 0/1 fix each, on the collector's side or the own side.
FIX_COLUMNS = ("collector_wrong", "collector_fixed", "own_wrong", "own_fixed")


def problem_columns(records: list[dict]) -> tuple[list[str], np.ndarray]:
    """(problem ids, sorted; (problems, len(COLUMNS)) counts): every sample of a problem adds
    to its row, so resampling a row carries all of them.

    >>> ids, x = problem_columns([
    ...     {"problem_id": "6/3", "turns": [{"answer": "1", "reward": 0.0, "kind": "guess"},
    ...                                     {"answer": "2", "reward": 1.0, "kind": "right"}]},
    ...     {"problem_id": "6/3", "turns": [{"answer": "2", "reward": 1.0, "kind": "right"},
    ...                                     {"answer": "2", "reward": 1.0, "kind": "right"}]}])
    >>> ids, dict(zip(COLUMNS, x[0].tolist()))["fixed_guess"], x[0, :5].tolist()
    (['6/3'], 1.0, [2.0, 1.0, 2.0, 1.0, 0.0])
    """
    rows: dict[str, np.ndarray] = {}
    for record in records:
        first, second = record["turns"][0], record["turns"][1]
        right1, right2 = first["reward"] == 1, second["reward"] == 1
        changed = answer_changed(first.get("answer"), second.get("answer"))
        row = rows.setdefault(str(record["problem_id"]), np.zeros(len(COLUMNS)))
        row[_AT["trajectories"]] += 1
        row[_AT["right_t1"]] += right1
        row[_AT["right_t2"]] += right2
        row[_AT["changed_after_wrong"]] += changed and not right1
        row[_AT["changed_after_right"]] += changed and right1
        kind = first.get("kind")
        if not right1 and kind in SPREAD_KINDS:
            row[_AT[f"wrong_{kind}"]] += 1
            row[_AT[f"fixed_{kind}"]] += right2
    ids = sorted(rows)
    return ids, np.array([rows[i] for i in ids]).reshape(len(ids), len(COLUMNS))


def fix_columns(collector_fixes: list[int], own_fixes: list[int]) -> np.ndarray:
    """(units, len(FIX_COLUMNS)): the collector's fixes first, then the model's own.

    >>> fix_columns([1, 0], [1]).tolist()
    [[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]
    """
    rows = [[1, f, 0, 0] for f in collector_fixes] + [[0, 0, 1, f] for f in own_fixes]
    return np.array(rows, dtype=float).reshape(len(rows), len(FIX_COLUMNS))


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0.

    >>> ratio(np.array([1.0, 1.0]), np.array([4.0, 0.0])).tolist()
    [0.25, nan]
    """
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, np.nan)


def _acc_t2(x: np.ndarray) -> np.ndarray:
    return ratio(x[:, _AT["right_t2"]], x[:, _AT["trajectories"]])


def _delta(x: np.ndarray) -> np.ndarray:
    return ratio(x[:, _AT["right_t2"]] - x[:, _AT["right_t1"]], x[:, _AT["trajectories"]])


def _discrimination(x: np.ndarray) -> np.ndarray:
    wrong = x[:, _AT["trajectories"]] - x[:, _AT["right_t1"]]
    return (ratio(x[:, _AT["changed_after_wrong"]], wrong)
            - ratio(x[:, _AT["changed_after_right"]], x[:, _AT["right_t1"]]))


def acc_t2(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """>>> a, b = np.array([[4, 2, 3] + [0] * 8]), np.array([[4, 2, 2] + [0] * 8])
    >>> acc_t2(a, b).tolist(), acc_t2(a).tolist()   # 3/4 - 2/4; 3/4
    ([0.25], [0.75])
    """
    return _acc_t2(a) if b is None else _acc_t2(a) - _acc_t2(b)


def delta(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """>>> a = np.array([[4, 2, 3] + [0] * 8])
    >>> delta(a).tolist(), delta(a, a).tolist()   # (3 - 2) / 4
    ([0.25], [0.0])
    """
    return _delta(a) if b is None else _delta(a) - _delta(b)


def discrimination(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """>>> a = np.array([[4, 2, 2, 2, 0] + [0] * 6])   # changes both wrong, no right: 1 - 0
    >>> b = np.array([[4, 2, 2, 1, 1] + [0] * 6])      # changes 1 of 2 of each: .5 - .5
    >>> discrimination(a, b).tolist()
    [1.0]
    """
    return _discrimination(a) - _discrimination(b)


def kind_spread(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """b's spread minus a's; a spread is the largest minus the smallest fix rate over the kinds
    both make at least MIN_KIND_COUNT times (kinds in SPREAD_KINDS order in the columns).

    >>> def model(wrong, fixed): return np.array([[0] * 5 + wrong + fixed], dtype=float)
    >>> a = model([20, 40, 19], [10, 20, 0])   # guess .5, misread .5; slip too rare for a
    >>> b = model([20, 20, 50], [20, 5, 50])   # guess 1, misread .25 -> spread .75
    >>> kind_spread(a, b).tolist()
    [0.75]
    >>> kind_spread(a, model([20, 19, 50], [20, 5, 50])).tolist()   # one kind left: undefined
    [nan]
    """
    counted = (a[:, _WRONG] >= MIN_KIND_COUNT) & (b[:, _WRONG] >= MIN_KIND_COUNT)   # (m, 3)

    def spread(x: np.ndarray) -> np.ndarray:
        fix = ratio(x[:, _FIXED], x[:, _WRONG])
        return (np.where(counted, fix, -np.inf).max(axis=1)
                - np.where(counted, fix, np.inf).min(axis=1))

    with np.errstate(invalid="ignore"):   # rows with no counted kind: inf - inf, masked below
        return np.where(counted.sum(axis=1) >= 2, spread(b) - spread(a), np.nan)


def mismatch_gap(x: np.ndarray) -> np.ndarray:
    """Fix rate on the collector's first attempts minus on the own, from FIX_COLUMNS sums.

    >>> mismatch_gap(fix_columns([1, 1, 0, 1], [1, 0]).sum(axis=0, keepdims=True)).tolist()
    [0.25]
    """
    return ratio(x[:, 1], x[:, 0]) - ratio(x[:, 3], x[:, 2])
