import numpy as np
import pytest

from selfcorrect_cli.measure.metrics import (accuracy_by_attempt, answer_changed, bootstrap_ci,
                                     correction_metrics, edit_distance_ratio, summarize)


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


@pytest.mark.parametrize("a, b, expected", [
    ("abc", "abc", 0.0),
    ("abc", "abd", 1 / 6),      # one substitution over 6 characters
    ("abc", "", 1.0),           # three deletions over 3 characters
    ("7:A7", "8:A8", 2 / 8),
])
def test_edit_distance_ratio(a, b, expected):
    assert edit_distance_ratio(a, b) == pytest.approx(expected)


def test_answer_changed_treats_missing_answers():
    assert answer_changed(None, "3") and not answer_changed("3", "3")


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
    out = summarize(rewards, groups, np.array([0.1, 0.2, 0.3, 0.0]),
                    np.array([True, True, True, False]), bootstrap_samples=50)
    assert out["n_problems"] == 2 and out["n_trajectories"] == 4
    assert out["acc_t1"] == 0.5 and out["acc_t2"] == 0.75
    assert out["delta_i2c"] == 0.5 and out["delta_c2i"] == 0.25
    assert out["answer_changed_frac"] == 0.75
    assert out["edit_distance_ratio_mean"] == pytest.approx(0.15)
    assert out["fix_rate"] == pytest.approx(1.0)
    for key in ("acc_t1", "acc_t2", "delta", "delta_i2c", "delta_c2i"):
        low, high = out[f"{key}_ci"]
        assert low <= out[key] <= high
