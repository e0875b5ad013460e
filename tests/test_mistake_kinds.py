"""Mistake kinds travel from the task to the trace record to metrics.json, and a task that
cannot tell kinds leaves no trace of them."""

import json

import pytest

from selfcorrect_cli.config import WorldConfig
from selfcorrect_cli.io.traces import trajectory_record
from selfcorrect_cli.measure.collect import metrics_from_traces
from selfcorrect_cli.rollout.generation import Attempt, Trajectory
from selfcorrect_cli.tasks.base import Problem, Task
from selfcorrect_cli.tasks.division import DivisionTask, write_attempt

PROBLEM = Problem("184/23", "184/23", "8")
RIGHT = write_attempt(184, 23, 8, verdict=True)
GUESS = write_attempt(184, 23, 7, verdict=True)
MISREAD = write_attempt(184, 33, 5, verdict=True)      # 23 read as 33; its check says OK
SLIP = write_attempt(184, 23, 7, slip=1, verdict=True)


class Unlabelled(DivisionTask):
    """The division task without labels, as any task that cannot tell kinds."""

    mistake_kind = Task.mistake_kind


def record(task, first: str, second: str) -> dict:
    t = Trajectory(PROBLEM, 0)
    for text in (first, second):
        answer = task.extract_answer(text)
        t.attempts.append(Attempt([], [], text, task.verify(PROBLEM, text), answer))
    # through JSON, as metrics.json reads them back from traces.jsonl
    return json.loads(json.dumps(trajectory_record(t, task, "test", {}, "model", 0)))


def test_every_turn_of_a_division_trace_carries_its_kind():
    r = record(DivisionTask(WorldConfig()), MISREAD, RIGHT)
    assert [turn["kind"] for turn in r["turns"]] == ["misread", "right"]


def test_a_task_without_labels_writes_no_kind():
    r = record(Unlabelled(WorldConfig()), GUESS, RIGHT)
    assert all("kind" not in turn for turn in r["turns"])


def test_metrics_per_kind_and_discrimination_from_labelled_traces():
    task = DivisionTask(WorldConfig())
    records = [record(task, *pair) for pair in [
        (RIGHT, RIGHT), (RIGHT, GUESS),            # right at t1: one of two changed
        (GUESS, RIGHT), (GUESS, GUESS),            # guesses: one of two fixed
        (MISREAD, MISREAD), (SLIP, RIGHT),         # the misread kept, the slip fixed
    ]]
    m = metrics_from_traces(records, bootstrap_samples=10)
    kinds = m["mistake_kinds"]
    assert set(kinds) == {"right", "guess", "misread", "slip"}
    assert kinds["guess"] == pytest.approx({"share_t1": 2 / 6, "delta_i2c": 1 / 6, "fix_rate": 0.5})
    assert kinds["misread"] == pytest.approx({"share_t1": 1 / 6, "delta_i2c": 0.0, "fix_rate": 0.0})
    assert kinds["slip"] == pytest.approx({"share_t1": 1 / 6, "delta_i2c": 1 / 6, "fix_rate": 1.0})
    assert kinds["right"]["fix_rate"] is None
    assert sum(k["delta_i2c"] for k in kinds.values()) == pytest.approx(m["delta_i2c"])
    # answers changed: right->guess, guess->right, slip->right (7 -> 8); 1 of 2 after right
    assert m["change_rate_after_right"] == 0.5
    assert m["change_rate_after_wrong"] == pytest.approx(2 / 4)
    assert m["discrimination"] == pytest.approx(0.0)
    assert m["answer_changed_frac"] == pytest.approx(3 / 6)


def test_unlabelled_traces_get_change_rates_but_no_kinds():
    records = [record(Unlabelled(WorldConfig()), GUESS, RIGHT),
               record(Unlabelled(WorldConfig()), RIGHT, RIGHT)]
    m = metrics_from_traces(records, bootstrap_samples=10)
    assert "mistake_kinds" not in m
    assert (m["change_rate_after_right"], m["change_rate_after_wrong"], m["discrimination"]) == \
        (0.0, 1.0, 1.0)
    # labelled and unlabelled records mixed (a resumed file from before labels): no kinds
    mixed = records + [record(DivisionTask(WorldConfig()), GUESS, GUESS)]
    assert "mistake_kinds" not in metrics_from_traces(mixed, bootstrap_samples=10)
