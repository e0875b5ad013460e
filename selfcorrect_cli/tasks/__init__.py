"""Tasks: the built-in world and real benchmarks. `build_task` picks one from the config.

Owns: loading a split (data_files), prompt formats and the correction instruction (prompts),
answer extraction and verification (answers, math_equivalence), the code sandbox (sandbox),
the reference-solution check (check_references), and a training run's train and held-out
sets with their overlap check (held_out). Each Task's `grade` is its reward.
May import: config, errors, io. Never rollout, methods, measure or report.
"""

from __future__ import annotations

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.tasks.base import Problem, Task

__all__ = ["Problem", "Task", "build_task"]


def build_task(cfg) -> Task:
    name = cfg.task.name
    if name == "division":
        from selfcorrect_cli.tasks.division import DivisionTask

        return DivisionTask(cfg.world)
    if name == "gsm8k":
        from selfcorrect_cli.tasks.gsm8k import GSM8KTask

        return GSM8KTask(cfg.task.data)
    if name in ("math", "math500"):
        from selfcorrect_cli.tasks.competition_math import CompetitionMathTask

        return CompetitionMathTask(cfg.task.data, name=name, exclude=cfg.task.exclude)
    if name in ("humaneval", "mbpp"):
        from selfcorrect_cli.tasks.code import CodeTask

        return CodeTask(name, cfg.task.data, cfg.sandbox)
    raise UsageError(
        f"unknown task.name {name!r} (known: division, gsm8k, math, math500, humaneval, mbpp)"
    )
