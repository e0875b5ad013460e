"""Distribution mismatch (SCoRe paper, Figure 4): does Pair-SFT learn to fix its own mistakes?

While Pair-SFT trains (the run configured by train.* and sft.*), a TrainerCallback stops every
`sft.mismatch_every` optimizer steps (and before the first) and measures four fix rates,
P(y2 right | y1 wrong), with the current model writing y2:
- offline / train:    y1 = the collection model's first attempts in train.traces (the very
                      wrong attempts that D_SFT pairs with corrections);
- offline / held-out: y1 = first attempts that the collection model (train.base_model)
                      wrote for held-out problems, sampled once before training at the
                      temperature the traces were collected with;
- own / train, own / held-out: y1 freshly written by the current model.
Decoding follows `sampling` (greedy in the recipe). Writes the measurements per step as
mismatch.jsonl in the run directory; report/analyses.py draws the curves and the table.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from transformers import TrainerCallback

from selfcorrect_cli.config import ExperimentConfig, check_config
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.run_dir import append_jsonl, prepare_run_dir
from selfcorrect_cli.io.traces import first_attempts, read_trace_files
from selfcorrect_cli.measure.metrics import correction_metrics
from selfcorrect_cli.measure.statistics import fix_rate
from selfcorrect_cli.methods.sft import correction_dataset, fine_tune
from selfcorrect_cli.rollout.generation import rollout
from selfcorrect_cli.rollout.models import load_model
from selfcorrect_cli.tasks import build_task

CURVES = (("offline", "train"), ("offline", "test"), ("own", "train"), ("own", "test"))


def offline_first_attempts(cfg: ExperimentConfig, records: list[dict]) -> dict[str, tuple]:
    """Per split: (problems, the collection model's first attempts), one per problem."""
    task = build_task(cfg)
    limit = cfg.sft.analysis_problems
    by_id = {p.id: p for p in task.load("train")}
    attempts = first_attempts(records)
    ids = [i for i in attempts if i in by_id][:limit]
    if not ids:
        raise UsageError("train.traces holds no problems of the training split")
    train = ([by_id[i] for i in ids], [attempts[i][0] for i in ids])
    model, tokenizer = load_model(_with_path(cfg.model, cfg.train.base_model))
    sampling = copy.deepcopy(cfg.sampling)
    sampling.attempts, sampling.n_samples = 1, 1
    sampling.temperature = records[0].get("sampling", {}).get("temperature", 1.0)
    held_out = task.load("test")[:limit]
    generator = torch.Generator().manual_seed(cfg.run.seed)
    drawn = rollout(model, tokenizer, task, held_out, sampling, generator, progress=False)
    return {"train": train, "test": (held_out, [t.attempts[0].response for t in drawn])}


def _with_path(model_cfg, path: str):
    out = copy.deepcopy(model_cfg)
    out.path = path
    return out


def fix_rates(model, tokenizer, cfg: ExperimentConfig, offline: dict) -> dict:
    """The four measurements for the current model."""
    task = build_task(cfg)
    sampling = copy.deepcopy(cfg.sampling)
    sampling.attempts, sampling.n_samples = 2, 1
    out = {}
    for source, split in CURVES:
        problems, attempts = offline[split]
        given = attempts if source == "offline" else None
        generator = torch.Generator().manual_seed(cfg.run.seed)
        trajectories = rollout(model, tokenizer, task, problems, sampling, generator,
                               progress=False, first_attempts=given)
        r1 = [t.attempts[0].reward for t in trajectories]
        m = correction_metrics(r1, [t.attempts[1].reward for t in trajectories])
        m["fix_rate"] = fix_rate(m["acc_t1"], m["delta_i2c"])
        out[f"{source}/{split}"] = m
    return out


class MismatchProbe(TrainerCallback):
    """Measures fix_rates before training and every `every` optimizer steps."""

    def __init__(self, cfg: ExperimentConfig, offline: dict, log_path: Path):
        self.cfg, self.offline, self.log_path = cfg, offline, log_path
        self.rows: list[dict] = []

    def _measure(self, state, model, tokenizer) -> None:
        was_training = model.training
        model.eval()
        rates = fix_rates(model, tokenizer, self.cfg, self.offline)
        model.train(was_training)
        row = {"step": state.global_step, "epoch": state.epoch or 0.0, **rates}
        self.rows.append(row)
        append_jsonl(self.log_path, [row])

    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kw):
        self._measure(state, model, processing_class)

    def on_step_end(self, args, state, control, model=None, processing_class=None, **kw):
        every = self.cfg.sft.mismatch_every
        if state.global_step % every == 0 or state.global_step == state.max_steps:
            if not self.rows or self.rows[-1]["step"] != state.global_step:
                self._measure(state, model, processing_class)


def analyze_mismatch(cfg: ExperimentConfig, progress: bool = True) -> list[dict]:
    """Train Pair-SFT with the probe attached; returns the rows written to mismatch.jsonl."""
    cfg = copy.deepcopy(cfg)
    cfg.train.method = "pair-sft"
    check_config(cfg)  # what Pair-SFT needs (train.traces), refused as `train` refuses it
    run_dir = prepare_run_dir(cfg)
    records = read_trace_files(cfg.train.traces)
    data = correction_dataset(cfg, records)
    offline = offline_first_attempts(cfg, records)
    log_path = run_dir / "mismatch.jsonl"
    log_path.unlink(missing_ok=True)
    probe = MismatchProbe(cfg, offline, log_path)
    fine_tune(cfg, data, run_dir / "pair-sft", callbacks=(probe,), progress=progress)
    return probe.rows
