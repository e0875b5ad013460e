"""Two CPU processes under `accelerate launch`: eval, collect and STaR write what one process
writes, each problem once, from the main process only."""

import json
import os
import signal
import subprocess
import sys

import torch

from tests.conftest import run_main, with_sets
from tests.test_sft import handmade_records, write_traces

# 5 problems in chunks of 2: three chunks, so the second round leaves one process idle.
SAMPLING = ["task.limit=5", "sampling.n_samples=2", "sampling.batch_size=4",
            "sampling.temperature=1.0", "sampling.max_new_tokens=16"]


def launch_two_processes(*args: str) -> subprocess.CompletedProcess:
    """`selfcorrect ARGS` under `accelerate launch` with two CPU processes (gloo)."""
    accelerate = os.path.join(os.path.dirname(sys.executable), "accelerate")
    cmd = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "selfcorrect_cli", *args]
    # the same torch threads as this process, whose single-process runs are the reference
    env = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": str(torch.get_num_threads())}
    # A session of its own, so that a timeout ends the workers too, not only the launcher.
    launcher = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, start_new_session=True)
    try:
        out, err = launcher.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.communicate()
        raise
    return subprocess.CompletedProcess(cmd, launcher.returncode, out, err)


def _records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _each_trajectory_once(records, n_problems: int, n_samples: int) -> bool:
    keys = [(r["problem_id"], r["sample_index"]) for r in records]
    return len(keys) == len(set(keys)) == n_problems * n_samples


def test_eval_under_two_processes_writes_what_one_process_writes(tiny_model, tmp_path):
    settings = [f"model.path={tiny_model}", "eval.bootstrap_samples=20", *SAMPLING]
    two = launch_two_processes("eval", *with_sets(f"run.out_dir={tmp_path / 'two'}", *settings))
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("Accuracy@t1") == 1  # the table comes from the main process only
    code, _, err = run_main("eval", *with_sets(f"run.out_dir={tmp_path / 'one'}", *settings))
    assert code == 0, err
    one = (tmp_path / "one" / "traces.jsonl").read_text()
    assert (tmp_path / "two" / "traces.jsonl").read_text() == one  # same lines, same order
    assert _each_trajectory_once(_records(tmp_path / "one" / "traces.jsonl"), 5, 2)
    metrics = [json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("one", "two")]
    assert metrics[0] == metrics[1]


def test_star_under_two_processes_trains_and_collects_once(tiny_model, tmp_path):
    traces = write_traces(tmp_path / "handmade.jsonl", handmade_records())
    out = tmp_path / "star"
    result = launch_two_processes("train", "--method", "star", *with_sets(
        f"train.base_model={tiny_model}", f"train.traces={traces}", f"run.out_dir={out}",
        "sft.star_rounds=2", "sft.dataset=d", "sft.batch_size=4", "sft.max_steps=2",
        "sft.log_every=1", "task.split=train", *SAMPLING))
    # Round 1 fine-tunes on the handmade traces; round 2 samples from that model, which never
    # writes a right answer, so the run stops there with round 2's data empty.
    assert "D_STaR is empty" in result.stderr, result.stderr[-3000:]

    # round 1: one log line per step (the main process's), batch 4 = 2 per process
    log = _records(out / "round-1" / "train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 2]
    assert [r["train/samples_seen"] for r in log if "train/loss" in r] == [4, 8]
    assert json.loads((out / "round-1" / "dataset.json").read_text())["tuples"] == 4
    assert (out / "round-1" / "model" / "model.safetensors").exists()
    assert not (out / "round-1" / "model.tmp").exists()

    # round 2's generation: the traces one process collects with round 1's model
    round_model = out / "round-1" / "model"
    code, _, err = run_main("collect", *with_sets(
        f"model.path={round_model}", f"run.out_dir={tmp_path / 'one'}", "task.split=train",
        *SAMPLING))
    assert code == 0, err
    two = out / "round-2" / "collect" / "traces.jsonl"
    assert two.read_text() == (tmp_path / "one" / "traces.jsonl").read_text()
    assert _each_trajectory_once(_records(two), 5, 2)
