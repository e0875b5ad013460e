"""The real CLI end to end on a tiny budget, its error messages, and resume after a crash."""

import csv
import json

import pytest

from tests.conftest import run_cli, run_main, with_sets


def _eval_args(model, out, *extra):
    return with_sets(f"model.path={model}", f"run.out_dir={out}", "task.limit=24",
                     "sampling.batch_size=8", "eval.bootstrap_samples=50", *extra)


def test_pretrain_collect_eval_end_to_end(tiny_base, tmp_path):
    assert (tiny_base / "config.json").exists() and (tiny_base / "tokenizer_config.json").exists()
    result = run_cli("eval", *_eval_args(tiny_base, tmp_path / "ev", "sampling.attempts=3"))
    assert "Accuracy@t1" in result.stdout and "Delta i->c" in result.stdout
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    for key in ("acc_t1", "acc_t2", "delta", "delta_i2c", "delta_c2i"):
        assert 0 <= abs(metrics[key]) <= 1 and len(metrics[f"{key}_ci"]) == 2
    assert metrics["delta"] == pytest.approx(metrics["delta_i2c"] - metrics["delta_c2i"])
    assert len(metrics["accuracy_by_attempt"]) == 3
    assert len(metrics["edit_distance_ratios"]) == 24
    # the built-in world labels every attempt, so the first attempts' kinds make up the whole
    kinds = metrics["mistake_kinds"]
    assert sum(k["share_t1"] for k in kinds.values()) == pytest.approx(1.0)
    assert sum(k["delta_i2c"] for k in kinds.values()) == pytest.approx(metrics["delta_i2c"])
    assert "discrimination" in metrics
    for name in ("config.yaml", "command.txt", "git_commit.txt", "traces.jsonl"):
        assert (tmp_path / "ev" / name).exists()

    run_cli("collect", *with_sets(f"model.path={tiny_base}", f"run.out_dir={tmp_path / 'tr'}",
                                  "task.split=train", "task.limit=5", "sampling.n_samples=2",
                                  "sampling.temperature=1.0"))
    rows = [json.loads(line) for line in (tmp_path / "tr" / "traces.jsonl").read_text().splitlines()]
    assert len(rows) == 10 and {r["split"] for r in rows} == {"train"}
    assert rows[0]["turns"][1]["prompt"] == "check and retry"
    assert set(rows[0]["turns"][0]) == {"prompt", "response", "answer", "reward",
                                        "kind"}  # the built-in world labels its attempts


def test_resume_after_interruption_gives_the_same_traces(tiny_base, tmp_path):
    args = ("collect", *with_sets(f"model.path={tiny_base}", "task.limit=12",
                                  "sampling.batch_size=3", "sampling.temperature=1.0",
                                  "sampling.max_new_tokens=32"))
    assert run_main(*args, *with_sets(f"run.out_dir={tmp_path / 'full'}"))[0] == 0
    full = (tmp_path / "full" / "traces.jsonl").read_text()
    # a crash after two chunks, in the middle of writing a line of the next one
    lines = full.splitlines(keepends=True)
    partial = tmp_path / "part"
    partial.mkdir()
    (partial / "traces.jsonl").write_text("".join(lines[:6]) + lines[6][:25])
    (partial / "config.yaml").write_text((tmp_path / "full" / "config.yaml").read_text()
                                         .replace(str(tmp_path / "full"), str(partial)))
    assert run_main(*args, *with_sets(f"run.out_dir={partial}"))[0] == 0
    resumed = (partial / "traces.jsonl").read_text()
    assert resumed == full


def test_resume_refuses_traces_from_other_settings(tiny_base, tmp_path):
    base = ("collect", *with_sets(f"model.path={tiny_base}", "task.limit=4",
                                  f"run.out_dir={tmp_path}"))
    assert run_main(*base)[0] == 0
    code, _, err = run_main(*base, "--set", "sampling.temperature=0.7")
    assert code == 2 and "other sampling settings" in err


@pytest.mark.parametrize("args, message", [
    (["eval", "--set", "nope=1"], "unknown config key: nope"),
    (["eval", "--set", "sampling.nope=1"], "unknown config key: sampling.nope"),
    (["eval", "--set", "sampling.attempts=two"], "sampling.attempts: expected int"),
    (["eval", "--set", "sampling"], "--set expects key=value"),
    (["eval", "-c", "missing.yaml"], "config file not found: missing.yaml"),
    (["eval", "--set", "model.path=/nowhere/model"], "model checkpoint not found"),
    (["table", "--out", "x.md", "a=/nowhere"], "no metrics.json in /nowhere"),
    (["train", "--method", "ppo"], "train.method must be star, pair-sft, score, "),
    (["train", "--method", "offline-turn1"], "score.online_turn1=false (offline-turn1) needs"),
    (["analyze-mismatch", "--out", "fig"], "pair-sft needs train.traces"),
])
def test_usage_errors_are_one_line_with_exit_code_2(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default run.out_dir is relative: nothing may appear here
    code, _, err = run_main(*args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def _folder_without_checkpoint(tmp_path, model):
    (tmp_path / "empty").mkdir()
    return ["eval", *with_sets(f"model.path={tmp_path / 'empty'}",
                               f"run.out_dir={tmp_path / 'run'}")]


def _run_dir_that_is_a_file(tmp_path, model):
    (tmp_path / "notes.txt").write_text("mine\n")
    return ["eval", *_eval_args(model, tmp_path / "notes.txt")]


def _traces_whose_only_line_is_cut(tmp_path, model):
    (tmp_path / "traces.jsonl").write_text('{"problem_id": "12/3", "turns": [{"prompt": "12/')
    return ["train", "--method", "star", *with_sets(
        f"train.base_model={model}", f"train.traces={tmp_path / 'traces.jsonl'}",
        f"run.out_dir={tmp_path / 'run'}")]


@pytest.mark.parametrize("make_args, message", [
    (_folder_without_checkpoint, "empty holds no model checkpoint (no config.json)"),
    (_run_dir_that_is_a_file, "notes.txt is a file, not a folder"),
    (_traces_whose_only_line_is_cut, "traces.jsonl ends in a truncated line"),
])
def test_bad_paths_are_one_line_errors_that_leave_nothing_behind(make_args, message, tiny_model,
                                                                 tmp_path):
    args = make_args(tmp_path, tiny_model)
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    code, _, err = run_main(*args)
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    after = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    assert after == before and not (tmp_path / "run").exists()


def test_usage_error_through_the_installed_entry_point():
    result = run_cli("eval", "--set", "nope=1", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("selfcorrect: error: unknown config key: nope (known here: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_invalid_yaml_and_wrong_section_type(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: [unclosed\n")
    code, _, err = run_main("eval", "-c", str(bad))
    assert code == 2 and "invalid YAML" in err
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("sampling:\n  temperature: hot\n")
    code, _, err = run_main("show-config", "-c", str(wrong))
    assert code == 2 and "sampling.temperature: expected float" in err


def test_malformed_trace_line_is_named(tmp_path):
    from selfcorrect_cli.errors import UsageError
    from selfcorrect_cli.io.traces import read_traces

    path = tmp_path / "traces.jsonl"
    path.write_text('{"problem_id": "1/1", "turns": [{}]}\nnot json\n{"problem_id": "2/1", "turns": [{}]}\n')
    with pytest.raises(UsageError, match="traces.jsonl:2"):
        read_traces(path)


def test_help_for_every_command():
    for command in ("pretrain", "collect", "eval", "train", "table", "show-config"):
        code, out, _ = run_main(command, "--help")
        assert code == 0 and ("--set" in out or command == "table")


def test_table_names_each_runs_task_and_claims_no_world(tmp_path):
    m = {"acc_t1": 0.5, "acc_t2": 0.625, "delta": 0.125, "delta_i2c": 0.25, "delta_c2i": 0.125,
         "answer_changed_frac": 0.375, "edit_distance_ratio_mean": 0.25, "n_trajectories": 8,
         "task": "gsm8k", "split": "test", "temperature": 0.0}
    for key in ("acc_t1", "acc_t2", "delta", "delta_i2c", "delta_c2i"):
        m[f"{key}_ci"] = [m[key] - 0.125, m[key] + 0.125]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text(json.dumps(m))
    out = tmp_path / "t.md"
    code, _, err = run_main("table", "--out", str(out), f"SCoRe={tmp_path / 'run'}")
    assert code == 0, err
    text = out.read_text()
    assert ("| SCoRe | gsm8k (test, greedy) | 50.0 [37.5, 62.5] | 62.5 [50.0, 75.0] | "
            "+12.5 [0.0, 25.0] | 25.0 [12.5, 37.5] | 12.5 [0.0, 25.0] | 37.5 | 0.250 | 8 |") in text
    assert "division" not in text and "built-in" not in text and "paper" not in text
    head, row = csv.reader(out.with_suffix(".csv").read_text().splitlines())
    assert row[:3] == ["SCoRe", "gsm8k (test, greedy)", "0.5"] and head[-1] == "n_trajectories"


@pytest.mark.parametrize("command", ["table-sft", "score-table", "score-curves"])
def test_legacy_report_commands_are_gone(command):
    code, _, err = run_main(command, "--help")
    assert code == 2 and "No such command" in err
