"""STaR and Pair-SFT self-correction baselines on TRL's SFTTrainer, used as it is.

Both fine-tune on (x1, y1, y2) tuples (correction_data.py) in TRL's conversational
prompt-completion format: the prompt is [user x1, assistant y1, user instruction] and the
completion is [assistant y2], so SFTTrainer's completion-only loss trains y2 (and its
end-of-turn token) and never the first attempt.

- Pair-SFT: one pass (sft.epochs) over D_SFT or D+_SFT built from `train.traces`.
- STaR: ReST-EM style rounds. Round k collects traces on the training split with the latest
  model (round 1 may use `train.traces` instead), filters them into D_STaR or D+_STaR, and
  fine-tunes the *base* model again on that round's data only.

The run directory gets one folder per fine-tuning run (train_log.jsonl, dataset.json, and
run.report_to's tracker logs), the final Hugging Face checkpoint in <run.out_dir>/model, and
samples.jsonl: what each round's model writes on a few held-out problems (step = the round).

Under `accelerate launch` the Trainer runs DDP with sft.batch_size split over the processes
(it stays the batch of one optimizer step), STaR's collection is shared out by collect.py, and
the main process alone writes files.
"""

from __future__ import annotations

import copy
import math
import shutil
from pathlib import Path

import click
from datasets import Dataset
from transformers import TrainerCallback
from trl import SFTConfig as TrlSFTConfig
from trl import SFTTrainer

from selfcorrect_cli.config import ExperimentConfig, config_to_dict
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.checkpoints import save_model
from selfcorrect_cli.io.model_card import model_card
from selfcorrect_cli.io.read import read_jsonl
from selfcorrect_cli.io.run_dir import (
    append_jsonl,
    ends_in_cut_line,
    prepare_run_dir,
    write_json_atomic,
)
from selfcorrect_cli.io.samples import SampleLog, pick
from selfcorrect_cli.io.traces import read_trace_files, read_traces, trace_paths
from selfcorrect_cli.io.trackers import finish_trackers, log_row, start_trackers, tracker_names
from selfcorrect_cli.measure.collect import collect_traces, greedy_two_attempts
from selfcorrect_cli.method_registry import trained_by_sft
from selfcorrect_cli.methods.correction_data import (
    CorrectionData,
    build_dataset,
    dataset_name,
    to_prompt_completion,
)
from selfcorrect_cli.rollout.models import load_model, pick_device
from selfcorrect_cli.rollout.processes import process_state
from selfcorrect_cli.tasks import build_task
from selfcorrect_cli.tasks.held_out import held_out_problems, refuse_held_out_sft_data

_EMPTY_HINT = {"d": "no trace has a wrong first attempt followed by a right second one",
               "d_plus": "no trace ends in a right second attempt"}


def train_sft(cfg: ExperimentConfig, progress: bool = True) -> Path:
    """Train STaR or Pair-SFT as configured; returns <run.out_dir>/model."""
    if not trained_by_sft(cfg.train.method):
        raise UsageError(f"train.method must be star or pair-sft here, not {cfg.train.method!r}")
    # What the settings alone cannot tell, before anything is written: the launch's process
    # count, the trackers' packages, the data's overlap with the held-out problems.
    _per_process_batch(cfg)
    tracker_names(cfg.run.report_to)
    refuse_held_out_sft_data(cfg)
    state = process_state(cfg.model)
    run_dir = Path(cfg.run.out_dir)
    # built before the run directory exists, so that an empty dataset leaves nothing behind
    given = (correction_dataset(cfg, read_trace_files(cfg.train.traces), cfg.train.traces)
             if cfg.train.traces else None)
    if state.is_main_process:
        prepare_run_dir(cfg)
    state.wait_for_everyone()
    if cfg.train.method == "pair-sft":
        model_dir = fine_tune(cfg, given, run_dir / "pair-sft", progress=progress, samples_at=1)
    else:
        model_dir = _train_star(cfg, run_dir, given, progress)
    final = run_dir / "model"
    if model_dir != final and state.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        shutil.copytree(model_dir, final)
    state.wait_for_everyone()
    return final


def _per_process_batch(cfg: ExperimentConfig) -> int:
    """sft.batch_size is the batch of one optimizer step over all processes; each process
    takes an equal share of it."""
    processes = process_state(cfg.model).num_processes
    if cfg.sft.batch_size % processes:
        raise UsageError(f"sft.batch_size ({cfg.sft.batch_size}) must be a multiple of the "
                         f"number of processes ({processes})")
    return cfg.sft.batch_size // processes


def correction_dataset(cfg: ExperimentConfig, records: list[dict],
                       trace_files: str = "") -> CorrectionData:
    """The configured dataset; an empty one is a UsageError, never a crash inside TRL. When
    the records come from `trace_files` (comma-separated), the error names any that ends in
    a line cut short by a crash, the likely reason for missing traces."""
    name = dataset_name(cfg.train.method, cfg.sft.dataset)
    data = build_dataset(cfg.train.method, cfg.sft.dataset, records, seed=cfg.run.seed)
    if not data.examples:  # the error alone, on one line: no summary line before it
        cut = [p for p in trace_paths(trace_files) if ends_in_cut_line(p)]
        fix = ("; ".join(f"{p} ends in a truncated line, left by a collection cut off mid-write: "
                         f"rerun its `selfcorrect collect` to finish it" for p in cut)
               or "collect more traces or use sft.dataset=d_plus")
        raise UsageError(f"{name} is empty: {_EMPTY_HINT[cfg.sft.dataset]} "
                         f"(in {data.n_traces} traces); {fix}")
    if process_state(cfg.model).is_main_process:
        click.echo(data.summary(name), err=True)
    return data


def _train_star(cfg: ExperimentConfig, run_dir: Path, given: CorrectionData | None,
                progress: bool) -> Path:
    """STaR's rounds; round 1 trains on `given` (built from train.traces) when there is one."""
    latest = cfg.train.base_model
    for round_index in range(1, cfg.sft.star_rounds + 1):
        round_dir = run_dir / f"round-{round_index}"
        if round_index == 1 and given is not None:
            data = given
        else:
            records = read_traces(_collect_with(cfg, latest, round_dir / "collect", progress))
            data = correction_dataset(cfg, records)
        if process_state(cfg.model).is_main_process:
            click.echo(f"STaR round {round_index}/{cfg.sft.star_rounds}", err=True)
        latest = str(fine_tune(cfg, data, round_dir, progress=progress, samples_at=round_index))
    return Path(latest)


def _collect_with(cfg: ExperimentConfig, model_path: str, out_dir: Path, progress: bool) -> Path:
    """Traces on the training split from `model_path`, with the run's sampling settings."""
    round_cfg = copy.deepcopy(cfg)
    round_cfg.model.path = model_path
    round_cfg.run.out_dir = str(out_dir)
    round_cfg.task.split = "train"
    return collect_traces(round_cfg, progress=progress)


class TrainLogCallback(TrainerCallback):
    """Appends loss, learning rate and samples seen to train_log.jsonl at every Trainer log,
    and the same rows to run.report_to's trackers (logs in the same folder); main process only.
    With `samples_at`, the trained model's sample conversations are written at that step
    (the round) when training ends, while the trackers are still open.
    """

    def __init__(self, cfg: ExperimentConfig, path: Path, n_examples: int,
                 samples_at: int | None = None):
        self.cfg = cfg
        self.path = path
        self.n_examples = n_examples
        self.samples_at = samples_at
        self.trackers = []

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.trackers = start_trackers(self.cfg, self.path.parent)

    def on_train_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        if state.is_world_process_zero and self.samples_at is not None:
            write_samples(self.cfg, self.samples_at, model, processing_class, self.trackers)
        finish_trackers(self.trackers)
        self.trackers = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero:
            return
        if not logs or ("loss" not in logs and "train_loss" not in logs):
            return
        batch = (args.per_device_train_batch_size * args.gradient_accumulation_steps
                 * args.world_size)
        per_epoch = math.ceil(self.n_examples / batch)  # the last batch of an epoch may be short
        epochs, rest = divmod(state.global_step, per_epoch)
        seen = epochs * self.n_examples + min(rest * batch, self.n_examples)
        row = {"step": state.global_step, "train/samples_seen": seen}
        if "loss" in logs:
            row["train/loss"] = logs["loss"]
            row["train/lr"] = logs.get("learning_rate")
        else:
            row["train/mean_loss"] = logs["train_loss"]
        append_jsonl(self.path, [row])
        log_row(self.trackers, row)


def write_samples(cfg: ExperimentConfig, step: int, model, tokenizer, trackers: list) -> None:
    """The model's sample conversations at `step` (io/samples.py): greedy, two attempts, on the
    held-out problems that SCoRe's evaluations draw them from, so the two compare."""
    if not cfg.score.sample_conversations:
        return
    task = build_task(cfg)
    held_out = held_out_problems(cfg, task)[: cfg.score.eval_problems]
    problems = pick(held_out, cfg.score.sample_conversations, cfg.run.seed)
    trajectories = greedy_two_attempts(model, tokenizer, task, problems,
                                       cfg.sampling.max_new_tokens, cfg.sampling.batch_size)
    SampleLog(Path(cfg.run.out_dir), step, trackers).write(task, trajectories)


def build_trainer(cfg: ExperimentConfig, data: CorrectionData, out_dir: Path,
                  callbacks: tuple = (), progress: bool = True,
                  samples_at: int | None = None) -> SFTTrainer:
    """An SFTTrainer over `data` that starts from `train.base_model` (with `samples_at`, see
    TrainLogCallback)."""
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.path = cfg.train.base_model
    # float32 master weights whatever model.dtype, as SCoRe keeps them (bf16 weights would drop
    # updates below bf16's resolution); on a GPU the compute runs under bf16 autocast (below)
    model_cfg.dtype = "float32"
    model, tokenizer = load_model(model_cfg)
    model.train()
    task = build_task(cfg)
    rows = [to_prompt_completion(c, task.correction_instruction) for c in data.examples]
    on_gpu = pick_device(cfg.model.device).type == "cuda"
    args = TrlSFTConfig(
        output_dir=str(out_dir / "trainer"), per_device_train_batch_size=_per_process_batch(cfg),
        learning_rate=cfg.sft.lr, num_train_epochs=cfg.sft.epochs,
        max_steps=cfg.sft.max_steps if cfg.sft.max_steps > 0 else -1,
        logging_steps=cfg.sft.log_every, save_strategy="no", report_to="none",
        seed=cfg.run.seed, data_seed=cfg.run.seed, use_cpu=not on_gpu, bf16=on_gpu,
        gradient_checkpointing=False,  # tiny models: recomputation costs more than it saves
        ddp_find_unused_parameters=False,  # every parameter gets a gradient: skip DDP's search
        max_length=None, completion_only_loss=True, disable_tqdm=not progress,
    )
    log_path = out_dir / "train_log.jsonl"
    if process_state(cfg.model).is_main_process:
        log_path.unlink(missing_ok=True)
    return SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                      processing_class=tokenizer,
                      callbacks=[TrainLogCallback(cfg, log_path, len(rows), samples_at),
                                 *callbacks])


def fine_tune(cfg: ExperimentConfig, data: CorrectionData, out_dir: Path,
              callbacks: tuple = (), progress: bool = True,
              samples_at: int | None = None) -> Path:
    """Fine-tune `train.base_model` on `data`; saves and returns <out_dir>/model. With
    `samples_at` (a round), the trained model's sample conversations go to the run's
    samples.jsonl at that step."""
    main = process_state(cfg.model).is_main_process
    out_dir.mkdir(parents=True, exist_ok=True)
    if main:
        write_json_atomic(out_dir / "dataset.json", {
            "name": dataset_name(cfg.train.method, cfg.sft.dataset), "tuples": len(data.examples),
            "traces": data.n_traces, "problems": data.n_problems,
            "problems_used": len({c.problem_id for c in data.examples})})
    trainer = build_trainer(cfg, data, out_dir, callbacks, progress, samples_at)
    trainer.train()
    model = trainer.model  # the model itself, not its DDP wrapper
    model.eval()
    if main:
        card = _model_card(cfg, data, out_dir, samples_at)
        save_model(model, trainer.processing_class, out_dir / "model", card)
    trainer.accelerator.wait_for_everyone()  # the checkpoint is whole before any process loads it
    return out_dir / "model"


def _model_card(cfg: ExperimentConfig, data: CorrectionData, out_dir: Path,
                round_index: int | None) -> str:
    """The card of <out_dir>/model: its data, the round, and the latest value of each
    training statistic in <out_dir>/train_log.jsonl (SFT measures no held-out problems)."""
    log = out_dir / "train_log.jsonl"
    rows = read_jsonl(log) if log.exists() else []
    metrics = {key: value for row in rows for key, value in row.items()
               if key.startswith("train/") and value is not None}
    details = {"training data": data.summary(dataset_name(cfg.train.method, cfg.sft.dataset))}
    if cfg.train.method == "star" and round_index:
        details["STaR round"] = f"{round_index} of {cfg.sft.star_rounds}"
    return model_card(config_to_dict(cfg), "sft", metrics, details)
