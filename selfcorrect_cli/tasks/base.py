"""What every task provides: problems for a split, the first prompt, answer extraction, reward.

A task owns its data and its grading. Rewards are 1.0 or 0.0 and come only from `grade`;
an unparsable response is simply wrong (reward 0.0), never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One problem. `answer` is the gold answer (for code tasks, the test program)."""

    id: str
    question: str
    answer: str
    meta: dict = field(default_factory=dict, hash=False, compare=False)


class Task:
    """Base class; subclasses set `name`, `correction_instruction` and implement the methods."""

    name: str = ""
    correction_instruction: str = ""

    def load(self, split: str) -> list[Problem]:
        """All problems of `split` ("train", "test", ...), in a fixed order."""
        raise NotImplementedError

    def first_prompt(self, problem: Problem) -> str:
        """The user message of turn 1 (x1)."""
        raise NotImplementedError

    def extract_answer(self, response: str) -> str | None:
        """The final answer written in `response`, or None when there is none."""
        raise NotImplementedError

    def verify(self, problem: Problem, response: str) -> float:
        """1.0 if `response` solves `problem`, else 0.0."""
        raise NotImplementedError

    def mistake_kind(self, problem: Problem, response: str) -> str | None:
        """Why `response` is right or wrong, where the task knows ("right" or the kind of
        mistake, e.g. the built-in world's labels); None for tasks that cannot tell."""
        return None

    def grade(self, problems: list[Problem], responses: list[str]) -> list[float]:
        """Rewards for many responses at once (code tasks run them in parallel)."""
        return [self.verify(p, r) for p, r in zip(problems, responses, strict=True)]
