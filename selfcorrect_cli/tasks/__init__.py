"""Tasks: the built-in world and real benchmarks. `build_task` picks one from the config."""

from __future__ import annotations

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.tasks.base import Problem, Task

__all__ = ["Problem", "Task", "build_task"]


def build_task(cfg) -> Task:
    name = cfg.task.name
    if name == "division":
        from selfcorrect_cli.tasks.division import DivisionTask

        return DivisionTask(cfg.world)
    raise UsageError(f"unknown task.name {name!r} (known: division)")
