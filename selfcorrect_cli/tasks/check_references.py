"""Grade each problem's own reference solution: a test of the task's extraction and verifier.

A dataset's worked solution (GSM8K's answer text, a MATH solution, HumanEval's prompt plus
canonical solution, MBPP's code) should earn reward 1. Every one that does not is either a
grader bug or a flaw in the data, and is worth reading before trusting any reward.
"""

from __future__ import annotations

from dataclasses import dataclass

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.tasks.base import Task


@dataclass(frozen=True)
class ReferenceFailure:
    problem_id: str
    gold: str
    extracted: str | None
    """What the task's extraction read from the reference (None: nothing found)."""


def check_references(task: Task, split: str, limit: int = 0, max_examples: int = 10) -> tuple[int, int, list[ReferenceFailure]]:
    """(n verified, n total, up to `max_examples` failures) for the references of `split`."""
    if not hasattr(task, "reference_response"):
        raise UsageError(f"task {task.name} has no reference solutions to check")
    problems = task.load(split)
    if limit > 0:
        problems = problems[:limit]
    responses = [task.reference_response(problem) for problem in problems]
    rewards = task.grade(problems, responses)
    failures = [
        ReferenceFailure(problem.id, _short(problem.answer), task.extract_answer(response))
        for problem, response, reward in zip(problems, responses, rewards, strict=True)
        if reward != 1.0
    ]
    return len(problems) - len(failures), len(problems), failures[:max_examples]


def format_reference_report(task_name: str, split: str, n_verified: int, n_total: int,
                            failures: list[ReferenceFailure]) -> str:
    """The text `selfcorrect check-references` prints.

    >>> print(format_reference_report("gsm8k", "test", 2, 3, [ReferenceFailure("gsm8k/3", "5", "6")]))
    gsm8k test: 2/3 reference solutions verified (66.7%)
    failures (first 1):
      gsm8k/3: gold '5', extracted '6'
    """
    share = 100.0 * n_verified / n_total if n_total else 0.0
    lines = [f"{task_name} {split}: {n_verified}/{n_total} reference solutions verified ({share:.1f}%)"]
    if failures:
        lines.append(f"failures (first {len(failures)}):")
        lines += [f"  {f.problem_id}: gold {f.gold!r}, extracted {_short(f.extracted)!r}" for f in failures]
    return "\n".join(lines)


def _short(text: str | None, width: int = 80) -> str | None:
    if text is None or len(text) <= width:
        return text
    return text[: width - 3] + "..."
