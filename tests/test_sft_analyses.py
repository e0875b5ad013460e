"""Pure pieces of the SFT analyses: collapse statistics, the Self-Refine chat, their tables;
what analyze-mismatch refuses."""

from types import SimpleNamespace

import pytest

from selfcorrect_cli.analyses.collapse import pair_statistics
from selfcorrect_cli.config import load_config
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.methods.self_refine import (
    CRITIQUE_INSTRUCTION,
    REFINE_INSTRUCTION,
    refine_messages,
)
from selfcorrect_cli.report.analyses import (
    collapse_table,
    mean_mismatch,
    mismatch_table,
    write_collapse_report,
    write_mismatch_report,
)
from selfcorrect_cli.rollout.generation import Attempt, Trajectory
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
    # "2:...,A2" -> "3:...,A3": 2 substitutions over 8 characters
    assert stats["edit_ratios"][0] == 0.0 and stats["edit_ratios"][1] == pytest.approx(2 / 8)
    assert (stats["delta_i2c"], stats["delta_c2i"], stats["delta"]) == (0.25, 0.25, 0.0)


def test_self_refine_asks_for_a_critique_then_a_refinement():
    assert refine_messages("9/3", []) == [{"role": "user", "content": "9/3"}]
    chat = refine_messages("9/3", ["A2", "too low"])
    assert [m["content"] for m in chat] == ["9/3", "A2", CRITIQUE_INSTRUCTION, "too low",
                                            REFINE_INSTRUCTION]


def test_collapse_report_writes_figure_and_table(tmp_path):
    stats = pair_statistics([trajectory("2:...,A2", "2:...,A2", 0.0, 0.0),
                             trajectory("2:...,A2", "3:...,A3", 0.0, 1.0)])
    cfg = SimpleNamespace(sampling=SimpleNamespace(temperature=0.0),
                          sft=SimpleNamespace(analysis_problems=2))
    write_collapse_report({"Base": {"train": stats, "test": stats}}, tmp_path / "fig", cfg)
    assert (tmp_path / "fig.png").read_bytes().startswith(b"\x89PNG")
    text = (tmp_path / "fig.md").read_text()
    assert "| Base | held-out problems | 0.500 | 0.500 | 0.125 | 0.000 | 0.500 | 0.500 | 0.000 |" \
        in text and "2 problems per split, greedy" in text
    assert collapse_table({"Base": {"train": stats}}).count("\n") == 2


def mismatch_row(step, rate, acc_t1):
    return {"step": step, "epoch": 0.0,
            **{f"{s}/{p}": {"fix_rate": rate, "acc_t1": acc_t1, "delta": 0.0}
               for s in ("offline", "own") for p in ("train", "test")}}


def test_mismatch_report_shows_undefined_fix_rates_as_dashes(tmp_path):
    rows = [mismatch_row(0, None, 1.0), mismatch_row(5, 0.25, 0.5)]
    write_mismatch_report(rows, tmp_path / "fig")
    assert (tmp_path / "fig.png").read_bytes().startswith(b"\x89PNG")
    lines = (tmp_path / "fig.md").read_text().splitlines()
    assert "| step | offline/train | offline/held-out | own/train | own/held-out |" in lines
    assert "| 0 | - (t1 1.00, Δ +0.000) |" in "\n".join(lines)
    # the mean over seeds skips an undefined fix rate instead of counting it as 0
    mean = mean_mismatch([[mismatch_row(0, None, 1.0)], [mismatch_row(0, 0.4, 0.6)]])
    assert mean[0]["own/test"] == {"fix_rate": 0.4, "acc_t1": 0.8, "delta": 0.0}
    assert "0.400 (t1 0.80" in mismatch_table(mean)


def test_analyze_mismatch_trains_pair_sft_so_it_needs_its_traces(tmp_path):
    from selfcorrect_cli.analyses.mismatch import analyze_mismatch

    cfg = load_config(None, [f"run.out_dir={tmp_path / 'run'}"])  # train.method star: loads
    with pytest.raises(UsageError, match="pair-sft needs train.traces"):
        analyze_mismatch(cfg)
    assert not (tmp_path / "run").exists()
