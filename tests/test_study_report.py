"""`selfcorrect report` on small hand-made run directories."""

import json
import re

import pytest
import yaml

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.report.findings_files import read_spec
from selfcorrect_cli.report.study import read_study, write_report
from tests.conftest import run_main


def metrics(t1, t2, i2c, c2i, by_attempt=None):
    m = {"acc_t1": t1, "acc_t2": t2, "delta": t2 - t1, "delta_i2c": i2c, "delta_c2i": c2i,
         "answer_changed_frac": 0.25, "n_trajectories": 8,
         "accuracy_by_attempt": by_attempt or [t1, t2]}
    for key in ("acc_t1", "acc_t2", "delta", "delta_i2c", "delta_c2i"):
        m[f"{key}_ci"] = [m[key] - 0.1, m[key] + 0.1]
    return m


def put(path, data):
    path.mkdir(parents=True, exist_ok=True)
    (path / "metrics.json").write_text(json.dumps(data))


@pytest.fixture
def study(tmp_path):
    root = tmp_path / "runs"
    put(root / "eval/base", metrics(0.5, 0.4, 0.1, 0.2))
    # SCoRe over three seeds: Delta 0.1, 0.2, 0.3 -> mean 0.2, t-interval 0.2 +- 0.248414
    for seed, (t1, t2) in enumerate([(0.5, 0.6), (0.5, 0.7), (0.5, 0.8)]):
        put(root / f"seed{seed}/score", metrics(t1, t2, t2 - t1, 0.0, [t1, t2, t2]))
    spec = {"runs": "unused", "seeds": [0, 1, 2],
            "tables": [{"name": "main", "title": "Main",
                        "rows": {"Base": {"run": "{runs}/eval/base", "paper": "table2.base"},
                                 "SCoRe": {"run": "{runs}/seed{seed}/score", "paper": "none"}}}],
            "figures": {"accuracy_by_attempt": {"SCoRe": "{runs}/seed{seed}/score"}}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path, root


def test_table_rows_are_means_with_t_intervals(study, tmp_path):
    spec, root = study
    files = write_report(spec, tmp_path / "out", runs=str(root))
    assert {f.name for f in files} == {"main.md", "main.csv", "accuracy-by-attempt.png",
                                       "report.md"}
    table = (tmp_path / "out/main.md").read_text().splitlines()
    base = next(line for line in table if line.startswith("| Base "))
    score = next(line for line in table if line.startswith("| SCoRe "))
    # one run: its own bootstrap CI; the paper row the spec names beside
    assert "| -10.0 [-20.0, 0.0] |" in base
    assert base.endswith("| 1 | Table 2: Base | 52.6 | 41.4 | -11.2 | 4.6 | 15.8 |")
    # three seeds: 20.0 +- 24.8 (t(2) = 4.302653, sd 0.1, n 3); no counterpart, said so
    assert "| +20.0 [-4.8, 44.8] |" in score
    assert score.endswith("| 3 | none | - | - | - | - | - |")
    rows = (tmp_path / "out/main.csv").read_text().splitlines()
    assert rows[0].endswith("answer_changed_frac,paper_row,paper_acc_t1,paper_acc_t2,"
                            "paper_delta,paper_delta_i2c,paper_delta_c2i")
    csv_row = rows[2].split(",")
    assert csv_row[:2] == ["SCoRe", "3"] and float(csv_row[8]) == pytest.approx(0.2)
    assert csv_row[-6:] == ["none", "", "", "", "", ""]
    assert rows[1].split(",")[-5] == "0.526"
    report = (tmp_path / "out/report.md").read_text()
    assert "![accuracy_by_attempt](accuracy-by-attempt.png)" in report
    assert "| SCoRe | 50.0 | 70.0 | 70.0 |" in report  # mean Acc@t per attempt


def test_seeds_override_and_missing_run_is_named(study, tmp_path):
    spec, root = study
    read = read_study(spec, runs=str(root), seeds="0 1")
    assert read["tables"][0]["rows"][1][1] == [f"{root}/seed0/score", f"{root}/seed1/score"]
    with pytest.raises(UsageError, match="seed7"):
        write_report(spec, tmp_path / "out", runs=str(root), seeds="7")
    assert not (tmp_path / "out/report.md").exists()


def test_bad_specs_are_usage_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    for text, message in [("tables: [{name: x}]", "needs name and rows"),
                          ("tables: [{name: x, paper: main, rows: {a: r}}]", "needs name and rows"),
                          ("figures: {pie: x}", "unknown figure"),
                          ("colour: red", "unknown top-level"),
                          ("tables: [{name: x, rows: {a: '{run}/x'}}]", "bad placeholder"),
                          ("tables: [{name: x, rows: {a: {run: r, paper: table9.sota}}}]",
                           "paper row 'table9.sota' is not in report/paper.py"),
                          ("tables: [{name: x, rows: {a: {run: r}}}]", "a row is a path or"),
                          ("tables: [{name: x, rows: {a: {run: r, paper: none}, b: r}}]",
                           "rows ['b'] name no paper row"),
                          ("tables: [{name: x, rows: {a: {method: ppo}}}]",
                           "method 'ppo' is not in method_registry.py"),
                          ("tables: [{name: x, rows: {a: {method: score, run: r}}}]",
                           "or {method: <name>} with an optional paper"),
                          ("figures: {training_curves: {a: {method: score, paper: none}}}",
                           "a training curve is a path or {method: <name>}"),
                          ("figures: {collapse: {a: {method: score}}}", "must be a path")]:
        bad.write_text(text)
        with pytest.raises(UsageError, match=re.escape(message)):
            write_report(bad, tmp_path / "out")
    with pytest.raises(UsageError, match="not found"):
        read_study(tmp_path / "absent.yaml")


def test_a_method_is_named_by_its_name(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("tables: [{name: t, rows: {Base: {run: b, paper: table4.score},\n"
                    "  w/o reward shaping: {method: no-shaping, paper: table4.no_shaping}}}]\n"
                    "figures: {training_curves: {w/o shaping: {method: no-shaping}}}\n")
    read = read_study(spec, runs="r", seeds="0 1")
    label, dirs, link = read["tables"][0]["rows"][1]
    assert dirs == ["r/seed0/rl/no-shaping/eval", "r/seed1/rl/no-shaping/eval"]  # its evaluation
    assert str(link) == "Table 4: w/o reward shaping"
    assert read["figures"]["training_curves"] == [
        ("w/o shaping", ["r/seed0/rl/no-shaping", "r/seed1/rl/no-shaping"])]  # its run


def test_findings_spec_expands_seeds(tmp_path):
    path = tmp_path / "findings.yaml"
    path.write_text("runs: r\nseeds: [0, 1]\neval:\n  base: '{runs}/base'\n"
                    "  score: '{runs}/s{seed}/score'\nmismatch: '{runs}/s{seed}/m'\n")
    spec = read_spec(path, seeds="3 4")
    assert spec["eval"] == {"base": ["r/base"], "score": ["r/s3/score", "r/s4/score"]}
    assert spec["mismatch"] == ["r/s3/m", "r/s4/m"]


def test_cli_report_errors_are_one_line(tmp_path):
    code, out, err = run_main("report", str(tmp_path / "absent.yaml"), "--out", str(tmp_path))
    assert code == 2 and err.strip().count("\n") == 0 and "not found" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("tables: [{name: t, rows: {SCoRe: {run: r, paper: table2.scor}}}]\n")
    code, out, err = run_main("report", str(bad), "--out", str(tmp_path / "out"))
    assert code == 2 and err.strip().count("\n") == 0 and "table2.scor" in err


def test_every_paper_row_of_the_study_spec_exists():
    # the main study (make reproduce) and the ablations (make ablations) share the paper rows
    tables = {t["name"]: t for path in ("study", "ablations")
              for t in read_study(f"experiments/builtin/{path}.yaml", runs="r", seeds="0")["tables"]}
    assert not tables["base"]["paper"] and all(tables[n]["paper"] for n in ("table1", "table2",
                                                                             "table4", "rl"))
    links = {label: str(link) for label, _, link in tables["table4"]["rows"]}
    assert links["SCoRe"] == "Table 4: SCoRe" and links["SCoRe, return credit"] == "None"
