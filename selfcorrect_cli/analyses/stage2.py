"""The Stage II study: does Stage II keep what Stage I learned? (docs/built-in-world.md, "Stage II")

Reads each run's train_log.jsonl (the periodic greedy evaluation on validation problems, and
the training statistics) and judges the three targets declared before the study ran:
1. Acc@t2 at the end of Stage II >= Acc@t2 at the end of Stage I, in the mean over seeds and
   in at least 4 of 5 seeds (generally: all but one seed, once there are 5 or more);
2. mean Delta at the end >= 0.8 x mean Delta at the end of Stage I;
3. turn-1 KL at the last step below the bound in every seed.
Measuring only; report/stage2_report.py writes the table and the figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from statistics import mean

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.read import read_jsonl

KL_BOUND = 1.0
"""Declared bound on the turn-1 KL (nats per first attempt) at the end of training."""
DELTA_KEPT = 0.8
"""Share of the end-of-Stage-I Delta that the end of Stage II must keep, in the mean."""


def read_log(path: Path) -> list[dict]:
    """The rows of one train_log.jsonl (a missing file is a usage error naming it)."""
    return read_jsonl(path, "run `make stage2-study` first")


def eval_curve(rows: list[dict], key: str) -> dict[int, float]:
    """step -> eval/`key` at each periodic evaluation.

    >>> eval_curve([{"step": 24, "eval/acc_t2": 0.5}, {"step": 25}], "acc_t2")
    {24: 0.5}
    """
    return {row["step"]: row[f"eval/{key}"] for row in rows if f"eval/{key}" in row}


@dataclass
class SeedRun:
    """One seed's run: the numbers the targets read."""
    acc_t2_stage1: float
    acc_t2_end: float
    delta_stage1: float
    delta_end: float
    acc_t1_end: float
    kl_turn1_end: float


def seed_run(rows: list[dict], stage1_end: int, end: int) -> SeedRun:
    """The evaluation at the last Stage-I step and at the last step, and the last turn-1 KL.

    >>> rows = [{"step": 1, "eval/acc_t1": .5, "eval/acc_t2": .7, "eval/delta": .2,
    ...          "train/kl_turn1": .1},
    ...         {"step": 3, "eval/acc_t1": .6, "eval/acc_t2": .7, "eval/delta": .1,
    ...          "train/kl_turn1": .4}]
    >>> seed_run(rows, stage1_end=1, end=3)
    SeedRun(acc_t2_stage1=0.7, acc_t2_end=0.7, delta_stage1=0.2, delta_end=0.1, acc_t1_end=0.6, kl_turn1_end=0.4)
    """
    acc_t2, delta, acc_t1 = (eval_curve(rows, key) for key in ("acc_t2", "delta", "acc_t1"))
    for step in (stage1_end, end):
        if step not in acc_t2:
            raise UsageError(f"no periodic evaluation at step {step} (score.eval_every must "
                             f"divide {stage1_end + 1} and {end + 1})")
    return SeedRun(acc_t2[stage1_end], acc_t2[end], delta[stage1_end], delta[end], acc_t1[end],
                   rows[-1]["train/kl_turn1"])


@dataclass
class Verdict:
    """The three targets over seeds, and in how many seeds Acc@t2 was kept."""
    kept_acc_t2: bool
    seeds_kept: int
    kept_delta: bool
    kl_below_bound: bool

    @property
    def all(self) -> bool:
        return self.kept_acc_t2 and self.kept_delta and self.kl_below_bound


def judge(runs: list[SeedRun]) -> Verdict:
    """The declared targets over seeds.

    >>> a = SeedRun(.70, .75, .20, .18, .57, .5)
    >>> b = SeedRun(.80, .78, .20, .10, .68, 1.5)
    >>> judge([a, a, a, a, b])
    Verdict(kept_acc_t2=True, seeds_kept=4, kept_delta=True, kl_below_bound=False)
    """
    kept = sum(r.acc_t2_end >= r.acc_t2_stage1 for r in runs)
    mean_end, mean_stage1 = mean(r.acc_t2_end for r in runs), mean(r.acc_t2_stage1 for r in runs)
    need = len(runs) - 1 if len(runs) >= 5 else len(runs)
    delta_ok = mean(r.delta_end for r in runs) >= DELTA_KEPT * mean(r.delta_stage1 for r in runs)
    return Verdict(mean_end >= mean_stage1 and kept >= need, kept, delta_ok,
                   all(r.kl_turn1_end < KL_BOUND for r in runs))
