"""The someone-else's-traces experiment: after SFT on a collector's two-turn traces, does the
trained model fix the collector's first attempts more often than its own?

analyses/mismatch.py (paper Figure 4) compares the collector's first attempts, sampled at
T = 1, with the model's own greedy ones, so decoding and distribution change together. Here
both sides are decoded alike, on the same held-out problems (`task.split`, the first
`task.limit`; validation in experiments/builtin/sft/mismatch-experiment.yaml):
- collector side: the collector model (the base model that collected the traces) samples one
  first attempt per problem at `sampling.temperature` (T = 1, as the trace collection does);
- own side: the trained model samples one first attempt per problem, same temperature;
- then the trained model writes a GREEDY second attempt after every first attempt of both
  sides, with the task's correction instruction, as the two-turn eval does.
A fix is a right second attempt after a wrong first one. Per model the result holds both fix
rates, the 0/1 fixes behind them (for paired statistics over seeds), the mix of mistake kinds
among each side's wrong first attempts, their total-variation distance and the fix rate by kind.

    selfcorrect mismatch-experiment -c experiments/builtin/sft/mismatch-experiment.yaml \\
        --collector runs/builtin/seed0/base/model --out own.json \\
        pair_sft=runs/builtin/seed0/sft/pair-d/model star=runs/builtin/seed0/sft/star-dplus/model
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from selfcorrect_cli.config import ExperimentConfig
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.run_dir import write_json_atomic
from selfcorrect_cli.measure.metrics import error_mix, total_variation
from selfcorrect_cli.rollout.generation import rollout
from selfcorrect_cli.rollout.models import load_model
from selfcorrect_cli.tasks import build_task

SECOND_ATTEMPT_TEMPERATURE = 0.0  # greedy, as the two-turn eval decodes


@dataclass
class Side:
    """One side's first attempts and what the trained model made of them."""
    first: list[str]        # first attempts, one per problem
    r1: list[float]         # their rewards
    kinds: list[str | None]  # their mistake kinds (Task.mistake_kind)
    r2: list[float]         # rewards of the trained model's greedy second attempts


# --- pure: fixes, rates and mixes -------------------------------------------------------------
def fixes(r1, r2) -> list[int]:
    """1 or 0 per WRONG first attempt: whether the second attempt after it is right.

    >>> fixes([0, 1, 0, 0], [1, 0, 0, 1])
    [1, 0, 1]
    """
    return [int(b == 1) for a, b in zip(r1, r2) if a == 0]


def rate(values: list[int]) -> float | None:
    """The mean of 0/1 outcomes; None (undefined) when there are none.

    >>> rate([1, 0, 1, 0]), rate([])
    (0.5, None)
    """
    return sum(values) / len(values) if values else None


def fix_by_kind(kinds, r1, r2) -> dict[str, float]:
    """The fix rate of each kind of wrong first attempt present.

    >>> fix_by_kind(["guess", "slip", "guess", "right"], [0, 0, 0, 1], [1, 0, 0, 1])
    {'guess': 0.5, 'slip': 0.0}
    """
    outcomes: dict[str, list[int]] = {}
    for kind, a, b in zip(kinds, r1, r2):
        if a == 0 and kind is not None:
            outcomes.setdefault(kind, []).append(int(b == 1))
    return {kind: rate(v) for kind, v in outcomes.items()}


def compare_sides(collector: Side, own: Side) -> dict:
    """The experiment's numbers for one trained model, from its two sides.

    >>> c = Side(["x"] * 4, [0, 0, 0, 1], ["guess", "misread", "guess", "right"], [1, 1, 0, 1])
    >>> o = Side(["y"] * 4, [0, 1, 1, 1], ["guess", "right", "right", "right"], [0, 1, 1, 1])
    >>> out = compare_sides(c, o)
    >>> out["fix_collector"], out["fix_own"], out["collector_fixes"], out["own_fixes"]
    (0.6666666666666666, 0.0, [1, 1, 0], [0])
    >>> round(out["mix_distance_tv"], 4), out["fix_by_kind_collector"]
    (0.3333, {'guess': 0.5, 'misread': 1.0})
    """
    out = {}
    for name, side in (("collector", collector), ("own", own)):
        outcomes = fixes(side.r1, side.r2)
        out[f"fix_{name}"] = rate(outcomes)
        out[f"n_{name}_wrong"] = len(outcomes)
        out[f"{name}_fixes"] = outcomes
        out[f"mix_{name}"] = error_mix(Counter(k for k in side.kinds if k is not None))
        out[f"fix_by_kind_{name}"] = fix_by_kind(side.kinds, side.r1, side.r2)
    out["mix_distance_tv"] = total_variation(out["mix_collector"], out["mix_own"])
    order = ("fix_collector", "fix_own", "n_collector_wrong", "n_own_wrong", "collector_fixes",
             "own_fixes", "mix_collector", "mix_own", "mix_distance_tv",
             "fix_by_kind_collector", "fix_by_kind_own")
    return {key: out[key] for key in order}


# --- sampling ---------------------------------------------------------------------------------
def first_attempt_sampling(cfg: ExperimentConfig):
    """One first attempt per problem at `sampling.temperature`: the same for both sides."""
    sampling = copy.deepcopy(cfg.sampling)
    sampling.attempts, sampling.n_samples = 1, 1
    return sampling


def second_attempt_sampling(cfg: ExperimentConfig):
    sampling = copy.deepcopy(cfg.sampling)
    sampling.attempts, sampling.n_samples = 2, 1
    sampling.temperature = SECOND_ATTEMPT_TEMPERATURE
    return sampling


def _load(cfg: ExperimentConfig, path: str):
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.path = path
    return load_model(model_cfg)


def sample_first_attempts(cfg: ExperimentConfig, model, tokenizer, task, problems) -> list[str]:
    generator = torch.Generator().manual_seed(cfg.run.seed)
    drawn = rollout(model, tokenizer, task, problems, first_attempt_sampling(cfg), generator,
                    progress=False)
    return [t.attempts[0].response for t in drawn]


def correct(cfg: ExperimentConfig, model, tokenizer, task, problems, first: list[str]) -> Side:
    """The trained model's greedy second attempt after each given first attempt."""
    generator = torch.Generator().manual_seed(cfg.run.seed)  # unused by greedy decoding
    drawn = rollout(model, tokenizer, task, problems, second_attempt_sampling(cfg), generator,
                    progress=False, first_attempts=first)
    return Side(first=first, r1=[t.attempts[0].reward for t in drawn],
                kinds=[task.mistake_kind(t.problem, t.attempts[0].response) for t in drawn],
                r2=[t.attempts[1].reward for t in drawn])


# --- the experiment ---------------------------------------------------------------------------
def held_out_problems(cfg: ExperimentConfig, task) -> list:
    problems = task.load(cfg.task.split)
    if cfg.task.limit:
        problems = problems[: cfg.task.limit]
    if not problems:
        raise UsageError(f"task {cfg.task.name!r} has no problems in split {cfg.task.split!r}")
    return problems


def settings(cfg: ExperimentConfig, collector: str, model: str, n_problems: int) -> dict:
    return {"collector": collector, "model": model, "task": cfg.task.name,
            "split": cfg.task.split, "n_problems": n_problems, "seed": cfg.run.seed,
            "first_attempt_temperature": first_attempt_sampling(cfg).temperature,
            "second_attempt_temperature": second_attempt_sampling(cfg).temperature,
            "top_p": cfg.sampling.top_p, "max_new_tokens": cfg.sampling.max_new_tokens}


def run_experiment(cfg: ExperimentConfig, collector: str, models: list[tuple[str, str]],
                   out: str | Path, nested: bool = True) -> dict:
    """Measure every (role, trained model dir) against one collector; writes and returns
    {role: result} (with nested=False and one model, that model's result alone). The
    collector's first attempts are sampled once and shared by the roles."""
    if not models or (not nested and len(models) != 1):
        raise UsageError("mismatch-experiment needs --model DIR or ROLE=MODEL_DIR pairs")
    if cfg.sampling.temperature <= 0:
        raise UsageError("mismatch-experiment samples first attempts: sampling.temperature "
                         "must be above 0 (the trace collection's, 1.0)")
    task = build_task(cfg)
    problems = held_out_problems(cfg, task)
    collector_model, collector_tokenizer = _load(cfg, collector)
    offline = sample_first_attempts(cfg, collector_model, collector_tokenizer, task, problems)
    del collector_model
    results = {}
    for role, path in models:
        model, tokenizer = _load(cfg, path)
        own = sample_first_attempts(cfg, model, tokenizer, task, problems)
        results[role] = {
            **compare_sides(correct(cfg, model, tokenizer, task, problems, offline),
                            correct(cfg, model, tokenizer, task, problems, own)),
            "settings": settings(cfg, collector, path, len(problems)),
        }
    written = results if nested else results[models[0][0]]
    write_json_atomic(Path(out), written)
    return written
