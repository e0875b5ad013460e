"""Self-Refine style prompting baseline (Madaan et al. 2023): no training, three model calls.

    user: x1                          -> assistant: y1   (first attempt)
    user: CRITIQUE_INSTRUCTION        -> assistant: c    (the model's feedback on y1)
    user: REFINE_INSTRUCTION          -> assistant: y2   (the refined attempt)

Everything goes through the tokenizer's chat template, so any chat model takes the same path.
The traces keep the usual two-turn layout (y1, y2) plus the critique, so `eval`'s metrics
apply unchanged. With the built-in tiny model this is only a prompting variant: it has never
seen either instruction and has no notion of a critique, so its "critique" is whatever it
writes after an unfamiliar user turn (usually another attempt). A real chat model is needed
before the numbers say anything about Self-Refine itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tqdm.auto import tqdm

from selfcorrect_cli.config import ExperimentConfig, config_to_dict
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.run_dir import prepare_run_dir, write_atomic, write_json_atomic
from selfcorrect_cli.io.traces import trace_record, turn_record
from selfcorrect_cli.measure.collect import METRICS, TRACES, metrics_from_traces
from selfcorrect_cli.rollout.chat import prompt_ids
from selfcorrect_cli.rollout.generation import sample_turn
from selfcorrect_cli.rollout.models import load_model
from selfcorrect_cli.seeds import step_seed
from selfcorrect_cli.tasks import build_task
from selfcorrect_cli.tasks.base import Problem, Task

CRITIQUE_INSTRUCTION = "Review your answer above and point out any mistakes in it."
REFINE_INSTRUCTION = "Using your review, write an improved answer."


def refine_messages(first_prompt: str, outputs: list[str]) -> list[dict]:
    """The chat that asks for the next output, given the outputs so far (y1, then c).

    >>> [m["role"] for m in refine_messages("1/1", ["A1", "ok"])]
    ['user', 'assistant', 'user', 'assistant', 'user']
    """
    messages = [{"role": "user", "content": first_prompt}]
    for output, instruction in zip(outputs, (CRITIQUE_INSTRUCTION, REFINE_INSTRUCTION)):
        messages += [{"role": "assistant", "content": output},
                      {"role": "user", "content": instruction}]
    return messages


def refine_batch(model, tokenizer, task: Task, problems: list[Problem], cfg: ExperimentConfig,
                 generator: torch.Generator) -> list[dict]:
    """Trace records (turns y1 and y2, plus the critique) for one batch of problems."""
    jobs = [p for p in problems for _ in range(cfg.sampling.n_samples)]
    outputs: list[list[str]] = [[] for _ in jobs]
    for _ in range(3):  # attempt, critique, refinement
        prompts = [prompt_ids(tokenizer, refine_messages(task.first_prompt(p), out))
                   for p, out in zip(jobs, outputs)]
        responses, _ = sample_turn(model, tokenizer, prompts, cfg.sampling, generator)
        texts = tokenizer.batch_decode(responses, skip_special_tokens=True)
        for out, text in zip(outputs, texts):
            out.append(text)
    first = task.grade(jobs, [o[0] for o in outputs])
    second = task.grade(jobs, [o[2] for o in outputs])
    return [trace_record(task, p, i % cfg.sampling.n_samples, cfg.task.split,
                         [turn_record(task, p, task.first_prompt(p), out[0],
                                      task.extract_answer(out[0]), float(r1)),
                          turn_record(task, p, REFINE_INSTRUCTION, out[2],
                                      task.extract_answer(out[2]), float(r2))],
                         config_to_dict(cfg.sampling), cfg.model.path, cfg.run.seed,
                         extra={"critique": out[1]})
            for i, (p, out, r1, r2) in enumerate(zip(jobs, outputs, first, second))]


def evaluate_self_refine(cfg: ExperimentConfig, progress: bool = True) -> dict:
    """Run Self-Refine on `task.split`; writes traces.jsonl and metrics.json, returns metrics."""
    task = build_task(cfg)
    problems = task.load(cfg.task.split)[: cfg.task.limit or None]
    if not problems:
        raise UsageError(f"task {cfg.task.name!r} has no problems in split {cfg.task.split!r}")
    run_dir = prepare_run_dir(cfg)
    model, tokenizer = load_model(cfg.model)
    per_chunk = max(1, cfg.sampling.batch_size // cfg.sampling.n_samples)
    records = []
    for index in tqdm(range(0, len(problems), per_chunk), desc="self-refine", disable=not progress):
        generator = torch.Generator().manual_seed(step_seed(cfg.run.seed, index))
        records += refine_batch(model, tokenizer, task, problems[index:index + per_chunk], cfg,
                                generator)
    write_atomic(Path(run_dir) / TRACES, "".join(json.dumps(r) + "\n" for r in records))
    metrics = metrics_from_traces(records, cfg.eval.bootstrap_samples, cfg.run.seed)
    metrics.update(model=cfg.model.path, task=cfg.task.name, split=cfg.task.split,
                   temperature=cfg.sampling.temperature, method="self-refine")
    write_json_atomic(Path(run_dir) / METRICS, metrics)
    return metrics
