
import numpy as np
import pytest

from selfcorrect_cli.measure.metrics import (
    NEAR_COPY_RATIO,
    accuracy_by_attempt,
    answer_changed,
    answer_changed_rate,
    change_rates,
    correction_metrics,
    edit_distance_ratio,
    kind_metrics,
    near_copy_fraction,
    summarize,
)
from selfcorrect_cli.measure.statistics import bootstrap_ci, fix_rate


@pytest.mark.parametrize("r1, r2, expected", [
    # acc_t1, acc_t2, delta, i->c, c->i, all as fractions of ALL problems
    ([1, 1, 0, 0], [1, 0, 1, 1], (0.5, 0.75, 0.25, 0.5, 0.25)),
    ([1, 1, 1, 1], [1, 1, 1, 1], (1.0, 1.0, 0.0, 0.0, 0.0)),
    ([0, 0, 0, 0, 1], [0, 0, 0, 0, 0], (0.2, 0.0, -0.2, 0.0, 0.2)),
    ([0, 1, 0, 1, 0], [1, 0, 0, 1, 1], (0.4, 0.6, 0.2, 0.4, 0.2)),
])
def test_correction_metrics_hand_computed(r1, r2, expected):
    m = correction_metrics(r1, r2)
    got = (m["acc_t1"], m["acc_t2"], m["delta"], m["delta_i2c"], m["delta_c2i"])
    assert got == pytest.approx(expected)
    assert m["delta"] == pytest.approx(m["delta_i2c"] - m["delta_c2i"])


def test_correction_metrics_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        correction_metrics([1, 0], [1])


# Levenshtein distance / the longer length, counted by hand.
@pytest.mark.parametrize("a, b, expected", [
    ("abc", "abc", 0.0),
    ("", "", 0.0),              # nothing to edit
    ("ab", "cd", 1.0),          # two substitutions over 2: nothing shared reaches 1
    ("abc", "abd", 1 / 3),      # one substitution over 3
    ("", "xy", 1.0),            # two insertions over 2
    ("abc", "", 1.0),           # three deletions over 3
    ("kitten", "sitting", 3 / 7),  # k->s, e->i, insert g; the longer has 7 characters
    ("7:A7", "8:A8", 2 / 4),
])
def test_edit_distance_ratio(a, b, expected):
    assert edit_distance_ratio(a, b) == pytest.approx(expected)
    assert edit_distance_ratio(b, a) == pytest.approx(expected)  # symmetric


def test_near_copies_are_below_the_threshold():
    assert NEAR_COPY_RATIO == 0.10  # 0.05 on the old half-scale ratio, fixed before any result
    assert near_copy_fraction([0.0, 0.099, 0.1, 0.5]) == 0.5
    with pytest.raises(ValueError):
        near_copy_fraction([])


def test_answer_changed_treats_missing_answers():
    assert answer_changed(None, "3") and not answer_changed("3", "3")


def test_answer_changed_rate():
    assert answer_changed_rate(["1", "2", None, None], ["1", "3", None, "4"]) == 0.5
    with pytest.raises(ValueError):
        answer_changed_rate(["1"], [])


@pytest.mark.parametrize("acc_t1, delta_i2c, expected", [
    (0.5, 0.25, 0.5),     # half wrong at t1, half of those fixed
    (0.8, 0.0, 0.0),      # wrong first attempts, none fixed
    (0.0, 1.0, 1.0),
    (1.0, 0.0, None),     # no wrong first attempt: undefined, not 0
])
def test_fix_rate(acc_t1, delta_i2c, expected):
    got = fix_rate(acc_t1, delta_i2c)
    assert got is None if expected is None else got == pytest.approx(expected)


def test_accuracy_by_attempt():
    assert accuracy_by_attempt(np.array([[0, 1, 1], [0, 0, 1]])) == [0.0, 0.5, 1.0]


def test_bootstrap_ci_brackets_the_mean_and_is_degenerate_for_constants():
    values = np.array([[1.0]] * 50 + [[0.0]] * 50)
    low, high = bootstrap_ci(values, lambda x: x.mean(), samples=500)
    assert low < 0.5 < high
    assert bootstrap_ci(np.ones((20, 1)), lambda x: x.mean(), samples=50) == (1.0, 1.0)


def test_summarize_groups_samples_by_problem():
    rewards = np.array([[0, 1], [0, 1], [1, 0], [1, 1]])
    groups = np.array(["p", "p", "q", "q"])
    out = summarize(rewards, groups, np.array([0.1, 0.2, 0.3, 0.0]), 0.75, bootstrap_samples=50)
    assert out["n_problems"] == 2 and out["n_trajectories"] == 4
    assert out["acc_t1"] == 0.5 and out["acc_t2"] == 0.75
    assert out["delta_i2c"] == 0.5 and out["delta_c2i"] == 0.25
    assert out["answer_changed_frac"] == 0.75
    assert out["edit_distance_ratio_mean"] == pytest.approx(0.15)
    assert out["fix_rate"] == pytest.approx(1.0)
    for key in ("acc_t1", "acc_t2", "delta", "delta_i2c", "delta_c2i"):
        low, high = out[f"{key}_ci"]
        assert low <= out[key] <= high


def test_summarize_fix_rate_is_undefined_when_every_first_attempt_is_right():
    out = summarize(np.array([[1, 1], [1, 0]]), np.array(["p", "q"]), np.zeros(2), 0.5,
                    bootstrap_samples=10)
    assert out["fix_rate"] is None and out["delta_c2i"] == 0.5


@pytest.mark.parametrize("r1, changed, expected", [
    # (after right, after wrong, discrimination), counted by hand
    ([1, 1, 0, 0], [False, False, True, True], (0.0, 1.0, 1.0)),    # changes only the wrong
    ([1, 1, 0, 0], [True, False, True, False], (0.5, 0.5, 0.0)),    # one rate whatever y1
    ([1, 1, 1, 0], [True, True, True, False], (1.0, 0.0, -1.0)),    # changes only the right
    ([0, 0, 0], [True, False, False], (None, 1 / 3, None)),         # nothing right at t1
])
def test_change_rates(r1, changed, expected):
    got = change_rates(r1, changed)
    keys = ("change_rate_after_right", "change_rate_after_wrong", "discrimination")
    for key, value in zip(keys, expected):
        assert got[key] is None if value is None else got[key] == pytest.approx(value)
    with pytest.raises(ValueError):
        change_rates([1, 0], [True])


def test_kind_metrics_hand_computed_and_adding_up_to_the_totals():
    kinds = ["right", "right", "guess", "guess", "guess", "guess", "misread", "slip"]
    r1 = [1, 1, 0, 0, 0, 0, 0, 0]
    r2 = [1, 0, 1, 1, 1, 0, 0, 1]
    m = kind_metrics(kinds, r1, r2)
    assert m["guess"] == {"share_t1": 0.5, "delta_i2c": 0.375, "fix_rate": 0.75}
    assert m["misread"] == {"share_t1": 0.125, "delta_i2c": 0.0, "fix_rate": 0.0}
    assert m["slip"] == {"share_t1": 0.125, "delta_i2c": 0.125, "fix_rate": 1.0}
    assert m["right"] == {"share_t1": 0.25, "delta_i2c": 0.0, "fix_rate": None}
    totals = correction_metrics(r1, r2)
    assert sum(k["share_t1"] for k in m.values()) == pytest.approx(1.0)
    assert sum(k["delta_i2c"] for k in m.values()) == pytest.approx(totals["delta_i2c"])
    with pytest.raises(ValueError):
        kind_metrics(["guess"], [0, 1], [1, 1])
