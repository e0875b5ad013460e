"""SCoRe end to end on a tiny model: every method through the CLI, two processes, resume, NaN."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch
from accelerate import Accelerator
from click.testing import CliRunner
from safetensors.torch import load_file

from selfcorrect_cli.cli import cli
from selfcorrect_cli.config import ModelConfig, load_config
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.checkpoints import CheckpointChooser
from selfcorrect_cli.method_registry import TRAIN_METHODS, trained_by_sft
from selfcorrect_cli.methods import losses, policy_update, score
from selfcorrect_cli.methods.kl_control import KLController
from selfcorrect_cli.rollout.models import load_model
from selfcorrect_cli.tasks import build_task
from selfcorrect_cli.tasks.division import DivisionTask

TINY_RL = ["score.stage1_steps=1", "score.stage2_steps=1", "score.problems_per_step=2",
           "score.samples_per_problem=2", "score.max_new_tokens=36", "score.checkpoint_every=1",
           "score.eval_every=2", "score.eval_problems=2"]


def _sets(pairs):
    return [arg for pair in pairs for arg in ("--set", pair)]


def _invoke(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=True)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def _changed(a, b) -> bool:
    return any(not torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def base_traces(tiny_base, tmp_path_factory):
    """A few base-model traces on the train split, for the offline-turn-1 ablation."""
    out = tmp_path_factory.mktemp("traces")
    _invoke("collect", *_sets([f"model.path={tiny_base}", f"run.out_dir={out}", "task.split=train",
                               "task.limit=8", "sampling.n_samples=2", "sampling.temperature=1.0",
                               "sampling.max_new_tokens=36"]))
    return out / "traces.jsonl"


@pytest.mark.parametrize("method", [m for m in TRAIN_METHODS if not trained_by_sft(m)])
def test_two_steps_of_each_method_train_on_an_earnable_reward(method, tiny_base, base_traces,
                                                              tmp_path, monkeypatch):
    _earnable_reward(monkeypatch)  # at reward 0 Adam would move the weights anyway
    out = tmp_path / method
    _invoke("train", "--method", method, *_sets(
        [f"train.base_model={tiny_base}", f"run.out_dir={out}", f"train.traces={base_traces}",
         *TINY_RL]))
    assert _changed(_weights(tiny_base), _weights(out / "model"))
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 2 and "eval/acc_t2" in log[1]
    assert log[0]["train/grad_norm"] > 1e-3  # a real policy gradient, not Adam's noise
    assert ("train/reward_t2" in log[0]) == (method != "single-turn-rl")
    assert (out / "checkpoint_choice.json").exists()


# What each method's update weights each turn by, from the same rewards (n = 2 samples of one
# problem, alpha 10): (r1, r2) = (0, 1), a fix, and (1, 1), kept. Stage II unless it has none.
FIX_AND_KEEP = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
METHOD_ADVANTAGES = {
    # Stage I: turn 1 untrained (held by beta2), turn 2 by r2 alone (equal here: 0)
    ("score", 1): [[0, 0], [0, 0]],
    # Stage II: turn 1 by r1, turn 2 by r2 + 10 (r2 - r1): 11 against 1
    ("score", 2): [[-1, 10], [1, -10]],
    # the return pays turn 1 r1 + shaped r2: 11 against 2, so the wrong first attempt that
    # turn 2 fixed is preferred (sandbagging)
    ("score-return", 2): [[9, 10], [-9, -10]],
    ("single-turn-rl", 2): [[-1], [1]],
    ("no-shaping", 2): [[-1, 0], [1, 0]],
    ("naive-two-turn", 2): [[-1, 0], [1, 0]],
    ("star-stage2", 2): [[0, 1], [1, 1]],
    ("offline-turn1", 2): [[0, 10], [0, -10]],
}


@pytest.mark.parametrize("method, stage", list(METHOD_ADVANTAGES))
def test_what_each_method_trains_each_turn_by(method, stage):
    s = score.method_config(load_config(None, [f"train.method={method}", "train.traces=x",
                                               "score.samples_per_problem=2"])).score
    rewards = FIX_AND_KEEP[:, : s.turns]
    assert policy_update.turn_advantages(s, rewards, stage).tolist() == METHOD_ADVANTAGES[
        (method, stage)]


def test_kl_coefficients_per_method_and_stage():
    def betas(method, stage, *sets):
        s = score.method_config(load_config(None, [f"train.method={method}", "score.beta1=0.05",
                                                   "score.beta2=0.5", *sets])).score
        return KLController(s).betas(stage)

    fixed = "score.kl_target_turn1=0"  # the paper's schedule
    assert betas("score", 1, fixed) == [0.5, 0.05] and betas("score", 2, fixed) == [0.05, 0.05]
    assert betas("single-turn-rl", 2, fixed) == [0.05]
    # by default a turn-1 target takes over from beta2 after a Stage I, from beta1 without one
    assert betas("score", 1) == [0.5, 0.05] and betas("score", 2) == [0.5, 0.05]
    assert betas("naive-two-turn", 2) == [0.05, 0.05]


def test_zero_reward_gives_no_policy_gradient_and_an_earnable_one_does(tiny_base, monkeypatch):
    """At the first step the policy is the reference, so the KL has no gradient: all of it comes
    from the rewards. The old weight-change test passed at reward 0 (Adam steps on 4e-7)."""
    cfg = score.method_config(load_config(None, ["train.method=score", *TINY_RL]))
    accelerator = Accelerator(cpu=True)
    model_cfg = ModelConfig(path=str(tiny_base), device="cpu")
    (policy, tokenizer), (reference, _) = load_model(model_cfg), load_model(model_cfg)
    task = build_task(cfg)
    problems = score._problems_for_step(cfg, task.load("train"), 0, accelerator)
    norms = []
    for earnable in (False, True):
        if earnable:
            _earnable_reward(monkeypatch)
        trajectories = score._sample(cfg, accelerator, policy, tokenizer, task, problems, None, 0)
        stats = policy_update.policy_step(cfg, accelerator, policy, reference, _KeepGrad(policy),
                                          tokenizer, trajectories, 2, 0, torch.float32)
        norms.append(stats["train/grad_norm"])
    assert norms[0] < 1e-5 < 1e-3 < norms[1]


class _KeepGrad:
    """An optimizer that never steps, so the policy stays the reference."""

    def __init__(self, policy):
        self.policy = policy

    def step(self):
        pass

    def zero_grad(self, set_to_none=True):
        self.policy.zero_grad(set_to_none=set_to_none)


def test_checkpoint_chooser_keeps_the_best_final_stage_window():
    chooser = CheckpointChooser(selection_turn=2, final_stage=2)
    for reward in (0.9, 0.9):  # Stage I windows are never candidates
        chooser.observe(1, {"train/reward_t2": reward})
    assert chooser.consider(2) is False and chooser.best is None
    chooser.observe(2, {"train/reward_t2": 0.25})
    chooser.observe(2, {"train/reward_t2": 0.75})
    assert chooser.consider(4) is True  # mean 0.5
    chooser.observe(2, {"train/reward_t2": 0.125})
    assert chooser.consider(5) is False  # 0.125 < 0.5
    chooser.observe(2, {"train/reward_t2": 0.5})
    assert chooser.consider(6) is True  # a tie goes to the later checkpoint
    assert chooser.best == {"step": 6, "reward": 0.5}
    assert [c["step"] for c in chooser.candidates] == [4, 5, 6]
    again = CheckpointChooser(selection_turn=2, final_stage=2)
    again.load_state_dict(chooser.state_dict())
    assert again.best == chooser.best and "reward_t2" in again.rule


def test_two_process_accelerate_run(tiny_base, tmp_path):
    out = tmp_path / "ddp"
    accelerate = os.path.join(os.path.dirname(sys.executable), "accelerate")
    # --multi_gpu is accelerate's torchrun launcher; on a CPU-only machine it starts gloo processes
    cmd = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "selfcorrect_cli",
           "train", "--method", "score",
           *_sets([f"train.base_model={tiny_base}", f"run.out_dir={out}", *TINY_RL,
                   "score.eval_every=0"])]
    env = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("trained model saved") == 2  # both processes ran to the end
    assert _changed(_weights(tiny_base), _weights(out / "model"))


def _cfg(tiny_base, out, extra=()):
    return load_config(None, ["train.method=score", f"train.base_model={tiny_base}",
                              f"run.out_dir={out}", *TINY_RL,
                              "score.stage1_steps=2", "score.stage2_steps=2",
                              "score.checkpoint_every=2", "score.eval_every=0", *extra])


def test_interrupted_run_resumes_to_the_same_weights(tiny_base, tmp_path, monkeypatch):
    score.train_score(_cfg(tiny_base, tmp_path / "whole"), progress=False)
    original = score._update

    def interrupt_at_step_3(*args):
        if args[-3] == 3:  # the step; the compute dtype and the KL coefficients follow
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(score, "_update", interrupt_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        score.train_score(_cfg(tiny_base, tmp_path / "cut"), progress=False)
    monkeypatch.setattr(score, "_update", original)
    score.train_score(_cfg(tiny_base, tmp_path / "cut"), progress=False)
    whole = _weights(tmp_path / "whole" / "checkpoints" / "last")
    resumed = _weights(tmp_path / "cut" / "checkpoints" / "last")
    assert not _changed(whole, resumed)
    logs = [(tmp_path / d / "train_log.jsonl").read_text() for d in ("whole", "cut")]
    strip = [[line.split('"charts/')[0] for line in log.splitlines()] for log in logs]
    assert strip[0] == strip[1]  # same samples, rewards and losses at every step


def test_stage2_from_a_shared_stage1_equals_training_stage1_again(tiny_base, tmp_path,
                                                                  monkeypatch):
    # checkpoint_every 3 puts the end of Stage I (step 2) between two regular checkpoints; an
    # evaluation in each stage writes sample conversations in each
    every = ["score.checkpoint_every=3", "score.eval_every=2", "score.eval_problems=2"]
    score.train_score(_cfg(tiny_base, tmp_path / "score", [*every, "score.keep_stage1=true"]),
                      progress=False)
    assert (tmp_path / "score" / "checkpoints" / "stage1" / "trainer_state.pt").exists()
    own = _cfg(tiny_base, tmp_path / "own", [*every, "train.method=score-return"])
    shared = _cfg(tiny_base, tmp_path / "shared", [*every, "train.method=score-return",
                                                   f"score.stage1_from={tmp_path / 'score'}"])
    original, stages = score._update, []
    monkeypatch.setattr(score, "_update", lambda *args: stages.append(args[-4]) or original(*args))
    for cfg in (own, shared):
        score.train_score(cfg, progress=False)
    assert stages == [1, 1, 2, 2, 2, 2]  # the shared run trained Stage II only
    runs = [tmp_path / d for d in ("own", "shared")]
    assert not _changed(*(_weights(run / "checkpoints" / "last") for run in runs))
    strip = [[line.split('"charts/')[0] for line in (run / "train_log.jsonl").read_text().splitlines()]
             for run in runs]
    assert len(strip[0]) == 4 and strip[0] == strip[1]  # Stage I copied, Stage II the same
    choices = [json.loads((run / "checkpoint_choice.json").read_text()) for run in runs]
    assert choices[0] == choices[1] and choices[0]["candidates"]
    samples = [(run / "samples.jsonl").read_text() for run in runs]  # Stage I's copied too
    assert samples[0] == samples[1] and '"step": 1' in samples[0] and '"step": 3' in samples[0]


def test_shared_stage1_refuses_another_stage1_or_a_missing_one(tiny_base, tmp_path):
    source = tmp_path / "score"
    score.train_score(_cfg(tiny_base, source, ["score.keep_stage1=true"]), progress=False)
    refusals = {
        r"another Stage I \(score.lr differ\)": ["train.method=no-shaping", "score.lr=1e-3"],
        "needs both stages": ["train.method=no-stage1"],
    }
    for message, sets in refusals.items():
        out = tmp_path / message[:7]
        with pytest.raises(UsageError, match=message):
            score.train_score(_cfg(tiny_base, out, [*sets, f"score.stage1_from={source}"]),
                              progress=False)
        assert not out.exists()  # refused before anything was written
    without = tmp_path / "without"  # a run that did not keep its Stage I
    score.train_score(_cfg(tiny_base, without), progress=False)
    with pytest.raises(UsageError, match="no end-of-Stage-I checkpoint"):
        score.train_score(_cfg(tiny_base, tmp_path / "none", [f"score.stage1_from={without}"]),
                          progress=False)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_base, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = losses.policy_loss

    def nan_on_third_call(*args):
        calls["n"] += 1
        loss = original(*args)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(losses, "policy_loss", nan_on_third_call)
    out = tmp_path / "nan"
    with pytest.raises(score.TrainingDiverged, match="step 2"):
        score.train_score(_cfg(tiny_base, out, ["score.checkpoint_every=1"]), progress=False)
    state = torch.load(out / "checkpoints" / "last" / "trainer_state.pt", weights_only=False)
    assert state["step"] == 2
    assert not (out / "model").exists()


def test_resume_refuses_a_changed_config(tiny_base, tmp_path):
    out = tmp_path / "changed"
    score.train_score(_cfg(tiny_base, out), progress=False)
    saved = (out / "config.yaml").read_text()
    with pytest.raises(UsageError, match="other score settings"):
        score.train_score(_cfg(tiny_base, out, ["score.lr=1e-3"]), progress=False)
    assert (out / "config.yaml").read_text() == saved  # nothing overwritten


def test_bf16_compute_keeps_float32_master_weights(tiny_base, tmp_path, monkeypatch):
    seen = {"logits": set(), "params": set()}
    original = policy_update.policy_step

    def watch(cfg, accelerator, policy, *args):
        handle = policy.lm_head.register_forward_hook(
            lambda module, inputs, output: seen["logits"].add(output.dtype))
        seen["params"].update(p.dtype for p in policy.parameters())
        try:
            return original(cfg, accelerator, policy, *args)
        finally:
            handle.remove()

    monkeypatch.setattr(score, "policy_step", watch)
    out = tmp_path / "bf16"
    score.train_score(_cfg(tiny_base, out, ["model.dtype=bfloat16", "score.stage2_steps=1"]),
                      progress=False)
    assert seen["params"] == {torch.float32}  # the master weights Adam updates
    assert torch.bfloat16 in seen["logits"]  # the forward ran under bf16 autocast
    weights = _weights(out / "model")
    assert all(w.dtype == torch.float32 for w in weights.values())
    assert _changed(_weights(tiny_base), weights)


def test_tree_rollouts_train_and_log(tiny_base, tmp_path):
    out = tmp_path / "tree"
    score.train_score(_cfg(tiny_base, out, ["score.turn2_samples=2"]), progress=False)
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 4 and all(math.isfinite(row["train/loss"]) for row in log)
    assert _changed(_weights(tiny_base), _weights(out / "model"))


def _earnable_reward(monkeypatch):
    # The tiny model is never right; a reward it can earn gives the policy gradient something to
    # follow. Seven levels from the text's character codes: a problem's samples tie with chance
    # 1/7 (an odd-length reward tied with chance 1/2, and then every group of two samples could
    # tie, leaving no gradient at all for some pretraining data).
    monkeypatch.setattr(DivisionTask, "grade",
                        lambda self, problems, texts: [sum(map(ord, t)) % 7 / 7 for t in texts])


def test_micro_batches_accumulate_to_the_same_gradient(tiny_base, monkeypatch):
    """Splitting the rows into micro-batches changes only the order of the sums."""
    _earnable_reward(monkeypatch)
    cfg = score.method_config(load_config(None, ["train.method=score", *TINY_RL,
                                                 "score.problems_per_step=3"]))
    accelerator = Accelerator(cpu=True)
    model_cfg = ModelConfig(path=str(tiny_base), device="cpu")
    (policy, tokenizer), (reference, _) = load_model(model_cfg), load_model(model_cfg)
    task = build_task(cfg)
    problems = score._problems_for_step(cfg, task.load("train"), 0, accelerator)
    trajectories = score._sample(cfg, accelerator, policy, tokenizer, task, problems, None, 0)
    grads = []

    class Capture:  # an optimizer that keeps the gradient instead of stepping
        def step(self):
            grads.append({n: p.grad.clone() for n, p in policy.named_parameters()})

        def zero_grad(self, set_to_none=True):
            policy.zero_grad(set_to_none=set_to_none)

    for rows in (0, 1, 2):
        cfg.score.micro_batch_rows = rows
        policy_update.policy_step(cfg, accelerator, policy, reference, Capture(), tokenizer,
                                  trajectories, 2, 0, torch.float32)
    assert max(g.abs().max() for g in grads[0].values()) > 1e-3
    for other in grads[1:]:
        assert all(torch.allclose(grads[0][k], other[k], atol=1e-6) for k in grads[0])


def test_sampled_kl_trains_and_logs_entropy_only_on_stats_steps(tiny_base, tmp_path,
                                                                monkeypatch):
    _earnable_reward(monkeypatch)  # with the KL in the reward, nothing else moves the policy
    out = tmp_path / "sampled"
    score.train_score(_cfg(tiny_base, out, ["score.kl_estimator=sampled", "score.stats_every=2",
                                            "score.micro_batch_rows=2"]), progress=False)
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert ["train/entropy" in row for row in log] == [True, False, True, False]
    assert all(math.isfinite(row["train/kl_turn1"]) for row in log)
    assert _changed(_weights(tiny_base), _weights(out / "model"))
