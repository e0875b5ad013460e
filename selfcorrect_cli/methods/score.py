"""SCoRe (Kumar et al. 2024): two-stage multi-turn online RL, and the paper's ablations.

One loop, read top to bottom. Each iteration:
  1. sample problems_per_step problems and n two-turn rollouts each from the current policy;
  2. score both attempts with the task's verifier (r1, r2);
  3. per turn: rewards (Stage I: 0 and r2; Stage II: r1 and r2 + alpha (r2 - r1)), credited per
     turn or through the return (score.credit), RLOO advantages over each problem's n samples;
  4. log-probs of each turn's response under the policy, KL to the frozen reference per token;
  5. REINFORCE step: each turn's tokens get their turn's advantage; the prompt and the
     correction instruction are never trained; KL coefficient beta2 on turn 1 in Stage I,
     beta1 everywhere else.
Written on accelerate: `accelerate launch` runs the same code on several processes, each
sampling its share of the problems, gradients averaged by DDP.
"""

from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from selfcorrect_cli.methods import losses
from selfcorrect_cli.config import ExperimentConfig, SamplingConfig
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.rollout.generation import rollout
from selfcorrect_cli.measure.metrics import answer_changed, correction_metrics
from selfcorrect_cli.rollout.models import load_model
from selfcorrect_cli.io.run_dir import append_jsonl, prepare_run_dir, write_atomic
from selfcorrect_cli.io.checkpoints import (
    CheckpointChooser, load_last_checkpoint, publish_model, save_checkpoint_dir,
)
from selfcorrect_cli.tasks import build_task
from selfcorrect_cli.io.traces import read_traces

# Each method is a set of ScoreConfig settings: the one place that says what an ablation is.
# Ablations that drop Stage I train for the same total number of steps in Stage II.
METHODS: dict[str, dict] = {
    "score": {},
    "single-turn-rl": {"turns": 1, "stage1_steps": 0},
    "no-stage1": {"stage1_steps": 0},
    "no-shaping": {"alpha": 0.0},
    "star-stage2": {"stage2_update": "star"},
    "offline-turn1": {"online_turn1": False},
    # Plain multi-turn REINFORCE on r1 + r2: neither Stage I nor the shaping bonus (paper Sec. 4).
    "naive-two-turn": {"stage1_steps": 0, "alpha": 0.0},
}

LOG = "train_log.jsonl"


class TrainingDiverged(UsageError):
    """The loss or the gradient became NaN or infinite; the update was not applied."""


def method_config(cfg: ExperimentConfig) -> ExperimentConfig:
    """A copy of `cfg` with train.method's ScoreConfig settings applied (method wins)."""
    if cfg.train.method not in METHODS:
        raise UsageError(f"unknown train.method {cfg.train.method!r} (known: star, pair-sft, "
                         f"{', '.join(METHODS)})")
    cfg = copy.deepcopy(cfg)
    s = cfg.score
    settings = METHODS[cfg.train.method]
    if settings.get("stage1_steps") == 0:
        s.stage2_steps += s.stage1_steps  # same total budget, all of it in Stage II
    for key, value in settings.items():
        setattr(s, key, value)
    _validate(cfg)
    return cfg


def _validate(cfg: ExperimentConfig) -> None:
    s = cfg.score
    if s.turns not in (1, 2):
        raise UsageError("score.turns must be 1 or 2")
    if s.samples_per_problem < 2:
        raise UsageError("score.samples_per_problem must be at least 2 (leave-one-out baseline)")
    if s.credit not in losses.CREDIT_CHOICES:
        raise UsageError(f"score.credit must be one of {', '.join(losses.CREDIT_CHOICES)}")
    if s.stage2_update not in ("reinforce", "star"):
        raise UsageError("score.stage2_update must be reinforce or star")
    if s.kl_estimator not in ("exact", "k3"):
        raise UsageError("score.kl_estimator must be exact or k3")
    if s.stage1_steps + s.stage2_steps < 1:
        raise UsageError("score.stage1_steps + score.stage2_steps must be at least 1")
    if not s.online_turn1 and not cfg.train.traces:
        raise UsageError("score.online_turn1=false needs train.traces (base-model traces from "
                         "`selfcorrect collect` on the train split)")


def train_score(cfg: ExperimentConfig, progress: bool = True) -> Path:
    """Train SCoRe or one of its ablations; returns `<run.out_dir>/model` (the checkpoint with
    the best training reward, the paper's rule)."""
    # ---------------- set up -------------------------------------------------------------
    cfg = method_config(cfg)
    s = cfg.score
    # Without cpu=True accelerate ignores a multi-process launch on a machine with no GPU.
    on_cpu = cfg.model.device == "cpu" or (cfg.model.device == "auto" and not torch.cuda.is_available())
    accelerator = Accelerator(cpu=on_cpu)
    run_dir = Path(cfg.run.out_dir)
    if accelerator.is_main_process:
        prepare_run_dir(cfg)
    accelerator.wait_for_everyone()
    task = build_task(cfg)
    problems = task.load("train")
    eval_problems = task.load("test")[: s.eval_problems]
    offline = _offline_first_attempts(cfg) if not s.online_turn1 else None
    if offline is not None:
        problems = [p for p in problems if p.id in offline]

    # ---------------- models: policy (trained) and reference (frozen) --------------------
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.path, model_cfg.device = cfg.train.base_model, str(accelerator.device)
    policy, tokenizer = load_model(model_cfg)
    reference, _ = load_model(model_cfg)
    reference.requires_grad_(False)
    optimizer = torch.optim.Adam(policy.parameters(), lr=s.lr)
    chooser = CheckpointChooser(selection_turn=s.turns, final_stage=_final_stage(s))
    start = load_last_checkpoint(run_dir, policy, optimizer, chooser)
    policy.train()
    policy, optimizer = accelerator.prepare(policy, optimizer)
    if accelerator.is_main_process:
        _truncate_log(run_dir / LOG, start)

    # ---------------- the loop --------------------------------------------------------------
    total = s.stage1_steps + s.stage2_steps
    bar = tqdm(range(start, total), initial=start, total=total, desc=f"train {cfg.train.method}",
               disable=not (progress and accelerator.is_main_process))
    for step in bar:
        stage = 1 if step < s.stage1_steps else 2
        began = time.perf_counter()
        mine = _problems_for_step(cfg, problems, step, accelerator)
        trajectories = _sample(cfg, accelerator, policy, tokenizer, task, mine, offline, step)
        stats = _update(cfg, accelerator, policy, reference, optimizer, tokenizer,
                        trajectories, stage, step)
        stats = _reduce(accelerator, stats)
        stats.update({"step": step, "train/stage": stage, "charts/trajectories_per_s":
                      accelerator.num_processes * len(trajectories) / (time.perf_counter() - began)})
        if s.eval_every and (step + 1) % s.eval_every == 0 and accelerator.is_main_process:
            stats.update(evaluate_policy(cfg, accelerator.unwrap_model(policy), tokenizer, task,
                                         eval_problems))
        if accelerator.is_main_process:
            append_jsonl(run_dir / LOG, [stats])
            bar.set_postfix(r1=f"{stats['train/reward_t1']:.2f}",
                            r2=f"{stats.get('train/reward_t2', float('nan')):.2f}",
                            kl1=f"{stats['train/kl_turn1']:.3f}")
        chooser.observe(stage, stats)
        if (step + 1) % s.checkpoint_every == 0 or step + 1 == total:
            _checkpoint(accelerator, run_dir, policy, tokenizer, optimizer, chooser, step + 1)
    bar.close()

    # ---------------- the final model: chosen by training reward --------------------------
    out = run_dir / "model"
    if accelerator.is_main_process:
        publish_model(run_dir, chooser, out)
    accelerator.wait_for_everyone()
    return out


def _final_stage(s) -> int:
    return 2 if s.stage2_steps > 0 else 1


# ---------------- sampling ---------------------------------------------------------------------

def _problems_for_step(cfg, problems, step: int, accelerator) -> list:
    """The step's problems, a fixed function of (seed, step): a resumed run draws the same ones.
    Each process takes every num_processes-th problem."""
    rng = random.Random(cfg.run.seed * 1_000_003 + step)
    chosen = rng.sample(problems, min(cfg.score.problems_per_step, len(problems)))
    return chosen[accelerator.process_index::accelerator.num_processes]


def _sample(cfg, accelerator, policy, tokenizer, task, problems, offline, step: int):
    s = cfg.score
    sampling = SamplingConfig(temperature=s.temperature, max_new_tokens=s.max_new_tokens,
                              n_samples=s.samples_per_problem, attempts=s.turns,
                              batch_size=len(problems) * s.samples_per_problem)
    # One generator per (seed, step, process): resuming needs no saved random state.
    generator = torch.Generator().manual_seed(
        (cfg.run.seed * 1_000_003 + step) * 1009 + accelerator.process_index)
    first = None
    if offline is not None:
        pick = random.Random(generator.initial_seed())
        first = [pick.choice(offline[p.id]) for p in problems for _ in range(sampling.n_samples)]
    model = accelerator.unwrap_model(policy)
    model.eval()
    trajectories = rollout(model, tokenizer, task, problems, sampling, generator,
                           progress=False, first_attempts=first)
    model.train()
    return trajectories


def _offline_first_attempts(cfg) -> dict[str, list[str]]:
    """problem id -> first attempts of the base model from `train.traces` (train split)."""
    attempts: dict[str, list[str]] = {}
    for path in cfg.train.traces.split(","):
        for record in read_traces(Path(path.strip())):
            if record.get("split", "train") == "train":
                attempts.setdefault(record["problem_id"], []).append(record["turns"][0]["response"])
    if not attempts:
        raise UsageError(f"no train-split traces in {cfg.train.traces}")
    return attempts


# ---------------- the update -------------------------------------------------------------------

def turn_advantages(s, rewards: torch.Tensor, stage: int) -> torch.Tensor:
    """What each turn's tokens are weighted by, from verifier rewards (B, turns) -> (B, turns).

    REINFORCE: SCoRe's per-turn rewards, credited per turn or through the return, minus the
    leave-one-out baseline of the problem's other samples. STaR in Stage II: 1 for a correct
    attempt and 0 otherwise, i.e. fine-tuning on the policy's own correct online attempts.
    Offline first attempts were not sampled by the policy, so they get no policy gradient.
    """
    if s.turns == 1:
        shaped = rewards[:, :1]  # single-turn RL: turn 1 earns r1 in every stage
    else:
        shaped = losses.turn_rewards(rewards[:, 0], rewards[:, 1], stage, s.alpha)  # (B, 2)
    if stage == 2 and s.stage2_update == "star":
        advantages = rewards.clone()
    else:
        returns = losses.turn_returns(shaped, s.credit)
        advantages = losses.rloo_advantages(returns, s.samples_per_problem)
    if not s.online_turn1:
        advantages[:, 0] = 0.0
    return advantages


def turn_betas(s, stage: int) -> list[float]:
    """KL coefficient of each turn: beta2 holds turn 1 in Stage I, beta1 everywhere else."""
    return ([s.beta2, s.beta1] if stage == 1 else [s.beta1, s.beta1])[: s.turns]


def _update(cfg, accelerator, policy, reference, optimizer, tokenizer, trajectories,
            stage: int, step: int) -> dict:
    s = cfg.score
    batch, turns = len(trajectories), s.turns
    rewards = torch.tensor([[a.reward for a in t.attempts] for t in trajectories])  # (B, turns)
    advantages = turn_advantages(s, rewards, stage)  # (B, turns)
    # Rows are turn-major: all first attempts, then all second attempts.
    prompts = [t.attempts[k].prompt_ids for k in range(turns) for t in trajectories]
    responses = [t.attempts[k].response_ids for k in range(turns) for t in trajectories]
    ids, attention, target = losses.pack_turns(prompts, responses, tokenizer.pad_token_id)
    ids, attention, target = (x.to(accelerator.device) for x in (ids, attention, target))
    row_adv = advantages.T.reshape(-1).to(accelerator.device)  # (R,) R = turns * B
    row_beta = torch.tensor(turn_betas(s, stage)).repeat_interleave(batch).to(accelerator.device)

    logits = policy(input_ids=ids, attention_mask=attention).logits  # (R, L, V)
    with torch.no_grad():
        ref_logits = reference(input_ids=ids, attention_mask=attention).logits  # (R, L, V)
    logp = losses.token_logprobs(logits, ids)  # (R, L-1)
    ref_logp = losses.token_logprobs(ref_logits, ids)
    kl = losses.token_kl(logits, ref_logits, logp, ref_logp, s.kl_estimator)  # (R, L-1)
    loss = losses.policy_loss(logp, kl, target, row_adv, row_beta)
    accelerator.backward(loss)
    grad_norm = accelerator.clip_grad_norm_(policy.parameters(), s.max_grad_norm)
    bad = torch.tensor(float(not (torch.isfinite(loss) and torch.isfinite(grad_norm))),
                       device=accelerator.device)
    if accelerator.reduce(bad, reduction="sum").item() > 0:
        optimizer.zero_grad(set_to_none=True)
        raise TrainingDiverged(
            f"loss {loss.item()} / gradient norm {float(grad_norm)} at step {step} "
            f"(stage {stage}): stopped before the update; the last good checkpoint is kept in "
            f"{Path(cfg.run.out_dir) / 'checkpoints' / 'last'}. Lower score.lr or raise the KL "
            f"coefficients (score.beta1, score.beta2).")
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return _step_stats(trajectories, rewards, kl.detach(), logits.detach(), target, loss,
                       grad_norm, turns)


def _step_stats(trajectories, rewards, kl, logits, target, loss, grad_norm, turns) -> dict:
    batch = len(trajectories)
    mask = target.float()
    seq_kl = (kl * mask).sum(-1).reshape(turns, batch).mean(-1)  # (turns,) KL per sequence
    entropy = losses.masked_mean(losses.token_entropy(logits), target)
    stats = {"train/loss": loss.item(), "train/grad_norm": float(grad_norm),
             "train/entropy": entropy.item(),
             "train/response_tokens": mask.sum().item() / (turns * batch)}
    for k in range(turns):
        stats[f"train/reward_t{k + 1}"] = rewards[:, k].mean().item()
        stats[f"train/kl_turn{k + 1}"] = seq_kl[k].item()
    if turns == 2:
        stats["train/answer_changed"] = sum(
            answer_changed(t.attempts[0].answer, t.attempts[1].answer) for t in trajectories
        ) / batch
        stats["train/delta"] = stats["train/reward_t2"] - stats["train/reward_t1"]
    return stats


def _reduce(accelerator, stats: dict) -> dict:
    """Mean of each statistic over processes (each sampled the same number of problems)."""
    if accelerator.num_processes == 1:
        return stats
    keys = sorted(stats)
    values = torch.tensor([stats[k] for k in keys], device=accelerator.device)
    values = accelerator.reduce(values, reduction="mean")
    return dict(zip(keys, values.tolist()))


# ---------------- evaluation and checkpoints ---------------------------------------------------

@torch.no_grad()
def evaluate_policy(cfg, model, tokenizer, task, problems) -> dict:
    """Greedy two-turn evaluation on held-out problems, as the paper evaluates."""
    sampling = SamplingConfig(temperature=0.0, max_new_tokens=cfg.score.max_new_tokens,
                              attempts=2, batch_size=cfg.sampling.batch_size)
    model.eval()
    trajectories = rollout(model, tokenizer, task, problems, sampling, torch.Generator(),
                           progress=False)
    model.train()
    r1 = [t.attempts[0].reward for t in trajectories]
    r2 = [t.attempts[1].reward for t in trajectories]
    metrics = {f"eval/{k}": v for k, v in correction_metrics(r1, r2).items()}
    metrics["eval/answer_changed"] = sum(
        answer_changed(t.attempts[0].answer, t.attempts[1].answer) for t in trajectories
    ) / len(trajectories)
    return metrics


def _checkpoint(accelerator, run_dir, policy, tokenizer, optimizer, chooser, step: int) -> None:
    is_best = chooser.consider(step)  # on every process, so their choosers agree
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        save_checkpoint_dir(run_dir, accelerator.unwrap_model(policy), tokenizer, optimizer,
                            chooser, step, is_best)
    accelerator.wait_for_everyone()


def _truncate_log(path: Path, start: int) -> None:
    """A resumed run rewrites the steps after its checkpoint: drop their old log lines."""
    if not path.exists():
        return
    if start == 0:
        path.unlink()
        return
    rows = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line)["step"] < start]
    write_atomic(path, "".join(row + "\n" for row in rows))
