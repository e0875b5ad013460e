"""The four correction-dataset builders against hand-made traces with known answers."""

from collections import Counter

import pytest

from selfcorrect_cli.methods.correction_data import (
    _example,
    build_d_plus_sft,
    build_d_plus_star,
    build_d_sft,
    build_d_star,
    build_dataset,
    to_prompt_completion,
)

# Problem p1: trace A wrong->right, trace B right->right, trace C right->wrong.
# Problem p2: trace D wrong->wrong (no right response at all).
# Problem p3: trace E wrong->wrong, trace F right->right.
RECORDS = [
    _example("p1", ("1", 0.0), ("2", 1.0)),
    _example("p1", ("2", 1.0), ("2", 1.0)),
    _example("p1", ("2", 1.0), ("3", 0.0)),
    _example("p2", ("4", 0.0), ("5", 0.0)),
    _example("p3", ("6", 0.0), ("8", 0.0)),
    _example("p3", ("7", 1.0), ("7", 1.0)),
    _example("p4", ("9", 1.0)),  # one turn only: no correction can be read from it
]


def pairs(data):
    return Counter((c.problem_id, c.first, c.second) for c in data.examples)


def test_d_star_keeps_only_wrong_then_right_within_a_trace():
    data = build_d_star(RECORDS)
    assert pairs(data) == Counter({("p1", "A1", "A2"): 1})
    assert (data.n_traces, data.n_problems) == (6, 3)


def test_d_plus_star_adds_right_then_right():
    assert pairs(build_d_plus_star(RECORDS)) == Counter(
        {("p1", "A1", "A2"): 1, ("p1", "A2", "A2"): 1, ("p3", "A7", "A7"): 1})


def test_d_sft_pairs_every_wrong_response_with_a_right_one_of_its_problem():
    data = build_d_sft(RECORDS, seed=0)
    # wrong responses: p1 has A1 and A3 (first and second turns), p3 has A6 and A8; p2 has
    # wrong responses but no right one, so it gives nothing.
    assert sorted((c.problem_id, c.first) for c in data.examples) == [
        ("p1", "A1"), ("p1", "A3"), ("p3", "A6"), ("p3", "A8")]
    right = {"p1": {"A2"}, "p3": {"A7"}}
    assert all(c.second in right[c.problem_id] for c in data.examples)
    assert data.summary("D_SFT") == "D_SFT: 4 tuples from 6 traces (2 problems)"


def test_d_plus_sft_adds_a_pair_for_every_right_response():
    data = build_d_plus_sft(RECORDS, seed=0)
    firsts = Counter((c.problem_id, c.first) for c in data.examples)
    # p1 has four right responses (A2 x4), p3 two (A7 x2), each paired with a right one
    assert firsts == Counter({("p1", "A1"): 1, ("p1", "A3"): 1, ("p1", "A2"): 4,
                              ("p3", "A6"): 1, ("p3", "A8"): 1, ("p3", "A7"): 2})


def test_pair_sft_draws_the_right_response_at_random_and_reproducibly():
    records = [_example("p", ("1", 0.0), ("2", 1.0)), _example("p", ("3", 1.0), ("3", 1.0))] * 20
    drawn = Counter(c.second for c in build_d_sft(records, seed=0).examples)
    assert set(drawn) == {"A2", "A3"}
    assert build_d_sft(records, seed=1) == build_d_sft(records, seed=1)


@pytest.mark.parametrize("method,variant", [("star", "d"), ("star", "d_plus"),
                                            ("pair-sft", "d"), ("pair-sft", "d_plus")])
def test_no_right_responses_gives_an_empty_dataset(method, variant):
    data = build_dataset(method, variant, [_example("p", ("1", 0.0), ("2", 0.0))])
    assert data.examples == [] and data.n_traces == 1


def test_prompt_holds_x1_y1_and_the_instruction_and_completion_holds_y2():
    row = to_prompt_completion(build_d_star(RECORDS).examples[0], "check and retry")
    assert row["prompt"] == [{"role": "user", "content": "p1"},
                             {"role": "assistant", "content": "A1"},
                             {"role": "user", "content": "check and retry"}]
    assert row["completion"] == [{"role": "assistant", "content": "A2"}]
