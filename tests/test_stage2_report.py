"""The Stage II study's judge and report, on hand-written train logs."""

import json

from click.testing import CliRunner

from selfcorrect_cli.analyses.stage2 import SeedRun, judge
from selfcorrect_cli.cli import cli
from selfcorrect_cli.errors import UsageError


def _log(path, stage1_acc_t2, end_acc_t2, end_kl):
    rows = []
    for step in range(200):
        row = {"step": step, "train/kl_turn1": end_kl if step == 199 else 0.1}
        if (step + 1) % 25 == 0:
            acc_t2 = stage1_acc_t2 if step < 100 else end_acc_t2
            row.update({"eval/acc_t1": 0.5, "eval/acc_t2": acc_t2, "eval/delta": acc_t2 - 0.5,
                        "eval/delta_i2c": acc_t2 - 0.5, "eval/delta_c2i": 0.0})
        rows.append(row)
    path.mkdir(parents=True)
    (path / "train_log.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_targets_need_all_but_one_seed_the_delta_share_and_the_kl_bound():
    kept, lost = SeedRun(.7, .72, .2, .22, .5, .3), SeedRun(.7, .6, .2, .1, .5, .3)
    assert judge([kept] * 4 + [lost]).seeds_kept == 4
    assert not judge([kept] * 3 + [lost] * 2).kept_acc_t2  # two seeds lost
    # the mean Delta falls below 0.8 x its end-of-Stage-I value
    assert not judge([SeedRun(.7, .7, .2, .15, .55, .3)] * 5).kept_delta
    assert not judge([kept] * 4 + [SeedRun(.7, .72, .2, .22, .5, 1.0)]).kl_below_bound
    assert judge([kept] * 5).all


def test_stage2_report_end_to_end(tmp_path):
    seeds = ["100", "101", "102", "103", "104"]
    for s in seeds:
        _log(tmp_path / f"seed{s}" / "stage2" / "score-today", 0.75, 0.6, 9.0)
        _log(tmp_path / f"seed{s}" / "stage2" / "score-all", 0.75, 0.8, 0.4)
        _log(tmp_path / f"seed{s}" / "stage2" / "naive-two-turn-all", 0.7, 0.7, 0.3)
    out = tmp_path / "results"
    result = CliRunner().invoke(cli, ["stage2-report", "--runs", str(tmp_path), "--seeds",
                                      " ".join(seeds), "--out", str(out), "score-today",
                                      "score-all", "naive-two-turn-all"])
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert "| score-today | 75.0 | 60.0 | 0 of 5 | 25.0 | 10.0 | 50.0 | 9.00 | no / no / no |" \
        in report
    assert "| score-all | 75.0 | 80.0 | 5 of 5 | 25.0 | 30.0 | 50.0 | 0.40 | yes / yes / yes (all) |" \
        in report
    assert "| naive-two-turn-all | 50.0 | 70.0 | 20.0 | 20.0 | 0.0 | 0.30 |" in report
    assert (out / "stage2-curves.png").stat().st_size > 10_000


def test_stage2_report_names_a_missing_log(tmp_path):
    result = CliRunner().invoke(cli, ["stage2-report", "--runs", str(tmp_path), "--seeds", "100",
                                      "--out", str(tmp_path / "o"), "score-today"])
    # main() turns a UsageError into one line and exit code 2
    assert isinstance(result.exception, UsageError) and "no train_log.jsonl in" in str(result.exception)
    assert not (tmp_path / "o").exists()
