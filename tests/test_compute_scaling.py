import random

import pytest

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.measure.compute_scaling import majority_vote, scaling_curves
from selfcorrect_cli.report.figures import plot_compute_scaling

GOLD = {"A": "7", "B": "3"}

# (turn-1 answer, turn-2 answer) for sample_index 0..3 of each problem; None = unparsable.
ANSWERS = {
    "A": [("5", "7"), ("7", "7"), ("7", None), ("5", "5")],
    "B": [(None, None), ("3", "3"), ("4", "3"), ("4", "4")],
}


def record(problem_id: str, index: int, answers: tuple) -> dict:
    gold = GOLD[problem_id]
    turns = [{"prompt": "p", "response": "r", "answer": a, "reward": float(a == gold)}
             for a in answers]
    return {"problem_id": problem_id, "sample_index": index, "task": "division",
            "split": "train", "gold": gold, "turns": turns}


def hand_records() -> list[dict]:
    records = [record(p, i, a) for p, rows in ANSWERS.items() for i, a in enumerate(rows)]
    random.Random(0).shuffle(records)  # the file order must not matter, sample_index does
    return records




@pytest.mark.parametrize("answers, expected", [
    (["1", "2", "2"], "2"),
    (["2", "1", "1", "2"], "2"),      # tie: first seen wins
    (["1", "2", "1", "2"], "1"),
    ([None, "4", None], "4"),
    ([None, None, None], None),
    ([], None),
])
def test_majority_vote(answers, expected):
    assert majority_vote(answers) == expected


def test_scaling_curves_hand_computed():
    # Problem A, K=1: parallel votes over turn 1 of samples 0,1: "5","7" tie -> "5", wrong;
    #   sequential votes over turn 2 of sample 0: "7", right.
    # Problem A, K=2: parallel "5","7","7","5" tie -> "5", wrong; sequential "7","7", right.
    # Problem B, K=1: parallel None,"3" -> "3", right; sequential None -> no vote, wrong.
    # Problem B, K=2: parallel None,"3","4","4" -> "4", wrong; sequential None,"3" -> "3", right.
    curves = scaling_curves(hand_records(), ks=(1, 2), bootstrap_samples=1000, seed=0)
    assert curves["k"] == [1, 2]
    assert curves["responses"] == [2, 4]
    assert curves["parallel"] == [0.5, 0.0]
    assert curves["sequential"] == [0.5, 1.0]
    assert curves["n_problems"] == 2
    # Two problems, one right and one wrong: resamples give 0, 0.5 or 1 (a quarter each at
    # the ends), so the 2.5% and 97.5% quantiles are 0 and 1.
    assert curves["parallel_ci"] == [[0.0, 1.0], [0.0, 0.0]]
    assert curves["sequential_ci"] == [[0.0, 1.0], [1.0, 1.0]]


def test_samples_beyond_2k_are_not_used():
    # A fifth, correct sample for every problem must not change K=2, which uses samples 0..3.
    extra = [record(p, 4, (GOLD[p], GOLD[p])) for p in GOLD]
    curves = scaling_curves(hand_records() + extra, ks=(1, 2), bootstrap_samples=10)
    assert curves["parallel"] == [0.5, 0.0]
    assert curves["sequential"] == [0.5, 1.0]


def test_vote_counts_as_right_if_any_record_with_that_answer_was_rewarded():
    # Sample 1 gives the voted answer "7" with reward 0 (as a noisy verifier might), sample 0
    # gives it with reward 1: the vote is right.
    records = [record("A", 0, ("7", "7")), record("A", 1, ("7", "7"))]
    records[1]["turns"][0]["reward"] = 0.0
    curves = scaling_curves(records, ks=(1,), bootstrap_samples=10)
    assert curves["parallel"] == [1.0]


def test_too_few_samples_is_a_usage_error():
    records = hand_records()
    records = [r for r in records if not (r["problem_id"] == "B" and r["sample_index"] == 3)]
    with pytest.raises(UsageError) as err:
        scaling_curves(records, ks=(1, 2))
    assert str(err.value) == ("compute scaling needs 4 two-turn samples per problem; "
                              "problem B has 3")


def test_one_turn_samples_do_not_count():
    records = hand_records()
    for r in records:
        if r["problem_id"] == "A" and r["sample_index"] == 0:
            r["turns"] = r["turns"][:1]
    with pytest.raises(UsageError, match="problem A has 3"):
        scaling_curves(records, ks=(1, 2))


def test_default_ks_need_32_samples():
    with pytest.raises(UsageError, match="needs 32 two-turn samples per problem; problem A has 4"):
        scaling_curves(hand_records())


def test_no_records_is_a_usage_error():
    with pytest.raises(UsageError, match="no traces"):
        scaling_curves([], ks=(1,))


def test_plot_compute_scaling_writes_png(tmp_path):
    curves = scaling_curves(hand_records(), ks=(1, 2), bootstrap_samples=50)
    out = tmp_path / "compute_scaling.png"
    plot_compute_scaling({"SCoRe": curves, "base": curves}, out)
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 1000
    assert [p.name for p in tmp_path.iterdir()] == ["compute_scaling.png"]  # no temp file left
