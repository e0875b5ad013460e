"""Experiment configuration: dataclasses are the one source of defaults.

Precedence: dataclass defaults, then the YAML experiment file, then `--set key=value`.
Every mistake (unknown key, wrong type, a value outside the field's choices or range, values
that cannot work together, missing or invalid file) raises UsageError with one line naming the
key or file, at load time, before any stage writes to its run directory. Choices are `Literal`
annotations; ranges sit in each field's metadata beside its default (`at_least`, `above`,
`within`, `matching`); the checks themselves, and those of combinations, are in
config_values.py. `method_config` gives the config as `train` runs it, with train.method's
ScoreConfig settings (method_registry.py) applied.

    >>> cfg = load_config(None, ["sampling.temperature=0.5", "run.seed=3"])
    >>> cfg.sampling.temperature, cfg.run.seed
    (0.5, 3)
    >>> load_config(None, ["sampling.top_p=1.5"])
    Traceback (most recent call last):
    ...
    selfcorrect_cli.errors.UsageError: sampling.top_p must be in (0, 1], got 1.5
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import yaml

# BUILTIN_SPLITS and method_config are imported from here by the stages that use them
from selfcorrect_cli.config_values import (  # noqa: F401
    BUILTIN_SPLITS,
    above,
    apply_mapping,
    at_least,
    check_config,
    matching,
    method_config,
    names_from,
    read_yaml,
    set_dotted,
    within,
)
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.method_registry import TRAIN_METHODS


@dataclass
class RunConfig:
    out_dir: str = field(default="runs/default", metadata=matching(r".+", "a non-empty path"))
    """Run directory: traces, metrics, checkpoints and the resolved config go here."""
    seed: int = field(default=0, metadata=at_least(0))
    """Seed for problem order, sampling and initialisation."""
    report_to: str | list[str] = field(default="none",
                                       metadata=names_from(("none", "tensorboard", "wandb")))
    """Experiment trackers that mirror the training logs (pretrain, SFT, SCoRe): none,
    tensorboard (event files in <out_dir>/tb) or wandb (<out_dir>/wandb; WANDB_MODE=offline
    works without a network), or both as a list or "tensorboard,wandb". The JSONL logs are
    written either way; they stay the record that reports read."""


@dataclass
class WorldConfig:
    """The built-in division world (see selfcorrect_cli/tasks/division.py)."""

    divisor_min: int = field(default=10, metadata=at_least(1))
    divisor_max: int = field(default=99, metadata=at_least(1))
    """At least divisor_min."""
    quotient_max: int = field(default=9, metadata=at_least(1))
    solver_rounding: int = field(default=10, metadata=at_least(1))
    """Difficulty knob: the pretraining solver sees the divisor rounded down to a multiple of
    this and guesses uniformly between the quotients the rounded bounds allow (1 = exact)."""
    min_candidates: int = field(default=2, metadata=at_least(1))
    """Keep only problems whose solver guess range holds at least this many quotients."""
    test_fraction_den: int = field(default=8, metadata=at_least(3))
    """One problem in this many (by a fixed hash) is held out as the test split, and another
    one in this many as the validation split (below 3 would leave no training problems)."""
    copy_propensity: float = field(default=0.7, metadata=within(0, 1))
    """In two-turn pretraining conversations, the second attempt repeats the first verbatim
    with this probability, else it is an independent re-solve (same distribution as turn 1)."""
    verdict: bool = True
    """Every attempt states its written check's conclusion (LOW, OK or HIGH) before the answer."""
    check_slip: float = field(default=0.25, metadata=within(0, 1))
    """Probability that an attempt's written product is off by +-b (an arithmetic slip), so that
    its check, and its verdict, point the wrong way for some guesses. Same for both turns."""
    misread: float = field(default=0.3, metadata=within(0, 1))
    """Probability that the solver misreads the divisor's leading digit by one (23 read as 13
    or 33) and writes the whole attempt, check and verdict, for the number it read: a second
    kind of mistake, whose check is consistent but about another divisor. Same for both turns;
    0 keeps the earlier world and its data bitwise. 0.3 was chosen by the declared rule from
    base statistics alone (docs/built-in-world.md, "Calibration of the powered study")."""


@dataclass
class TaskConfig:
    name: Literal["division", "gsm8k", "math", "math500", "humaneval", "mbpp"] = "division"
    """division (built-in), gsm8k, math, math500, humaneval or mbpp."""
    data: str = ""
    """Hub dataset name or local file for real tasks; unused by the built-in world. Training
    runs take their problems from its split train (see selfcorrect_cli/tasks/held_out.py)."""
    split: Literal["train", "test", "validation", "prompt"] = "test"
    """Split to collect or evaluate on: train or test (mbpp also validation and prompt; the
    built-in world has train, validation and test)."""
    limit: int = field(default=0, metadata=at_least(0))
    """Use only the first `limit` problems of the split (0 = all)."""
    exclude: str = ""
    """math: a file of problems to leave out, matched by problem text (e.g. MATH500 when
    training on the rest of the MATH test set); required for split=train on a test file."""
    eval_data: str = ""
    """Training runs: where the held-out problems come from (SCoRe's periodic evaluation; no
    training run may share a problem with them). Hub name or local file; empty means `data`,
    which only a hub dataset allows (a local file is one split). E.g. GSM8K test.jsonl, or
    MATH500 when training on the rest of the MATH test set. Unused by the built-in world."""
    eval_split: Literal["test", "validation"] = "test"
    """Split of `eval_data` held out from training (mbpp: validation, since three MBPP test
    problems repeat in its train split)."""


@dataclass
class SandboxConfig:
    """How code tasks run model-written programs (see selfcorrect_cli/tasks/sandbox.py)."""

    backend: Literal["auto", "bwrap", "rlimit"] = "auto"
    """auto (bubblewrap when it works, else resource limits only), bwrap or rlimit."""
    workers: int = field(default=4, metadata=at_least(1))
    """Programs run in parallel."""
    timeout_s: float = field(default=10.0, metadata=above(0))
    """Wall-clock limit per program; also bounds its CPU time."""
    memory_mb: int = field(default=1024, metadata=at_least(1))
    """Address-space limit per process."""
    max_processes: int = field(default=32, metadata=at_least(0))
    """Extra processes a program may start (fork bombs stop here; 0 = none)."""
    max_file_mb: int = field(default=16, metadata=at_least(1))
    """Largest file a program may write, its captured output included."""
    max_output_kb: int = field(default=64, metadata=at_least(0))
    """Output kept from each program (for reading failures)."""


@dataclass
class ModelConfig:
    path: str = "runs/base/model"
    """Hub name or local checkpoint folder (from_pretrained)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """auto, float32, bfloat16 or float16 (auto: bfloat16 on GPU, float32 on CPU)."""
    device: str = field(default="auto", metadata=matching(r"auto|cpu|cuda(:\d+)?",
                                                          "auto, cpu, cuda or cuda:N"))
    """auto, cpu or cuda[:N]."""


@dataclass
class PretrainConfig:
    """The built-in tiny model and how it is trained from scratch."""

    hidden_size: int = field(default=64, metadata=at_least(1))
    """A multiple of heads."""
    layers: int = field(default=2, metadata=at_least(1))
    heads: int = field(default=4, metadata=at_least(1))
    intermediate_size: int = field(default=256, metadata=at_least(1))
    max_positions: int = field(default=160, metadata=at_least(1))
    steps: int = field(default=4000, metadata=at_least(1))
    batch_size: int = field(default=64, metadata=at_least(1))
    lr: float = field(default=3e-3, metadata=above(0))
    warmup_steps: int = field(default=100, metadata=at_least(0))
    two_turn_fraction: float = field(default=0.5, metadata=within(0, 1))
    """Share of pretraining conversations that have two attempts (the rest have one)."""
    log_every: int = field(default=100, metadata=at_least(1))


@dataclass
class SamplingConfig:
    temperature: float = field(default=0.0, metadata=at_least(0))
    """0 means greedy decoding (the paper evaluates greedily)."""
    top_p: float = field(default=1.0, metadata=within(0, 1, low_open=True))
    max_new_tokens: int = field(default=48, metadata=at_least(1))
    n_samples: int = field(default=1, metadata=at_least(1))
    """Samples per problem (each a full multi-turn trajectory)."""
    attempts: int = field(default=2, metadata=at_least(1))
    """Number of attempts per trajectory (2 = first attempt plus one self-correction)."""
    batch_size: int = field(default=256, metadata=at_least(1))
    """Trajectories generated together."""
    backend: Literal["sampler", "hf"] = "sampler"
    """sampler (our batched KV-cache loop) or hf (transformers' generate)."""
    cuda_graphs: bool = True
    """On CUDA, replay each decode step as a recorded CUDA graph (docs/gpu-rollouts.md); false
    runs the same step eagerly, for debugging. No effect on the CPU."""


@dataclass
class EvalConfig:
    bootstrap_samples: int = field(default=1000, metadata=at_least(1))
    """Resamples for the 95% bootstrap confidence intervals."""


@dataclass
class TrainConfig:
    """Shared by every training method (`selfcorrect train`)."""

    method: Literal[TRAIN_METHODS] = "star"
    """star, pair-sft or score (and the SCoRe ablations: the other names; what each sets is in
    method_registry.py)."""
    base_model: str = "runs/builtin/base/model"
    """The model to start from (and the reference model for KL)."""
    traces: str = ""
    """Traces file(s) from `collect` for offline methods (comma-separated for several)."""


@dataclass
class SFTConfig:
    """STaR and Pair-SFT on TRL's SFTTrainer (see sft.py)."""

    dataset: Literal["d", "d_plus"] = "d_plus"
    """d (wrong->right only) or d_plus (also right->right)."""
    lr: float = field(default=1e-3, metadata=above(0))
    epochs: float = field(default=1.0, metadata=at_least(0))
    """Passes over the data (0 is allowed only with sft.max_steps above 0)."""
    batch_size: int = field(default=64, metadata=at_least(1))
    star_rounds: int = field(default=3, metadata=at_least(1))
    """STaR iterations (ReST-EM style: collect, filter, fine-tune the base model again)."""
    max_steps: int = field(default=0, metadata=at_least(0))
    """Stop each fine-tuning run after this many optimizer steps (0 = run sft.epochs)."""
    log_every: int = field(default=10, metadata=at_least(1))
    """Optimizer steps between lines of <run.out_dir>/train_log.jsonl."""
    analysis_problems: int = field(default=512, metadata=at_least(1))
    """analyze-collapse / analyze-mismatch: problems per split (training and held-out)."""
    mismatch_every: int = field(default=10, metadata=at_least(1))
    """analyze-mismatch: optimizer steps between measurements during Pair-SFT."""


@dataclass
class ScoreConfig:
    """SCoRe Stage I / II and its ablations (see score.py). Defaults are sized for the built-in
    world on a CPU; the paper's values (Table 8, MATH) are noted beside each."""

    stage1_steps: int = field(default=100, metadata=at_least(0))
    """Stage I iterations: maximise r2, beta2 holds turn 1 near the reference (paper: part of
    3000 steps in all). 0 skips Stage I."""
    stage2_steps: int = field(default=100, metadata=at_least(0))
    """Stage II iterations: r1 and the shaped r2 on both turns, beta1 on both."""
    lr: float = field(default=3e-4, metadata=above(0))
    """Adam learning rate (paper 5e-6 for Gemini; ~3e-4 suits the built-in tiny model)."""
    alpha: float = field(default=10.0, metadata=at_least(0))
    """Reward-shaping weight: turn 2 earns r2 + alpha * (r2 - r1) in Stage II (paper 10)."""
    beta1: float = field(default=0.05, metadata=at_least(0))
    """KL coefficient on every turn in Stage II and on turn 2 in Stage I (paper 0.01)."""
    beta2: float = field(default=0.5, metadata=at_least(0))
    """Strong KL coefficient on turn 1 in Stage I (paper 0.1; MBPP 0.25)."""
    problems_per_step: int = field(default=16, metadata=at_least(1))
    """Problems per iteration over all processes (paper batch 512)."""
    samples_per_problem: int = field(default=8, metadata=at_least(2))
    """n two-turn rollouts per problem, the RLOO group (paper: not stated; >= 2 needed for the
    leave-one-out baseline)."""
    temperature: float = field(default=1.0, metadata=at_least(0))
    """Sampling temperature of training rollouts (paper 1.0)."""
    max_new_tokens: int = field(default=48, metadata=at_least(1))
    """Longest attempt sampled in training."""
    credit: Literal["per_turn", "return"] = "per_turn"
    """per_turn (the paper's per-turn rewards: turn-1 tokens get r1, turn-2 tokens the shaped
    reward) or return (in Stage II the shaped turn-2 reward also reaches turn-1 tokens through
    the undiscounted return; the `score-return` method). Stage I always credits per turn."""
    turns: Literal[1, 2] = 2
    """Attempts trained: 2 (multi-turn) or 1 (single-turn RL on r1, evaluated over two turns)."""
    stage1_from: str = ""
    """A run folder whose Stage I this run shares (same seed, base model and every setting
    Stage I reads; methods/shared_stage1.py): Stage II starts from that run's end-of-Stage-I
    checkpoint (written under score.keep_stage1) instead of training Stage I again. Empty:
    train Stage I here."""
    keep_stage1: bool = False
    """Keep the end-of-Stage-I checkpoint whole in checkpoints/stage1 for score.stage1_from
    (weights and optimizer state: three times the model on disk)."""
    stage2_update: Literal["reinforce", "star"] = "reinforce"
    """reinforce, or star (Stage II fine-tunes on its own correct online attempts instead)."""
    online_turn1: bool = True
    """False: first attempts come from the base model's offline traces (train.traces)."""
    kl_estimator: Literal["exact", "sampled"] = "exact"
    """exact (full-vocabulary KL(pi || ref) at each visited position, in the loss; small
    vocabularies) or sampled (beta * log pi(y)/pi_ref(y) subtracted from each turn's reward
    before the baseline: the sequence-level KL penalty of the paper's objective; large
    vocabularies). See methods/losses.py for the gradient of each."""
    advantage_norm: Literal["none", "verifier_spread"] = "none"
    """none, or verifier_spread: in Stage II each turn's advantages are rescaled to the spread
    (std over the batch) of the advantages its plain verifier reward (r1 or r2) would give, so
    that the shaping bonus and the return change the direction of an update, never its size
    against the KL term and the gradient clip: beta means the same in both stages. Stage I,
    and alpha 0 under per-turn credit, are unchanged (the factor is exactly 1)."""
    turn2_baseline: Literal["chain", "first_attempt"] = "chain"
    """Turn-2 baseline of chain rollouts in Stage II: chain (leave-one-out over the problem's
    other trajectories, whose first attempts differ) or first_attempt (the -alpha * r1 part of
    the shaped reward, fixed once y1 is drawn, is left out of the turn-2 advantage: unbiased,
    and without the noise of other first attempts' rewards). Trees condition on y1 anyway."""
    kl_target_turn1: float = field(default=0.5, metadata=at_least(0))
    """Stage II (and one-stage methods): adapt turn 1's KL coefficient toward this KL to the
    reference, in nats per first attempt (Ziegler et al. 2019's proportional controller,
    starting from the coefficient turn 1 had in Stage I); 0 keeps beta1 fixed (the paper).
    0.5 was chosen by the Stage II study on tuning seeds (docs/built-in-world.md, "Stage II"):
    the only fix that kept Stage I's correction; a real model's first attempt is longer, so its
    KL per attempt is larger: set the target from its own Stage-I turn-1 KL."""
    kl_target_turn2: float = field(default=0.0, metadata=at_least(0))
    """The same for turn 2 (starting from beta1); 0 keeps beta1 fixed."""
    kl_adapt_rate: float = field(default=0.1, metadata=above(0))
    """Controller gain: each step multiplies beta by 1 + rate * clip((KL - target) / target,
    -0.2, 0.2), at most 2% a step at 0.1."""
    turn2_samples: int = field(default=1, metadata=at_least(1))
    """Tree rollouts: second attempts sampled under each first attempt (1 = a chain). With m > 1
    the turn-2 baseline is the mean over siblings that share the first attempt."""
    micro_batch_rows: int = field(default=32, metadata=at_least(0))
    """Sequences per forward/backward pass, gradients accumulated (0 = the whole batch at once).
    Real models: small enough that rows x tokens x vocabulary logits fit the accelerator. The
    built-in model on a CPU: 32 keeps each activation in cache, a 1.29x faster update than the
    whole batch of 128 (benchmarks/bench_iteration.py --micro-batches)."""
    stats_every: int = field(default=1, metadata=at_least(0))
    """Steps between the costlier training statistics (policy entropy; 0 = never)."""
    max_grad_norm: float = field(default=1.0, metadata=above(0))
    """Gradient clipping."""
    checkpoint_every: int = field(default=25, metadata=at_least(1))
    """Steps between checkpoints (resume points and candidates for the final model)."""
    eval_every: int = field(default=50, metadata=at_least(0))
    """Steps between greedy two-turn evaluations on held-out problems (0 = never)."""
    eval_problems: int = field(default=256, metadata=at_least(1))
    """Held-out problems in each periodic evaluation."""
    sample_conversations: int = field(default=8, metadata=at_least(0))
    """Conversations of each periodic evaluation (and of each SFT round's model) written to
    <run.out_dir>/samples.jsonl and the trackers for a person to read (`selfcorrect samples`):
    the same ones every time, drawn by run.seed from the first eval_problems held-out problems
    (0 = none; not part of the paper's method)."""


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
        apply_mapping(cfg, read_yaml(path))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set expects key=value, got {item!r}")
        value = yaml.safe_load(raw) if raw != "" else ""
        set_dotted(cfg, key.strip(), value)
    check_config(cfg)
    return cfg


def config_to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)
