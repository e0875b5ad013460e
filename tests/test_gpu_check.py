"""The GPU check's CPU twin: `benchmarks/gpu_check.py --dry-run` runs all three parts end to
end at toy scale and writes the same files as the GPU run, so the script cannot rot between
the sessions that are lent a GPU. Also the helpers' worked examples (doctests)."""

import doctest
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = ("gpu-check.md", "gpu-check.json", "throughput.md", "f1-gsm8k.md", "rl-gsm8k.md")


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> Path:
    """The out folder of one dry run (about 30 s of CPU)."""
    folder = tmp_path_factory.mktemp("gpu-check")
    env = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--dry-run", "--out", str(folder / "out"),
         "--work-dir", str(folder / "work")],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return folder / "out"


def test_dry_run_writes_every_file_and_every_part_finishes(dry_run):
    assert sorted(p.name for p in dry_run.iterdir()) == sorted(FILES)
    results = json.loads((dry_run / "gpu-check.json").read_text())
    assert [p["status"] for p in results["parts"].values()] == ["done", "done", "done"]
    summary = (dry_run / "gpu-check.md").read_text()
    assert summary.startswith("# GPU check on CPU") and "dry run" in summary


def test_throughput_compares_both_backends(dry_run):
    r = json.loads((dry_run / "gpu-check.json").read_text())["throughput"]
    assert r["repeats"] >= 1 and r["ours"]["tokens"] > 0 and r["generate"]["tokens"] > 0
    # the ratio is written to two decimals: on a slow machine (ratio near 0.2) that rounding
    # alone is more than 1% of it
    assert r["ratio"] == pytest.approx(r["ours"]["tokens_per_s"] / r["generate"]["tokens_per_s"],
                                       abs=0.006)
    assert "| ours (" in (dry_run / "throughput.md").read_text()


def test_f1_evaluates_greedy_and_sampled_with_intervals(dry_run):
    runs = json.loads((dry_run / "gpu-check.json").read_text())["f1"]["runs"]
    assert set(runs) == {"greedy", "T=1"}
    for run in runs.values():
        m = run["metrics"]
        assert m["n_problems"] == run["problems"] == 8
        assert m["delta"] == pytest.approx(m["delta_i2c"] - m["delta_c2i"])
        assert len(m["delta_ci"]) == 2 and 0 <= m["answer_changed_frac"] <= 1
    table = (dry_run / "f1-gsm8k.md").read_text()
    assert "| greedy | 8 |" in table and "| T=1 | 8 |" in table


def test_rl_comparison_trains_and_evaluates_each_method(dry_run):
    r = json.loads((dry_run / "gpu-check.json").read_text())["rl"]
    assert r["plan"]["steps"] >= 1 and r["calibration"]["step_s"]
    assert set(r["methods"]) == {"SCoRe", "single-turn RL", "STaR (D+)"}
    for record in r["methods"].values():
        assert "error" not in record and "skipped" not in record, record
        assert record["steps"] >= 1 and record["metrics"]["n_problems"] == r["plan"]["eval_problems"]
    assert r["methods"]["STaR (D+)"]["star_tuples"] > 0  # TRL's SFT ran on a non-empty D+
    assert r["methods"]["single-turn RL"]["reward_t2"] is None  # one turn trained
    table = (dry_run / "rl-gsm8k.md").read_text()
    for label in ("Base (no training)", "SCoRe", "single-turn RL", "STaR (D+)"):
        assert f"| {label} |" in table


@pytest.mark.parametrize("module", ["gpu_check", "check_parts", "gpu_carry"])
def test_worked_examples(module, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    failures, tried = doctest.testmod(importlib.import_module(module))
    assert tried > 0 and failures == 0
