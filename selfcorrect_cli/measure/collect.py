"""`selfcorrect collect` and `selfcorrect eval`: sample multi-turn traces, then score them; and
the greedy two-attempt evaluation of a model in memory, which training runs call.

Collection runs in chunks of problems; every finished chunk is appended to traces.jsonl at
once. Each chunk draws from its own generator, seeded by (run.seed, chunk index), so a rerun
after an interruption skips the finished chunks and produces exactly the traces that an
uninterrupted run would have. For the same reason `accelerate launch` changes nothing in the
file: the processes share out the chunks, each samples on its own device, and the main process
alone appends them, in chunk order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from selfcorrect_cli.config import ExperimentConfig, SamplingConfig, config_to_dict
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.run_dir import (
    append_jsonl,
    prepare_run_dir,
    refuse_changed_config,
    write_json_atomic,
)
from selfcorrect_cli.io.traces import read_traces, trajectory_record
from selfcorrect_cli.measure.metrics import (
    answer_changed,
    answer_changed_rate,
    change_rates,
    correction_metrics,
    edit_distance_ratio,
    kind_metrics,
    summarize,
)
from selfcorrect_cli.rollout.generation import rollout
from selfcorrect_cli.rollout.models import load_model
from selfcorrect_cli.rollout.processes import gather_lists, on_own_device, process_state
from selfcorrect_cli.seeds import step_seed
from selfcorrect_cli.tasks import build_task

TRACES = "traces.jsonl"
METRICS = "metrics.json"
# Sections that decide what a trace is; a resumed run must not change them.
_TRACE_DEFINING = ("task", "world", "model", "sampling")


def collect_traces(cfg: ExperimentConfig, progress: bool = True) -> Path:
    """Sample `sampling.n_samples` trajectories for each problem of `task.split`; returns
    the traces file, complete on every process. Resumes a partial file in the same run
    directory."""
    task = build_task(cfg)
    problems = task.load(cfg.task.split)
    if cfg.task.limit:
        problems = problems[: cfg.task.limit]
    if not problems:
        raise UsageError(f"task {cfg.task.name!r} has no problems in split {cfg.task.split!r}")
    # traces made under other settings must never be appended to (every process, so all stop)
    refuse_changed_config(cfg, Path(cfg.run.out_dir) / TRACES, _TRACE_DEFINING)
    state = process_state(cfg.model)
    # a missing model must leave no run directory
    model, tokenizer = load_model(on_own_device(cfg.model, state))
    path = Path(cfg.run.out_dir) / TRACES
    if state.is_main_process:
        prepare_run_dir(cfg)
        if path.exists():
            read_traces(path, repair=True)  # cut a line left half-written by a crash
    state.wait_for_everyone()
    done = {r["problem_id"] for r in read_traces(path)} if path.exists() else set()
    per_chunk = max(1, cfg.sampling.batch_size // cfg.sampling.n_samples)
    chunks = [problems[i:i + per_chunk] for i in range(0, len(problems), per_chunk)]
    todo = [(index, chunk) for index, chunk in enumerate(chunks)
            if not all(p.id in done for p in chunk)]
    bar = tqdm(total=len(problems), initial=len(problems) - sum(len(c) for _, c in todo),
               desc=f"collect {cfg.task.split}", unit="problem",
               disable=not (progress and state.is_main_process))
    # In rounds of one chunk per process; gathering in process order keeps chunk order.
    for first in range(0, len(todo), state.num_processes):
        in_round = todo[first:first + state.num_processes]
        mine = in_round[state.process_index:state.process_index + 1]
        sampled = [_sample_chunk(cfg, model, tokenizer, task, index, chunk)
                   for index, chunk in mine]
        in_order = gather_lists(sampled, state)  # the round's chunks, each a list of records
        if state.is_main_process:
            for records in in_order:
                append_jsonl(path, records)  # a chunk per append, as resuming expects
        bar.update(sum(len(chunk) for _, chunk in in_round))
    bar.close()
    state.wait_for_everyone()  # the file is whole before any process reads it
    return path


def _sample_chunk(cfg: ExperimentConfig, model, tokenizer, task, index: int,
                  chunk: list) -> list[dict]:
    """Trace records of one chunk. Its generator is seeded by (run.seed, chunk index) alone,
    so the records do not depend on which process samples them, or on a resume."""
    generator = torch.Generator().manual_seed(step_seed(cfg.run.seed, index))
    trajectories = rollout(model, tokenizer, task, chunk, cfg.sampling, generator, progress=False)
    sampling = config_to_dict(cfg.sampling)
    return [trajectory_record(t, task, cfg.task.split, sampling, cfg.model.path, cfg.run.seed)
            for t in trajectories]


def evaluate(cfg: ExperimentConfig, progress: bool = True) -> dict | None:
    """Collect (or resume) traces on `task.split`, then write and return metrics.json.

    Under `accelerate launch` the main process measures and writes; the others return None."""
    if cfg.sampling.attempts < 2:
        raise UsageError("eval needs sampling.attempts of at least 2")
    path = collect_traces(cfg, progress=progress)
    if not process_state(cfg.model).is_main_process:
        return None
    metrics = metrics_from_traces(read_traces(path), cfg.eval.bootstrap_samples, cfg.run.seed)
    metrics["model"] = cfg.model.path
    metrics["task"] = cfg.task.name
    metrics["split"] = cfg.task.split
    metrics["temperature"] = cfg.sampling.temperature
    write_json_atomic(path.parent / METRICS, metrics)
    return metrics


@torch.no_grad()
def greedy_two_attempts(model, tokenizer, task, problems: list, max_new_tokens: int,
                        batch_size: int) -> list:
    """Two greedy attempts at each problem, as the paper evaluates: the one evaluation of a
    model in memory (SCoRe's periodic one, the sample conversations of every training run).
    The model is put in eval mode for it, then back in the mode it was in."""
    sampling = SamplingConfig(temperature=0.0, max_new_tokens=max_new_tokens, attempts=2,
                              batch_size=batch_size)
    was_training = model.training
    model.eval()
    # greedy decoding draws nothing; the generator is unseeded, as it always was here
    trajectories = rollout(model, tokenizer, task, problems, sampling, torch.Generator(),
                           progress=False)
    model.train(was_training)
    return trajectories


def two_attempt_metrics(trajectories: list) -> dict:
    """The five paper metrics of trajectories' first two attempts, and the share whose final
    answer changed (no CIs: a training run's evaluation reads them as they come)."""
    first = [t.attempts[0] for t in trajectories]
    second = [t.attempts[1] for t in trajectories]
    metrics = correction_metrics([a.reward for a in first], [b.reward for b in second])
    metrics["answer_changed"] = answer_changed_rate([a.answer for a in first],
                                                    [b.answer for b in second])
    return metrics


def metrics_from_traces(records: list[dict], bootstrap_samples: int, seed: int = 0) -> dict:
    attempts = min(len(r["turns"]) for r in records)
    if attempts < 2:
        raise UsageError("traces need at least two turns to measure self-correction")
    rewards = np.array([[t["reward"] for t in r["turns"][:attempts]] for r in records])
    groups = np.array([r["problem_id"] for r in records])
    first = [r["turns"][0] for r in records]
    second = [r["turns"][1] for r in records]
    ratios = np.array([edit_distance_ratio(a["response"], b["response"])
                       for a, b in zip(first, second)])
    changed = [answer_changed(a["answer"], b["answer"]) for a, b in zip(first, second)]
    metrics = summarize(rewards, groups, ratios, float(np.mean(changed)), bootstrap_samples, seed)
    metrics.update(change_rates(rewards[:, 0], changed))
    # Per-kind entries only where every first attempt has a label (tasks that cannot tell have
    # none, and traces from before labels existed would give a mix that is not the whole).
    if all("kind" in turn for turn in first):
        metrics["mistake_kinds"] = kind_metrics([turn["kind"] for turn in first],
                                                rewards[:, 0], rewards[:, 1])
    return metrics


def format_metrics_table(metrics: dict) -> str:
    """The five paper metrics as a Markdown table, percentages with 95% CIs."""
    rows = [("Accuracy@t1", "acc_t1"), ("Accuracy@t2", "acc_t2"), ("Delta(t1,t2)", "delta"),
            ("Delta i->c", "delta_i2c"), ("Delta c->i", "delta_c2i")]
    lines = ["| metric | value (%) | 95% CI |", "|---|---|---|"]
    for label, key in rows:
        low, high = metrics[f"{key}_ci"]
        lines.append(f"| {label} | {100 * metrics[key]:.1f} | [{100 * low:.1f}, {100 * high:.1f}] |")
    lines.append(f"| answer changed at t2 | {100 * metrics['answer_changed_frac']:.1f} | |")
    lines.append(f"| edit-distance ratio y1-y2 (mean) | {metrics['edit_distance_ratio_mean']:.3f} | |")
    by_attempt = ", ".join(f"{100 * a:.1f}" for a in metrics["accuracy_by_attempt"])
    lines.append(f"| Accuracy@t for t=1..{len(metrics['accuracy_by_attempt'])} | {by_attempt} | |")
    lines.append(f"\n{metrics['n_trajectories']} trajectories on {metrics['n_problems']} problems.")
    return "\n".join(lines)
