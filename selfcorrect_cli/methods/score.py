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
import random
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from selfcorrect_cli.config import ExperimentConfig, SamplingConfig, method_config
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.checkpoints import (
    CheckpointChooser,
    last_checkpoint,
    load_last_checkpoint,
    publish_model,
    save_checkpoint_dir,
)
from selfcorrect_cli.io.run_dir import (
    append_jsonl,
    log_lines_before,
    prepare_run_dir,
    refuse_changed_config,
    write_atomic,
)
from selfcorrect_cli.io.samples import SAMPLES, SampleLog, pick
from selfcorrect_cli.io.traces import first_attempts, read_trace_files
from selfcorrect_cli.io.trackers import finish_trackers, log_row, start_trackers, tracker_names
from selfcorrect_cli.measure.collect import greedy_two_attempts, two_attempt_metrics
from selfcorrect_cli.method_registry import trained_by_sft
from selfcorrect_cli.methods.kl_control import KLController
from selfcorrect_cli.methods.policy_update import (
    TrainingDiverged,  # noqa: F401 (callers catch score.TrainingDiverged)
    autocast,
    policy_step,
)
from selfcorrect_cli.methods.shared_stage1 import check_shared_stage1, load_shared_stage1
from selfcorrect_cli.rollout.generation import rollout
from selfcorrect_cli.rollout.models import load_model, pick_device, pick_dtype
from selfcorrect_cli.rollout.processes import training_accelerator
from selfcorrect_cli.seeds import step_seed
from selfcorrect_cli.tasks.held_out import training_and_held_out

LOG = "train_log.jsonl"


def train_score(cfg: ExperimentConfig, progress: bool = True) -> Path:
    """Train SCoRe or one of its ablations; returns `<run.out_dir>/model` (the checkpoint with
    the best training reward, the paper's rule)."""
    # ---------------- set up -------------------------------------------------------------
    if trained_by_sft(cfg.train.method):
        raise UsageError(f"train.method {cfg.train.method} is trained by methods/sft.py, not "
                         "by SCoRe's loop")
    cfg = method_config(cfg)  # train.method's settings (method_registry.py) applied, checked
    s = cfg.score
    run_dir = Path(cfg.run.out_dir)
    tracker_names(cfg.run.report_to)  # a missing tracker package stops here, before any file
    accelerator = training_accelerator(cfg.model)
    # Every process, before anything is written: overlapping sets stop the run with no run dir.
    task, problems, held_out = training_and_held_out(cfg)
    eval_problems = held_out[: s.eval_problems]
    refuse_changed_config(cfg, run_dir / "checkpoints" / "last")  # every process, so all stop
    shared = None
    if s.stage1_from and last_checkpoint(run_dir) is None:
        shared = check_shared_stage1(cfg, LOG)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        prepare_run_dir(cfg)
    accelerator.wait_for_everyone()
    trackers = start_trackers(cfg, run_dir) if accelerator.is_main_process else []
    offline = _offline_first_attempts(cfg) if not s.online_turn1 else None
    if offline is not None:
        problems = [p for p in problems if p.id in offline]

    # ---------------- models: policy (trained) and reference (frozen) --------------------
    # The policy keeps float32 master weights (bf16 weights would drop updates below bf16's
    # resolution); a lower model.dtype is the compute dtype, under autocast, and the frozen
    # reference's storage dtype.
    compute_dtype = pick_dtype(cfg.model.dtype, pick_device(str(accelerator.device)))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.path, model_cfg.device = cfg.train.base_model, str(accelerator.device)
    reference, _ = load_model(model_cfg)
    reference.requires_grad_(False)
    model_cfg.dtype = "float32"
    policy, tokenizer = load_model(model_cfg)
    optimizer = torch.optim.Adam(policy.parameters(), lr=s.lr)
    chooser = CheckpointChooser(selection_turn=s.turns, final_stage=_final_stage(s))
    kl_control = KLController(s)
    start = load_last_checkpoint(run_dir, policy, optimizer, chooser, {"kl_control": kl_control})
    if shared is not None:
        # the chooser stays fresh: it scores only final-stage (Stage II) checkpoints, so at the
        # end of Stage I it holds nothing yet
        start = load_shared_stage1(cfg, shared, policy, optimizer, (LOG, SAMPLES),
                                   accelerator.is_main_process)
    policy.train()
    policy, optimizer = accelerator.prepare(policy, optimizer)
    if accelerator.is_main_process:
        # a rerun in a reused folder, or a resume, rewrites the steps from `start` on
        _truncate_log(run_dir / LOG, start)
        _truncate_log(run_dir / SAMPLES, start)

    # ---------------- the loop --------------------------------------------------------------
    total = s.stage1_steps + s.stage2_steps
    bar = tqdm(range(start, total), initial=start, total=total, desc=f"train {cfg.train.method}",
               disable=not (progress and accelerator.is_main_process))
    for step in bar:
        stage = 1 if step < s.stage1_steps else 2
        began = time.perf_counter()
        mine = _problems_for_step(cfg, problems, step, accelerator)
        with autocast(accelerator.device, compute_dtype):
            trajectories = _sample(cfg, accelerator, policy, tokenizer, task, mine, offline, step)
        stats = _update(cfg, accelerator, policy, reference, optimizer, tokenizer,
                        trajectories, stage, step, compute_dtype, kl_control.betas(stage))
        stats.update(first_attempt_check_stats(task, trajectories))
        stats = _reduce(accelerator, stats)
        kl_control.observe(stage, [stats[f"train/kl_turn{k + 1}"] for k in range(s.turns)])
        stats.update({"step": step, "train/stage": stage, "charts/trajectories_per_s":
                      accelerator.num_processes * len(trajectories) / (time.perf_counter() - began)})
        if s.eval_every and (step + 1) % s.eval_every == 0 and accelerator.is_main_process:
            with autocast(accelerator.device, compute_dtype):
                stats.update(evaluate_policy(cfg, accelerator.unwrap_model(policy), tokenizer,
                                             task, eval_problems,
                                             SampleLog(run_dir, step, trackers)))
        if accelerator.is_main_process:
            append_jsonl(run_dir / LOG, [stats])
            log_row(trackers, stats)
            bar.set_postfix(r1=f"{stats['train/reward_t1']:.2f}",
                            r2=f"{stats.get('train/reward_t2', float('nan')):.2f}",
                            kl1=f"{stats['train/kl_turn1']:.3f}")
        chooser.observe(stage, stats)
        end_of_stage1 = s.keep_stage1 and step + 1 == s.stage1_steps  # for score.stage1_from
        if (step + 1) % s.checkpoint_every == 0 or step + 1 == total or end_of_stage1:
            _checkpoint(accelerator, run_dir, policy, tokenizer, optimizer, chooser, step + 1,
                        end_of_stage1, {"kl_control": kl_control})
    bar.close()

    # ---------------- the final model: chosen by training reward --------------------------
    out = run_dir / "model"
    if accelerator.is_main_process:
        publish_model(run_dir, chooser, out)
    accelerator.wait_for_everyone()
    finish_trackers(trackers)
    accelerator.end_training()  # closes the process group of a launch
    return out


def _final_stage(s) -> int:
    return 2 if s.stage2_steps > 0 else 1


# ---------------- sampling ---------------------------------------------------------------------

def _problems_for_step(cfg, problems, step: int, accelerator) -> list:
    """The step's problems, a fixed function of (seed, step): a resumed run draws the same ones.
    Each process takes every num_processes-th problem."""
    rng = random.Random(step_seed(cfg.run.seed, step))
    chosen = rng.sample(problems, min(cfg.score.problems_per_step, len(problems)))
    return chosen[accelerator.process_index::accelerator.num_processes]


def _sample(cfg, accelerator, policy, tokenizer, task, problems, offline, step: int):
    s = cfg.score
    sampling = SamplingConfig(temperature=s.temperature, max_new_tokens=s.max_new_tokens,
                              n_samples=s.samples_per_problem, attempts=s.turns,
                              batch_size=len(problems) * s.samples_per_problem)
    # One generator per (seed, step, process): resuming needs no saved random state.
    generator = torch.Generator().manual_seed(
        step_seed(cfg.run.seed, step) * 1009 + accelerator.process_index)
    first = None
    if offline is not None:
        pick = random.Random(generator.initial_seed())
        first = [pick.choice(offline[p.id]) for p in problems for _ in range(sampling.n_samples)]
    model = accelerator.unwrap_model(policy)
    model.eval()
    trajectories = rollout(model, tokenizer, task, problems, sampling, generator,
                           progress=False, first_attempts=first, second_attempts=s.turn2_samples)
    model.train()
    return trajectories


def _offline_first_attempts(cfg) -> dict[str, list[str]]:
    """problem id -> first attempts of the base model from `train.traces` (train split)."""
    attempts = first_attempts(read_trace_files(cfg.train.traces))
    if not attempts:
        raise UsageError(f"no train-split traces in {cfg.train.traces}")
    return attempts


# ---------------- the update -------------------------------------------------------------------

def _update(cfg, accelerator, policy, reference, optimizer, tokenizer, trajectories,
            stage: int, step: int, compute_dtype, turn_betas=None) -> dict:
    """One policy-gradient step (methods/policy_update.py); a seam for the resume and
    shared-Stage-I tests."""
    return policy_step(cfg, accelerator, policy, reference, optimizer, tokenizer, trajectories,
                       stage, step, compute_dtype, turn_betas)


def first_attempt_check_stats(task, trajectories) -> dict:
    """`train/check_right_t1`: the share of first attempts whose written check is right for
    the problem (the task's mistake label is "right" or "guess": its verdict points the right
    way), where the task labels attempts. It is what a correction reads: no reward covers it,
    so RL may erode it."""
    kinds = [task.mistake_kind(t.problem, t.attempts[0].response) for t in trajectories]
    if not kinds or any(kind is None for kind in kinds):
        return {}
    return {"train/check_right_t1": sum(kind in ("right", "guess") for kind in kinds) / len(kinds)}


def _reduce(accelerator, stats: dict) -> dict:
    """Mean of each statistic over processes (each sampled the same number of problems)."""
    if accelerator.num_processes == 1:
        return stats
    keys = sorted(stats)
    values = torch.tensor([stats[k] for k in keys], device=accelerator.device)
    values = accelerator.reduce(values, reduction="mean")
    return dict(zip(keys, values.tolist()))


# ---------------- evaluation and checkpoints ---------------------------------------------------

def evaluate_policy(cfg, model, tokenizer, task, problems,
                    samples: SampleLog | None = None) -> dict:
    """Greedy two-turn evaluation on held-out problems (collect.greedy_two_attempts); with
    `samples`, score.sample_conversations of the conversations (the same ones at every
    evaluation) also go to samples.jsonl and the trackers (io/samples.py)."""
    trajectories = greedy_two_attempts(model, tokenizer, task, problems,
                                       cfg.score.max_new_tokens, cfg.sampling.batch_size)
    metrics = {f"eval/{k}": v for k, v in two_attempt_metrics(trajectories).items()}
    if samples is not None and cfg.score.sample_conversations:
        samples.write(task, pick(trajectories, cfg.score.sample_conversations, cfg.run.seed))
    return metrics


def _checkpoint(accelerator, run_dir, policy, tokenizer, optimizer, chooser, step: int,
                end_of_stage1: bool, extras: dict) -> None:
    is_best = chooser.consider(step)  # on every process, so their choosers agree
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        save_checkpoint_dir(run_dir, accelerator.unwrap_model(policy), tokenizer, optimizer,
                            chooser, step, is_best, end_of_stage1, extras)
    accelerator.wait_for_everyone()


def _truncate_log(path: Path, start: int) -> None:
    """A resumed run rewrites the steps after its checkpoint: drop their old log lines."""
    if not path.exists():
        return
    if start == 0:
        path.unlink()
        return
    write_atomic(path, log_lines_before(path, start))
