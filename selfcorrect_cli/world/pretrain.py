"""`selfcorrect pretrain`: train the built-in world's tiny base model from scratch.

The pretraining data is written by the capability-limited solver (tasks/division.py). A share
of conversations have two attempts with the correction instruction between them; the second
attempt is a naive retry from the same process as the first (a verbatim copy with probability
`world.copy_propensity`, else an independent re-solve), so both turns have the same
distribution and the data teaches the layout of a correction, never a correction skill.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import torch
from tqdm.auto import tqdm

from selfcorrect_cli.config import ExperimentConfig, config_to_dict
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.checkpoints import save_model
from selfcorrect_cli.io.model_card import model_card
from selfcorrect_cli.io.run_dir import append_jsonl, prepare_run_dir
from selfcorrect_cli.io.trackers import finish_trackers, log_row, start_trackers, tracker_names
from selfcorrect_cli.rollout.chat import encode_with_targets
from selfcorrect_cli.tasks.division import DivisionTask, solve_like_pretraining_solver
from selfcorrect_cli.tasks.prompts import conversation
from selfcorrect_cli.world.tiny_model import build_tiny_model, build_tokenizer


def pretraining_conversation(cfg: ExperimentConfig, a: int, b: int,
                             rng: random.Random) -> list[dict]:
    """One or two attempts by the pretraining solver; the second never depends on the first's
    correctness, only (with probability copy_propensity) on its text."""
    world = cfg.world
    first = solve_like_pretraining_solver(a, b, world, rng)
    attempts = [first]
    if rng.random() < cfg.pretrain.two_turn_fraction:
        copy = rng.random() < world.copy_propensity
        attempts.append(first if copy else solve_like_pretraining_solver(a, b, world, rng))
    messages = conversation(f"{a}/{b}", attempts[:-1], DivisionTask.correction_instruction)
    messages.append({"role": "assistant", "content": attempts[-1]})
    return messages


def _batch(cfg, tokenizer, problems, rng) -> tuple[torch.Tensor, ...]:
    batch_size = cfg.pretrain.batch_size
    rows = []
    for _ in range(batch_size):
        a, b = map(int, rng.choice(problems).id.split("/"))
        rows.append(encode_with_targets(tokenizer, pretraining_conversation(cfg, a, b, rng)))
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((batch_size, width), tokenizer.pad_token_id, dtype=torch.long)  # (B, T)
    labels = torch.full((batch_size, width), -100, dtype=torch.long)
    mask = torch.zeros((batch_size, width), dtype=torch.long)
    for row, (tokens, targets) in enumerate(rows):
        n = len(tokens)
        ids[row, :n] = torch.tensor(tokens)
        mask[row, :n] = 1
        labels[row, :n] = torch.where(torch.tensor(targets) == 1, torch.tensor(tokens), -100)
    return ids, mask, labels


def pretrain_base_model(cfg: ExperimentConfig, progress: bool = True) -> Path:
    """Train and save the tiny base model to `<run.out_dir>/model`; returns that folder."""
    if cfg.task.name != "division":
        raise UsageError("pretrain builds the built-in world's model: set task.name=division")
    p = cfg.pretrain
    tracker_names(cfg.run.report_to)  # a missing tracker package stops before anything is written
    run_dir = prepare_run_dir(cfg)
    torch.manual_seed(cfg.run.seed)
    rng = random.Random(cfg.run.seed)
    problems = DivisionTask(cfg.world).load("train")
    tokenizer = build_tokenizer()
    model = build_tiny_model(tokenizer, p)
    optimizer = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _warmup_cosine(step, p.warmup_steps, p.steps))
    log_path = run_dir / "pretrain_log.jsonl"
    log_path.unlink(missing_ok=True)
    trackers = start_trackers(cfg, run_dir)
    model.train()
    bar = tqdm(range(p.steps), desc="pretrain", disable=not progress)
    for step in bar:
        ids, mask, labels = _batch(cfg, tokenizer, problems, rng)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % p.log_every == 0 or step == p.steps - 1:
            bar.set_postfix(loss=f"{loss.item():.4f}")
            row = {"step": step, "train/loss": loss.item(), "train/lr": schedule.get_last_lr()[0]}
            append_jsonl(log_path, [row])
            log_row(trackers, row)
    finish_trackers(trackers)
    model.eval()
    out = run_dir / "model"
    card = model_card(config_to_dict(cfg), "pretrain",
                      {"train/loss": loss.item(), "train/steps": p.steps})
    save_model(model, tokenizer, out, card)
    return out


def _warmup_cosine(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
