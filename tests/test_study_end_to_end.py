"""The whole study (`make study`) at a tiny budget: every stage, the report and the findings.

The same Makefile rules as `make reproduce`, pointed at a temporary tree, one seed, a
300-step one-layer base model and single-digit budgets elsewhere. The numbers mean nothing; the test
checks that each stage hands its files to the next and that a rerun skips finished stages.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def sets(*pairs):
    return " ".join(f"--set {pair}" for pair in pairs)


def make(tmp_path, tiny_pretrain, *targets, dry_run=False):
    args = ["make", "-C", str(REPO), "--no-print-directory", "-j2", *(["-n"] if dry_run else []),
            *targets, f"RUNS={tmp_path}/runs", f"RESULTS={tmp_path}/results", "SEEDS=0",
            "INSTALLED=", f"SC={sys.executable} -m selfcorrect_cli",
            f"PRETRAIN_SET={sets(*tiny_pretrain, 'pretrain.steps=300')}",  # ~10% right
            f"SFT_SET={sets('task.limit=16', 'sft.star_rounds=1', 'sft.analysis_problems=4')}",
            f"RL_SET={sets('score.stage1_steps=1', 'score.stage2_steps=1', 'score.problems_per_step=2', 'score.samples_per_problem=2', 'score.eval_every=0', 'score.checkpoint_every=1')}",
            f"EVAL_SET={sets('task.limit=8')}",
            f"EXTRA_SET={sets('task.limit=2', 'sft.analysis_problems=4')}"]
    env = {"PATH": "/usr/bin:/bin", "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", "HOME": str(tmp_path)}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_tiny_study_end_to_end(tmp_path, tiny_pretrain):
    result = make(tmp_path, tiny_pretrain, "study")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = tmp_path / "results"
    for name in ("base", "table2", "rl", "mistake-kinds"):
        assert (results / f"{name}.md").is_file() and (results / f"{name}.csv").is_file()
    for figure in ("collapse", "mismatch", "training-curves", "accuracy-by-attempt",
                   "compute-scaling"):
        assert (results / f"{figure}.png").read_bytes().startswith(b"\x89PNG")
    table2 = (results / "table2.md").read_text()
    assert "| SCoRe " in table2 and "| 1 |" in table2  # one seed per trained method
    # v1 rows: those of the ablations are missing until `make ablations` has run
    verdicts = json.loads((results / "findings.json").read_text())["findings"]
    assert [f["name"] for f in verdicts] == ["F1", "F2", "F2r", "F3", "F4", "F5", "F6"]
    assert all(f["verdict"] in ("PASS", "FAIL", "MISSING") for f in verdicts)
    v2 = (results / "findings-v2.md").read_text()
    assert "SCoRe Delta above STaR (D+)" in v2 and "Version 1 criteria" in v2
    assert "mismatch: Pair-SFT fixes" in v2  # the own arm of the mismatch experiment ran
    cost = (results / "cost.md").read_text()
    assert "| rl/score |" in cost and "| mismatch-exp/own |" in cost and "Longest chain of one seed: base -> sft/traces" in cost
    # every run directory records how it was made, and what it cost
    assert (tmp_path / "runs/seed0/rl/score/config.yaml").is_file()
    assert json.loads((tmp_path / "runs/seed0/rl/score/timing.json").read_text())["wall_s"] > 0
    assert (tmp_path / "runs/seed0/rl/score-rlseed2/eval/metrics.json").is_file()

    # The ablations reuse the study's runs of their seeds and complete the v1 rows.
    ablations = make(tmp_path, tiny_pretrain, "ablations", "ABLATION_SEEDS=0")
    assert ablations.returncode == 0, ablations.stdout[-3000:] + ablations.stderr[-3000:]
    for name in ("table1", "table4"):
        assert (results / f"ablations/{name}.md").is_file()
    verdicts = json.loads((results / "ablations/findings.json").read_text())["findings"]
    assert all(f["verdict"] in ("PASS", "FAIL") for f in verdicts)  # nothing MISSING

    # File targets: a second `make study` has nothing left to do.
    rerun = make(tmp_path, tiny_pretrain, "study", dry_run=True)
    assert rerun.returncode == 0 and "selfcorrect_cli" not in rerun.stdout, rerun.stdout
