"""Experiment configuration: dataclasses are the one source of defaults.

Precedence: dataclass defaults, then the YAML experiment file, then `--set key=value`.
Every mistake (unknown key, wrong type, missing or invalid file) raises UsageError with one
line naming the key or file.

    >>> cfg = load_config(None, ["sampling.temperature=0.5", "run.seed=3"])
    >>> cfg.sampling.temperature, cfg.run.seed
    (0.5, 3)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from selfcorrect_cli.errors import UsageError


@dataclass
class RunConfig:
    out_dir: str = "runs/default"
    """Run directory: traces, metrics, checkpoints and the resolved config go here."""
    seed: int = 0
    """Seed for problem order, sampling and initialisation."""


@dataclass
class WorldConfig:
    """The built-in division world (see selfcorrect_cli/tasks/division.py)."""

    divisor_min: int = 10
    divisor_max: int = 99
    quotient_max: int = 9
    solver_rounding: int = 10
    """Difficulty knob: the pretraining solver sees the divisor rounded down to a multiple of
    this and guesses uniformly between the quotients the rounded bounds allow (1 = exact)."""
    min_candidates: int = 2
    """Keep only problems whose solver guess range holds at least this many quotients."""
    test_fraction_den: int = 8
    """One problem in this many (by a fixed hash) is held out as the test split."""
    copy_propensity: float = 0.7
    """In two-turn pretraining conversations, the second attempt repeats the first verbatim
    with this probability, else it is an independent re-solve (same distribution as turn 1)."""


@dataclass
class TaskConfig:
    name: str = "division"
    """division (built-in), gsm8k, math, humaneval or mbpp."""
    data: str = ""
    """Hub dataset name or local file for real tasks; unused by the built-in world."""
    split: str = "test"
    """Split to collect or evaluate on: train or test."""
    limit: int = 0
    """Use only the first `limit` problems of the split (0 = all)."""
    exclude: str = ""
    """math: a file of problems to leave out, matched by problem text (e.g. MATH500 when
    training on the rest of the MATH test set); required for split=train on a test file."""


@dataclass
class SandboxConfig:
    """How code tasks run model-written programs (see selfcorrect_cli/tasks/sandbox.py)."""

    backend: str = "auto"
    """auto (bubblewrap when it works, else resource limits only), bwrap or rlimit."""
    workers: int = 4
    """Programs run in parallel."""
    timeout_s: float = 10.0
    """Wall-clock limit per program; also bounds its CPU time."""
    memory_mb: int = 1024
    """Address-space limit per process."""
    max_processes: int = 32
    """Extra processes a program may start (fork bombs stop here)."""
    max_file_mb: int = 16
    """Largest file a program may write, its captured output included."""
    max_output_kb: int = 64
    """Output kept from each program (for reading failures)."""


@dataclass
class ModelConfig:
    path: str = "runs/base/model"
    """Hub name or local checkpoint folder (from_pretrained)."""
    dtype: str = "auto"
    """auto, float32, bfloat16 or float16 (auto: bfloat16 on GPU, float32 on CPU)."""
    device: str = "auto"
    """auto, cpu or cuda[:N]."""


@dataclass
class PretrainConfig:
    """The built-in tiny model and how it is trained from scratch."""

    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    intermediate_size: int = 256
    max_positions: int = 160
    steps: int = 4000
    batch_size: int = 64
    lr: float = 3e-3
    warmup_steps: int = 100
    two_turn_fraction: float = 0.5
    """Share of pretraining conversations that have two attempts (the rest have one)."""
    log_every: int = 100


@dataclass
class SamplingConfig:
    temperature: float = 0.0
    """0 means greedy decoding (the paper evaluates greedily)."""
    top_p: float = 1.0
    max_new_tokens: int = 48
    n_samples: int = 1
    """Samples per problem (each a full multi-turn trajectory)."""
    attempts: int = 2
    """Number of attempts per trajectory (2 = first attempt plus one self-correction)."""
    batch_size: int = 256
    """Trajectories generated together."""
    backend: str = "sampler"
    """sampler (our batched KV-cache loop) or hf (transformers' generate)."""


@dataclass
class EvalConfig:
    bootstrap_samples: int = 1000
    """Resamples for the 95% bootstrap confidence intervals."""


@dataclass
class TrainConfig:
    """Shared by every training method (`selfcorrect train`)."""

    method: str = "star"
    """star, pair-sft or score (and the SCoRe ablations; see score.py)."""
    base_model: str = "runs/builtin/base/model"
    """The model to start from (and the reference model for KL)."""
    traces: str = ""
    """Traces file(s) from `collect` for offline methods (comma-separated for several)."""


@dataclass
class SFTConfig:
    """STaR and Pair-SFT on TRL's SFTTrainer (see sft.py)."""

    dataset: str = "d_plus"
    """d (wrong->right only) or d_plus (also right->right)."""
    lr: float = 1e-3
    epochs: float = 1.0
    batch_size: int = 64
    star_rounds: int = 3
    """STaR iterations (ReST-EM style: collect, filter, fine-tune the base model again)."""
    max_steps: int = 0
    """Stop each fine-tuning run after this many optimizer steps (0 = run sft.epochs)."""
    log_every: int = 10
    """Optimizer steps between lines of <run.out_dir>/train_log.jsonl."""
    analysis_problems: int = 512
    """analyze-collapse / analyze-mismatch: problems per split (training and held-out)."""
    mismatch_every: int = 10
    """analyze-mismatch: optimizer steps between measurements during Pair-SFT."""


@dataclass
class ScoreConfig:
    """SCoRe Stage I / II and its ablations (see score.py). Defaults are sized for the built-in
    world on a CPU; the paper's values (Table 8, MATH) are noted beside each."""

    stage1_steps: int = 100
    """Stage I iterations: maximise r2, beta2 holds turn 1 near the reference (paper: part of
    3000 steps in all)."""
    stage2_steps: int = 100
    """Stage II iterations: r1 and the shaped r2 on both turns, beta1 on both."""
    lr: float = 3e-4
    """Adam learning rate (paper 5e-6 for Gemini; ~3e-4 suits the built-in tiny model)."""
    alpha: float = 10.0
    """Reward-shaping weight: turn 2 earns r2 + alpha * (r2 - r1) in Stage II (paper 10)."""
    beta1: float = 0.05
    """KL coefficient on every turn in Stage II and on turn 2 in Stage I (paper 0.01)."""
    beta2: float = 0.5
    """Strong KL coefficient on turn 1 in Stage I (paper 0.1; MBPP 0.25)."""
    problems_per_step: int = 16
    """Problems per iteration over all processes (paper batch 512)."""
    samples_per_problem: int = 8
    """n two-turn rollouts per problem, the RLOO group (paper: not stated; >= 2 needed)."""
    temperature: float = 1.0
    """Sampling temperature of training rollouts (paper 1.0)."""
    max_new_tokens: int = 48
    """Longest attempt sampled in training."""
    credit: str = "return"
    """per_turn (turn-1 tokens get r1, turn-2 tokens the shaped reward) or return (the shaped
    turn-2 reward also reaches turn-1 tokens through the undiscounted return)."""
    turns: int = 2
    """Attempts trained: 2 (multi-turn) or 1 (single-turn RL on r1, evaluated over two turns)."""
    stage2_update: str = "reinforce"
    """reinforce, or star (Stage II fine-tunes on its own correct online attempts instead)."""
    online_turn1: bool = True
    """False: first attempts come from the base model's offline traces (train.traces)."""
    kl_estimator: str = "exact"
    """exact (full-vocabulary KL per token) or k3 (sampled-token estimate, large vocabularies)."""
    max_grad_norm: float = 1.0
    """Gradient clipping."""
    checkpoint_every: int = 25
    """Steps between checkpoints (resume points and candidates for the final model)."""
    eval_every: int = 50
    """Steps between greedy two-turn evaluations on held-out problems (0 = never)."""
    eval_problems: int = 256
    """Held-out problems in each periodic evaluation."""


@dataclass
class ExperimentConfig:
    run: RunConfig = field(default_factory=RunConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    world: WorldConfig = field(default_factory=WorldConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)


def load_config(path: str | None, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """Defaults, then the YAML file at `path` (if any), then each `key=value` override."""
    cfg = ExperimentConfig()
    if path:
        _apply_mapping(cfg, _read_yaml(path), prefix="")
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set expects key=value, got {item!r}")
        value = yaml.safe_load(raw) if raw != "" else ""
        _set_dotted(cfg, key.strip(), value)
    return cfg


def config_to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def _read_yaml(path: str) -> dict:
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise UsageError(f"invalid YAML in {path}{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: the top level must be a mapping of sections")
    return data


def _apply_mapping(obj, mapping: dict, prefix: str) -> None:
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and _is_section(obj, key):
            _apply_mapping(getattr(obj, key), value, prefix=f"{dotted}.")
        else:
            _set_field(obj, str(key), value, dotted)


def _set_dotted(cfg, dotted: str, value) -> None:
    *sections, leaf = dotted.split(".")
    obj = cfg
    walked = []
    for name in sections:
        walked.append(name)
        if not _is_section(obj, name):
            raise UsageError(f"unknown config section: {'.'.join(walked)}")
        obj = getattr(obj, name)
    _set_field(obj, leaf, value, dotted)


def _is_section(obj, name) -> bool:
    return dataclasses.is_dataclass(getattr(obj, str(name), None))


def _set_field(obj, name: str, value, dotted: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(obj)}
    if name not in fields:
        known = ", ".join(sorted(fields))
        raise UsageError(f"unknown config key: {dotted} (known here: {known})")
    if _is_section(obj, name):
        raise UsageError(f"{dotted} is a section; set one of its keys, e.g. {dotted}.<key>=...")
    hints = typing.get_type_hints(type(obj))
    setattr(obj, name, _coerce(value, hints[name], dotted))


def _coerce(value, annotation, dotted: str):
    """Check `value` against a field's type; ints are accepted where floats are expected."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, dotted)
            except UsageError:
                continue
        raise UsageError(f"{dotted}: expected {annotation}, got {value!r}")
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        if not isinstance(value, list):
            raise UsageError(f"{dotted}: expected a list, got {value!r}")
        return [_coerce(v, item_type, dotted) for v in value]
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):
        # PyYAML reads 1e-5 (no dot) as a string; accept any spelling Python reads as a float
        try:
            return float(value)
        except ValueError:
            pass
    if annotation is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if annotation in (int, float, str, bool):
        if isinstance(value, annotation) and not (annotation is int and isinstance(value, bool)):
            return value
        raise UsageError(f"{dotted}: expected {annotation.__name__}, got {value!r}")
    return value
