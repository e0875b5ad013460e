"""Pure pieces of the SFT analyses: collapse statistics, the Self-Refine chat, the table."""

import pytest

from selfcorrect_cli.analyses.collapse import pair_statistics
from selfcorrect_cli.rollout.generation import Attempt, Trajectory
from selfcorrect_cli.methods.self_refine import CRITIQUE_INSTRUCTION, REFINE_INSTRUCTION, refine_messages
from selfcorrect_cli.report.sft_report import side_by_side
from selfcorrect_cli.tasks.base import Problem


def trajectory(first, second, r1, r2):
    t = Trajectory(Problem("9/3", "9/3", "3"), 0)
    t.attempts = [Attempt([], [], first, r1, first[-1]), Attempt([], [], second, r2, second[-1])]
    return t


def test_collapse_statistics_count_copies_and_changed_answers():
    stats = pair_statistics([trajectory("2:...,A2", "2:...,A2", 0.0, 0.0),   # verbatim copy
                             trajectory("2:...,A2", "3:...,A3", 0.0, 1.0),   # fixed
                             trajectory("3:...,A3", "3:...,A3", 1.0, 1.0),
                             trajectory("3:...,A3", "4:...,A4", 1.0, 0.0)])  # broken
    assert stats["near_copy_frac"] == 0.5
    assert stats["answer_changed_frac"] == 0.5
    assert stats["edit_ratios"][0] == 0.0 and stats["edit_ratios"][1] == pytest.approx(2 / 16)
    assert (stats["delta_i2c"], stats["delta_c2i"], stats["delta"]) == (0.25, 0.25, 0.0)


def test_self_refine_asks_for_a_critique_then_a_refinement():
    assert refine_messages("9/3", []) == [{"role": "user", "content": "9/3"}]
    chat = refine_messages("9/3", ["A2", "too low"])
    assert [m["content"] for m in chat] == ["9/3", "A2", CRITIQUE_INSTRUCTION, "too low",
                                            REFINE_INSTRUCTION]


def test_rows_without_a_paper_counterpart_show_dashes():
    m = dict(acc_t1=.5, acc_t2=.5, delta=0.0, delta_i2c=0.0, delta_c2i=0.0)
    assert side_by_side([("Other", m)]).splitlines()[2].endswith("| - | - | - | - | - |")
