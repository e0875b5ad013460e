"""The report's views of the kinds of mistakes: the per-method table (mean and t-interval over
seeds, "not recorded" for old metrics.json), and the per-kind panels of collapse.png and
mismatch.png, from hand-made run directories."""

import json

import pytest
import yaml

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.report.study import read_study, write_report


def kinds_metrics(guess_share, slip_share, guess_fix, after_right, after_wrong):
    right = 1 - guess_share - slip_share
    return {"mistake_kinds": {"right": {"share_t1": right, "delta_i2c": 0.0, "fix_rate": None},
                              "guess": {"share_t1": guess_share, "delta_i2c": 0.0,
                                        "fix_rate": guess_fix},
                              "slip": {"share_t1": slip_share, "delta_i2c": 0.0,
                                       "fix_rate": 0.0}},
            "change_rate_after_right": after_right, "change_rate_after_wrong": after_wrong,
            "discrimination": after_wrong - after_right}


def put(path, name, data):
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_text(json.dumps(data))


@pytest.fixture
def study(tmp_path):
    root = tmp_path / "runs"
    # mixes among wrong: guess 0.75, 0.5, 0.25 -> mean 0.5, half-width 4.302653*0.25/sqrt(3)
    for seed, (g, s, fix) in enumerate([(0.3, 0.1, 0.2), (0.2, 0.2, 0.4), (0.1, 0.3, 0.6)]):
        put(root / f"seed{seed}/sft", "metrics.json", kinds_metrics(g, s, fix, 0.1, 0.3))
        put(root / f"seed{seed}/score", "metrics.json", kinds_metrics(0.2, 0.0, 0.5, 0.0, 0.8))
        put(root / f"seed{seed}/old", "metrics.json", {"acc_t1": 0.5})
        put(root / f"seed{seed}/mismatch", "mismatch.jsonl", "")
        (root / f"seed{seed}/mismatch/mismatch.jsonl").write_text(json.dumps(
            {"step": 0, "epoch": 0.0, "offline/test": {"fix_rate": 0.2, "acc_t1": 0.5,
                                                       "delta": 0.0},
             "own/test": {"fix_rate": 0.1, "acc_t1": 0.5, "delta": 0.0}}) + "\n")
    stats = {"edit_ratios": [0.0, 0.5], "near_copy_frac": 0.5, "answer_changed_frac": 0.5,
             "edit_ratio_mean": 0.25, "acc_t1": 0.5, "acc_t2": 0.5, "delta_i2c": 0.0,
             "delta_c2i": 0.0}
    put(root / "collapse", "collapse.json", {"Base": {"test": stats}})
    mix = {"guess": 0.5, "misread": 0.25, "slip": 0.25, "malformed": 0.0}
    put(root / "seed0/mismatch-exp", "own.json",  # one seed of the experiment only
        {"pair_sft": {"mix_collector": mix, "mix_own": {**mix, "guess": 0.75, "misread": 0.0}}})
    spec = {"runs": "unused", "seeds": [0, 1, 2],
            "tables": [{"name": "kinds", "title": "Kinds", "view": "mistake-kinds",
                        "rows": {"SFT": "{runs}/seed{seed}/sft", "SCoRe": "{runs}/seed{seed}/score",
                                 "Old": "{runs}/seed{seed}/old"}}],
            "figures": {"collapse": "{runs}/collapse",
                        "mismatch": {"curves": "{runs}/seed{seed}/mismatch",
                                     "experiment": "{runs}/seed{seed}/mismatch-exp"}}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path, root


def test_kinds_table_means_intervals_and_not_recorded(study, tmp_path):
    path, root = study
    write_report(path, tmp_path / "out", runs=str(root))
    lines = (tmp_path / "out/kinds.md").read_text().splitlines()
    sft = next(line for line in lines if line.startswith("| SFT |"))
    # mix guess 50.0 +- 62.1; mix slip the complement; fix guess 0.2, 0.4, 0.6 -> 40.0 +- 49.7
    assert sft.startswith("| SFT | 50.0 [-12.1, 112.1] | 0.0 [0.0, 0.0] | 50.0 [-12.1, 112.1] | "
                          "0.0 [0.0, 0.0] | 40.0 [-9.7, 89.7] | - | 0.0 [0.0, 0.0] | - | "
                          "10.0 [10.0, 10.0] | 30.0 [30.0, 30.0] | +20.0 [20.0, 20.0] | 3 |")
    score = next(line for line in lines if line.startswith("| SCoRe |"))
    assert "| 100.0 [100.0, 100.0] | 0.0 [0.0, 0.0] | 0.0 [0.0, 0.0] |" in score
    old = next(line for line in lines if line.startswith("| Old |"))
    assert old.count("not recorded") == 11 and old.endswith("| 3 |")
    csv = (tmp_path / "out/kinds.csv").read_text().splitlines()
    assert csv[0].startswith("method,seeds,mix_guess,mix_guess_low,mix_guess_high")
    assert any(line.startswith("SFT,3,0.5,-0.12103,1.12103") for line in csv)
    report = (tmp_path / "out/report.md").read_text()
    assert "fix rate by kind" in report and "mean over 1 seed(s)" in report
    for png in ("collapse.png", "mismatch.png"):
        assert (tmp_path / "out" / png).read_bytes().startswith(b"\x89PNG")


def test_figures_without_kinds_or_experiment_stay_as_before(study, tmp_path):
    path, root = study
    spec = yaml.safe_load(path.read_text())
    spec["tables"][0]["rows"] = {"Old": "{runs}/seed{seed}/old"}
    spec["figures"]["mismatch"] = "{runs}/seed{seed}/mismatch"
    path.write_text(yaml.safe_dump(spec))
    write_report(path, tmp_path / "out", runs=str(root))
    report = (tmp_path / "out/report.md").read_text()
    assert "fix rate by kind" not in report and "Right panel" not in report


def test_kinds_view_refuses_paper_rows_and_unknown_views(study):
    path, root = study
    spec = yaml.safe_load(path.read_text())
    spec["tables"][0]["rows"]["SFT"] = {"run": "{runs}/seed{seed}/sft", "paper": "none"}
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(UsageError, match="sets no paper rows"):
        read_study(path, runs=str(root))
    spec["tables"][0]["view"] = "other"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(UsageError, match="unknown view 'other'"):
        read_study(path, runs=str(root))


def test_the_study_spec_reads():
    spec = read_study("experiments/builtin/study.yaml")
    kinds = next(t for t in spec["tables"] if t["view"] == "mistake-kinds")
    assert [row[0] for row in kinds["rows"]][:4] == ["Base", "STaR", "Pair-SFT", "SCoRe"]
    assert dict(spec["figures"]["mismatch"])["experiment"][0].endswith("seed0/mismatch-exp")
