"""MATH (Hendrycks et al. 2021) and its MATH500 subset: competition problems, LaTeX answers.

Task names `math` and `math500` share this class; only the data differs. Accepted files:
- MATH500 JSONL (PRM800K split): {"problem", "solution", "answer", "unique_id", ...};
  the gold answer is `answer`.
- MATH test JSONL (Hendrycks): {"problem", "solution", ...}; the gold answer is the last
  \\boxed{...} of `solution`.
- a hub dataset name (e.g. "HuggingFaceH4/MATH-500"), loaded with `load(split)`.

What `split` means for a local file, explicitly:
- "test": every problem in the file, minus those in `exclude` if given.
- "train": the file minus `exclude`, which is required unless the file's name says "train".
  The usual training pool (Lightman et al., also SCoRe) is the 4,500 MATH test problems
  outside MATH500: data=math/test.jsonl, exclude=math500/test.jsonl, split=train, with
  eval_data=math500/test.jsonl as the held-out set (tasks/held_out.py).
Problems are matched to `exclude` by their text with whitespace and case ignored, the same
match that refuses a training run whose held-out set overlaps its training set.
"""

from __future__ import annotations

from pathlib import Path

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.tasks import data_files
from selfcorrect_cli.tasks.answers import final_answer_statement, last_boxed, last_nonempty_line
from selfcorrect_cli.tasks.base import Problem, Task
from selfcorrect_cli.tasks.held_out import question_key
from selfcorrect_cli.tasks.math_equivalence import math_equal
from selfcorrect_cli.tasks.prompts import MATH_CORRECTION_INSTRUCTION, MATH_FIRST_PROMPT


def extract_math_answer(response: str) -> str | None:
    """The paper's "The final answer is $X$" statement, else the last \\boxed{X}, else the last line.

    >>> extract_math_answer("... Final Answer: The final answer is $\\\\frac{1}{2}$. I hope it is correct.")
    '\\\\frac{1}{2}'
    >>> extract_math_answer("so the area is $\\\\boxed{4\\\\pi}$ square units.")
    '4\\\\pi'
    >>> extract_math_answer("Therefore\\n$x = 3$")
    'x = 3'
    """
    for found in (final_answer_statement(response), last_boxed(response)):
        if found:
            return found
    return last_nonempty_line(response)


class CompetitionMathTask(Task):
    correction_instruction = MATH_CORRECTION_INSTRUCTION

    def __init__(self, data: str, name: str = "math", exclude: str = "", timeout_s: float = 5.0):
        if not data:
            raise UsageError(f"task {name} needs task.data: a MATH/MATH500 JSONL file or a hub name")
        self.name = name
        self.data = data
        self.exclude = exclude
        self.timeout_s = timeout_s

    def load(self, split: str) -> list[Problem]:
        local = data_files.looks_local(self.data)
        if local and split == "train" and not self.exclude and "train" not in Path(self.data).name:
            raise UsageError(
                f"split train of {self.data} needs task.exclude (e.g. the MATH500 file), so that "
                "training never sees evaluation problems"
            )
        rows = data_files.read_records(self.data) if local else data_files.load_hub_records(self.data, split)
        excluded = self._excluded_keys()
        problems = []
        for line, record in rows:
            problem = self._problem_from_record(record, f"{self.data}:{line}", line)
            if question_key(problem.question) not in excluded:
                problems.append(problem)
        return problems

    def _excluded_keys(self) -> set[str]:
        if not self.exclude:
            return set()
        rows = data_files.read_records(self.exclude)
        keys = set()
        for line, record in rows:
            data_files.require_fields(record, ("problem",), f"{self.exclude}:{line}")
            keys.add(question_key(record["problem"]))
        return keys

    def _problem_from_record(self, record: dict, where: str, line: int) -> Problem:
        data_files.require_fields(record, ("problem", "solution"), where)
        gold = record.get("answer")
        if gold is None:
            gold = last_boxed(record["solution"])
            if gold is None:
                raise UsageError(f"{where}: no 'answer' field and no \\boxed{{}} in 'solution'")
        identifier = record.get("unique_id") or f"{self.name}/{record.get('idx', line)}"
        return Problem(
            id=str(identifier), question=record["problem"], answer=str(gold),
            meta={"solution": record["solution"], "level": record.get("level"),
                  "subject": record.get("subject") or record.get("type")},
        )

    def first_prompt(self, problem: Problem) -> str:
        return MATH_FIRST_PROMPT.format(question=problem.question)

    def extract_answer(self, response: str) -> str | None:
        return extract_math_answer(response)

    def verify(self, problem: Problem, response: str) -> float:
        predicted = self.extract_answer(response)
        return 1.0 if math_equal(problem.answer, predicted, self.timeout_s) else 0.0

    def reference_response(self, problem: Problem) -> str:
        """The dataset's own worked solution, which a correct grader must accept."""
        return problem.meta["solution"]
