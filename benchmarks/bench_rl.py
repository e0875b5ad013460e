"""RL throughput: our SCoRe loop (single-turn-rl, turn 1 only) against TRL's GRPOTrainer.

What is measured: trajectories per second of whole training iterations, i.e. sampling the
completions, scoring them with DivisionTask.verify, the policy and reference log-probs, the
loss, the backward pass and the optimizer step. Both sides get the same model (same weights,
float32, CPU), the same chat template and prompt ids, the same batch (problems per step x
generations per problem, one optimizer step per batch), the same max new tokens, temperature
1.0, and a KL term to a frozen reference model (ours: score.beta1, exact KL; TRL: beta = the
same value, its k3 estimate), so both run a reference forward pass. TRL: transformers'
generate (no vLLM), no gradient checkpointing, no bf16, logging and saving off.

Both loops run in this one process, in two threads that take strict turns, one optimizer step
at a time (ours, TRL, ours, TRL, ...): only one side computes at any moment, and noise from a
shared machine hits both alike. The first `--warmup` steps of each side are not counted. Ours
is timed by score.py's own per-iteration clock (charts/trajectories_per_s in its train log:
from drawing the problems to the optimizer step); TRL from on_step_begin to on_step_end
(generation, reward, log-probs, update). Setup (model loading, trainer construction) and the
final checkpoint are outside both clocks. Each step is also split into sampling (ours:
score._sample, i.e. rendering, decoding and grading; TRL: GRPOTrainer._generate, i.e. decoding
and detokenising) and the rest (rewards, reference and policy log-probs, loss, backward,
optimizer), which is mostly the same arithmetic on both sides: TRL's step over our rest
bounds the ratio that any faster sampler of ours could reach. One torch thread by default (`--threads`): on a
2-core machine that other jobs share, two OpenMP threads stall whenever another process holds a
core (steps of the same loop measured from 0.5 s to 18 s), which says nothing about either loop.

    .venv/bin/python benchmarks/bench_rl.py                       # tiny model built from scratch
    .venv/bin/python benchmarks/bench_rl.py --steps 48
    .venv/bin/python benchmarks/bench_rl.py --model /tmp/bench-base/model   # a trained checkpoint

(`--model` takes a checkpoint from e.g. `.venv/bin/selfcorrect pretrain --set
run.out_dir=/tmp/bench-base --set pretrain.steps=300`.) An untrained model never writes a
well-formed answer (every reward is 0) and emits the end token only by chance, so some of its
completions end early but every batch runs all max-new-tokens decoding steps on both sides; the
output reports each side's mean completion length (end token included) to show they match.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import warnings
from pathlib import Path
from unittest import mock

import torch
from datasets import Dataset
from transformers import PrinterCallback, TrainerCallback
from transformers.utils import logging as hf_logging
from trl import GRPOConfig, GRPOTrainer

from selfcorrect_cli.config import ExperimentConfig, ModelConfig, PretrainConfig
from selfcorrect_cli.io.checkpoints import save_model
from selfcorrect_cli.methods import score
from selfcorrect_cli.rollout.models import load_model
from selfcorrect_cli.tasks import build_task
from selfcorrect_cli.world.tiny_model import build_tiny_model, build_tokenizer

SIDES = ("ours", "trl")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="",
                        help="checkpoint folder (default: build the tiny model from scratch)")
    parser.add_argument("--steps", type=int, default=16, help="timed optimizer steps per side")
    parser.add_argument("--warmup", type=int, default=1, help="untimed first steps per side")
    parser.add_argument("--problems-per-step", type=int, default=16)
    parser.add_argument("--generations", type=int, default=8, help="samples per problem")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a shared 2-core machine two threads stall "
                             "whenever another process holds a core, by up to 30x per step)")
    return parser.parse_args()


def experiment_config(args, model_path: str, out_dir: Path) -> ExperimentConfig:
    """Our loop's config: single-turn RL, no evaluation, no checkpoint until the end."""
    cfg = ExperimentConfig()
    cfg.run.out_dir, cfg.run.seed = str(out_dir), args.seed
    cfg.model.device = "cpu"
    cfg.train.method, cfg.train.base_model = "single-turn-rl", model_path
    s = cfg.score
    s.stage1_steps, s.stage2_steps = 0, args.warmup + args.steps
    s.problems_per_step, s.samples_per_problem = args.problems_per_step, args.generations
    s.max_new_tokens, s.temperature = args.max_new_tokens, 1.0
    s.eval_every, s.checkpoint_every = 0, 10**9
    return cfg


def build_scratch_model(folder: Path, seed: int) -> str:
    """The built-in tiny model with PretrainConfig defaults, random weights, saved to `folder`."""
    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    save_model(build_tiny_model(tokenizer, PretrainConfig()), tokenizer, folder)
    return str(folder)


class Turns:
    """Two threads run their steps in strict alternation; a finished side never blocks the other."""

    def __init__(self, first: str):
        self._turn, self._finished = first, set()
        self._cond = threading.Condition()

    def wait(self, side: str) -> None:
        other = _other(side)
        with self._cond:
            self._cond.wait_for(lambda: self._turn == side or other in self._finished)

    def hand_over(self, side: str, finished: bool = False) -> None:
        with self._cond:
            self._turn = _other(side)
            if finished:
                self._finished.add(side)
            self._cond.notify_all()


def _other(side: str) -> str:
    return SIDES[1 - SIDES.index(side)]


def timed(fn, seconds: list[float]):
    """`fn`, appending the duration of each call to `seconds`."""
    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - began)
    return wrapper


# ---------------- ours: selfcorrect_cli.methods.score.train_score ----------------------------------

def run_ours(cfg: ExperimentConfig, turns: Turns, sampling: list[float]) -> None:
    """train_score as it is; the turn is handed over where it writes each step's log line,
    which is after its step clock stops and before the next step's clock starts. `sampling`
    receives the seconds of each step's rollout."""
    write_log = score.append_jsonl

    def log_then_hand_over(path, rows):
        write_log(path, rows)
        turns.hand_over("ours")
        turns.wait("ours")

    turns.wait("ours")
    try:
        with (mock.patch.object(score, "append_jsonl", log_then_hand_over),
              mock.patch.object(score, "_sample", timed(score._sample, sampling))):
            score.train_score(cfg, progress=False)
    finally:
        turns.hand_over("ours", finished=True)


def ours_results(cfg: ExperimentConfig, warmup: int) -> tuple[list[float], float]:
    """(seconds of each timed step, mean completion tokens) from our train log."""
    log = Path(cfg.run.out_dir) / score.LOG
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    timed = [r for r in rows if r["step"] >= warmup]
    batch = cfg.score.problems_per_step * cfg.score.samples_per_problem
    seconds = [batch / r["charts/trajectories_per_s"] for r in timed]
    return seconds, statistics.mean(r["train/response_tokens"] for r in timed)


# ---------------- TRL: GRPOTrainer --------------------------------------------------------

class TakeTurns(TrainerCallback):
    """Waits for TRL's turn before each optimizer step, times the step, then hands over."""

    def __init__(self, turns: Turns):
        self.turns, self.seconds, self.sampling = turns, [], []
        self.ready = threading.Event()  # set once train() reaches its first step

    def on_step_begin(self, args, state, control, **kwargs):
        self.ready.set()
        self.turns.wait("trl")
        self._began = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.seconds.append(time.perf_counter() - self._began)
        self.turns.hand_over("trl")


def trl_dataset(task) -> Dataset:
    """Conversational prompts: the same first turn our loop renders through the chat template."""
    return Dataset.from_list([
        {"prompt": [{"role": "user", "content": task.first_prompt(p)}], "problem_id": p.id}
        for p in task.load("train")
    ])


def build_trl_trainer(args, cfg: ExperimentConfig, clock: TakeTurns, lengths: list[int]):
    task = build_task(cfg)
    by_id = {p.id: p for p in task.load("train")}

    def division_reward(completions, completion_ids, problem_id, **kwargs) -> list[float]:
        lengths.extend(len(ids) for ids in completion_ids)
        return [task.verify(by_id[pid], c[0]["content"]) for c, pid in zip(completions, problem_id)]

    s = cfg.score
    config = GRPOConfig(
        output_dir=str(Path(cfg.run.out_dir).with_name("trl")), use_cpu=True, bf16=False,
        gradient_checkpointing=False,
        per_device_train_batch_size=s.problems_per_step * s.samples_per_problem,
        gradient_accumulation_steps=1, num_generations=s.samples_per_problem,
        max_completion_length=s.max_new_tokens, temperature=1.0, top_p=1.0,
        beta=s.beta1, learning_rate=s.lr, max_grad_norm=s.max_grad_norm,
        optim="adamw_torch", lr_scheduler_type="constant",
        max_steps=args.warmup + args.steps, seed=args.seed,
        report_to="none", save_strategy="no", logging_strategy="no", disable_tqdm=True,
    )
    model, tokenizer = load_model(ModelConfig(path=cfg.train.base_model, device="cpu",
                                              dtype="float32"))
    trainer = GRPOTrainer(model=model, reward_funcs=division_reward, args=config,
                          train_dataset=trl_dataset(task), processing_class=tokenizer,
                          callbacks=[clock])
    trainer.remove_callback(PrinterCallback)  # logging is off; drop the end-of-training summary
    trainer._generate = timed(trainer._generate, clock.sampling)
    return trainer


def run_trl(trainer, clock: TakeTurns) -> None:
    try:
        trainer.train()
    finally:
        clock.ready.set()  # also when train() failed before its first step
        clock.turns.hand_over("trl", finished=True)


# ---------------- the comparison ------------------------------------------------------------

def run_both(args, cfg: ExperimentConfig) -> dict[str, tuple[list[float], float, list[float]]]:
    """Both loops, one step each in turn; side -> (seconds per timed step, mean tokens,
    seconds of sampling in each timed step)."""
    turns, errors = Turns(first="ours"), []
    clock, lengths, our_sampling = TakeTurns(turns), [], []
    trainer = build_trl_trainer(args, cfg, clock, lengths)  # here, so no setup overlaps a step

    def guarded(fn, *fn_args):
        torch.set_num_threads(args.threads)  # per thread, to be sure OpenMP follows it
        try:
            fn(*fn_args)
        except BaseException as exc:  # re-raised in the main thread below
            errors.append(exc)

    trl = threading.Thread(target=guarded, args=(run_trl, trainer, clock))
    trl.start()
    clock.ready.wait()  # TRL's train() prologue is done; it now waits for its turn
    ours = threading.Thread(target=guarded, args=(run_ours, cfg, turns, our_sampling))
    ours.start()
    ours.join()
    trl.join()
    if errors:
        raise errors[0]
    batch = cfg.score.problems_per_step * cfg.score.samples_per_problem
    return {"ours": (*ours_results(cfg, args.warmup), our_sampling[args.warmup:]),
            "trl": (clock.seconds[args.warmup:], statistics.mean(lengths[args.warmup * batch:]),
                    clock.sampling[args.warmup:])}


def print_table(args, cfg: ExperimentConfig, results) -> None:
    batch = cfg.score.problems_per_step * cfg.score.samples_per_problem
    ours, trl = results["ours"][0], results["trl"][0]
    rows = [(f"all {len(ours)} timed steps", len(ours) / sum(ours), len(trl) / sum(trl)),
            ("median step", 1 / statistics.median(ours), 1 / statistics.median(trl)),
            ("fastest step", 1 / min(ours), 1 / min(trl))]
    print("| measure | ours (traj/s) | TRL GRPOTrainer (traj/s) | ratio ours/TRL |")
    print("|---|---|---|---|")
    for name, ours_rate, trl_rate in rows:
        print(f"| {name} | {batch * ours_rate:.1f} | {batch * trl_rate:.1f} | "
              f"{ours_rate / trl_rate:.2f}x |")
    print(f"\nmean completion tokens (end token included): ours {results['ours'][1]:.1f}, "
          f"TRL {results['trl'][1]:.1f} (max {args.max_new_tokens}); seconds per step "
          f"ours {min(ours):.2f}..{max(ours):.2f}, TRL {min(trl):.2f}..{max(trl):.2f}")
    print_split(results)


def print_split(results) -> None:
    """Mean seconds per timed step in sampling and in the rest, and the bound the rest sets."""
    split = {}
    for side, (steps, _, sampling) in results.items():
        step, sample = statistics.mean(steps), statistics.mean(sampling)
        split[side] = (sample, step - sample, step)
    print("\n| mean seconds per step | ours | TRL GRPOTrainer |\n|---|---|---|")
    for i, name in enumerate(("sampling", "the rest (log-probs, loss, backward, optimizer)",
                              "whole step")):
        print(f"| {name} | {split['ours'][i]:.3f} | {split['trl'][i]:.3f} |")
    print(f"\nwith sampling free on our side, ours/TRL could reach at most "
          f"{split['trl'][2] / split['ours'][1]:.2f}x (TRL's step over our rest)")


def main() -> None:
    args = parse_args()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers' renames, not ours
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench-rl-"))
    model_path = args.model or build_scratch_model(work / "scratch-model", args.seed)
    cfg = experiment_config(args, model_path, work / "ours")
    print(f"model: {args.model or 'built-in tiny model, random weights (PretrainConfig defaults)'}"
          f"; CPU, float32, torch threads {torch.get_num_threads()}\n"
          f"batch: {args.problems_per_step} problems x {args.generations} generations = "
          f"{args.problems_per_step * args.generations} trajectories per optimizer step; max "
          f"{args.max_new_tokens} new tokens; temperature 1.0; turn 1 only (division task)\n"
          f"ours: score.py single-turn-rl (RLOO, exact KL to the reference, beta "
          f"{cfg.score.beta1}), our KV-cache sampler\n"
          f"TRL: GRPOTrainer, beta {cfg.score.beta1} (reference log-probs computed, k3 KL), loss "
          f"dapo, transformers generate, no vLLM, no gradient checkpointing\n"
          f"{args.warmup} warm-up + {args.steps} timed steps per side, alternating step by step\n")
    print_table(args, cfg, run_both(args, cfg))


if __name__ == "__main__":
    main()
