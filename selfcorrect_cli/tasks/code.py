"""Code tasks: HumanEval (Chen et al. 2021) and MBPP (Austin et al. 2021).

The model writes a Python program; it earns 1 only when the task's tests all pass in the
sandbox (selfcorrect_cli/tasks/sandbox.py). `Problem.answer` holds the test code to append.

Data, in the original formats:
- HumanEval JSONL(.gz) {"task_id", "prompt", "entry_point", "canonical_solution", "test"}:
  one split only ("test"). The program is the prompt followed by the model's code, so helper
  functions and imports of the prompt are there and a full function redefines the stub; the
  tests are `test` plus `check(<entry_point>)`.
- MBPP JSONL {"task_id", "text", "code", "test_list", "test_setup_code", ...} or the sanitized
  JSON list {"task_id", "prompt", "code", "test_list", "test_imports"}. Splits by task id as in
  the MBPP README: 1-10 "prompt" (few-shot), 11-510 "test", 511-600 "validation", 601-974 "train".
A hub name loads the hub split of that name.
"""

from __future__ import annotations

import re

from selfcorrect_cli.config import SandboxConfig
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.tasks import data_files
from selfcorrect_cli.tasks.base import Problem, Task
from selfcorrect_cli.tasks.prompts import (
    CODE_CORRECTION_INSTRUCTION,
    HUMANEVAL_FIRST_PROMPT,
    MBPP_FIRST_PROMPT,
)

MBPP_SPLITS = {"prompt": (1, 10), "test": (11, 510), "validation": (511, 600), "train": (601, 974)}
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_program(response: str, function_name: str | None = None) -> str:
    """The Python program in a response: a fenced block (the one defining `function_name`
    when there are several), else the whole response with MBPP's [BEGIN]/[DONE] markers removed.

    >>> extract_program("Here:\\n```python\\ndef f(x):\\n    return x\\n```\\nDone.")
    'def f(x):\\n    return x\\n'
    >>> extract_program("```\\nprint(f(1))\\n```\\n```py\\ndef f(x): return 2\\n```", "f")
    'def f(x): return 2\\n'
    >>> extract_program("[BEGIN]\\ndef f(): pass\\n[DONE]")
    'def f(): pass'
    """
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(response)]
    blocks = [body for lang, body in blocks if lang in ("", "python", "py", "python3")]
    if not blocks:
        # Keep the first line's indentation: a bare function body is a valid HumanEval answer.
        return response.replace("[BEGIN]", "").replace("[DONE]", "").lstrip("\n").rstrip()
    if function_name:
        for body in blocks:
            if re.search(rf"^\s*def\s+{re.escape(function_name)}\s*\(", body, re.MULTILINE):
                return body
    return blocks[0]


def tested_function(test_list: list[str]) -> str | None:
    """The function MBPP's asserts call, e.g. 'min_cost' in "assert min_cost(...) == 8".

    >>> tested_function(["assert min_cost([[1]], 0, 0) == 1"])
    'min_cost'
    >>> tested_function(["assert set(similar_elements((3, 4), (4,))) == set((4,))"])
    'similar_elements'
    """
    for test in test_list:
        for name in re.findall(r"([A-Za-z_]\w*)\s*\(", test):
            if name not in {"set", "sorted", "list", "tuple", "abs", "round", "math", "isclose",
                            "str", "int", "float", "len", "frozenset", "dict"}:
                return name
    return None


class CodeTask(Task):
    """`humaneval` or `mbpp`; rewards come from running the tests in the sandbox."""

    correction_instruction = CODE_CORRECTION_INSTRUCTION

    def __init__(self, name: str, data: str, sandbox: SandboxConfig):
        if name not in ("humaneval", "mbpp"):
            raise UsageError(f"unknown code task {name!r}: humaneval or mbpp")
        if not data:
            raise UsageError(f"task {name} needs task.data: a local file or a hub name")
        self.name, self.data, self.sandbox_cfg = name, data, sandbox
        self._sandbox = None  # built on first use: probing bubblewrap costs a process start

    # ---- data -----------------------------------------------------------------------------
    def load(self, split: str) -> list[Problem]:
        local = data_files.looks_local(self.data)
        if self.name == "humaneval":
            if split != "test":
                raise UsageError("humaneval has only a test split (train on mbpp)")
            rows = data_files.read_records(self.data) if local else data_files.load_hub_records(self.data, split)
            return [self._humaneval_problem(record, f"{self.data}:{line}") for line, record in rows]
        if split not in MBPP_SPLITS:
            raise UsageError(f"mbpp split must be one of {', '.join(MBPP_SPLITS)}, got {split!r}")
        if not local:
            return [self._mbpp_problem(r, f"{self.data}:{n}") for n, r in data_files.load_hub_records(self.data, split)]
        low, high = MBPP_SPLITS[split]
        problems = []
        for line, record in data_files.read_records(self.data):
            problem = self._mbpp_problem(record, f"{self.data}:{line}")
            if low <= problem.meta["task_id"] <= high:
                problems.append(problem)
        return problems

    def _humaneval_problem(self, record: dict, where: str) -> Problem:
        data_files.require_fields(record, ("task_id", "prompt", "entry_point", "test"), where)
        entry = record["entry_point"]
        return Problem(
            id=str(record["task_id"]), question=record["prompt"],
            answer=f"{record['test']}\n\ncheck({entry})\n",
            meta={"entry_point": entry, "prompt": record["prompt"],
                  "canonical_solution": record.get("canonical_solution", "")},
        )

    def _mbpp_problem(self, record: dict, where: str) -> Problem:
        text_field = "text" if "text" in record else "prompt"
        data_files.require_fields(record, ("task_id", text_field), where)
        tests = record.get("test_list")
        if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
            raise UsageError(f"{where}: test_list should be a list of assert lines")
        setup = record.get("test_setup_code") or "\n".join(record.get("test_imports") or [])
        try:
            task_id = int(record["task_id"])
        except ValueError:
            raise UsageError(f"{where}: task_id should be an integer") from None
        return Problem(
            id=f"mbpp/{task_id}", question=record[text_field],
            answer=(setup + "\n" if setup else "") + "\n".join(tests) + "\n",
            meta={"task_id": task_id, "tests": tests, "entry_point": tested_function(tests),
                  "code": record.get("code", "")},
        )

    # ---- prompts and answers ----------------------------------------------------------------
    def first_prompt(self, problem: Problem) -> str:
        if self.name == "humaneval":
            return HUMANEVAL_FIRST_PROMPT.format(question=problem.question)
        return MBPP_FIRST_PROMPT.format(question=problem.question, tests="\n".join(problem.meta["tests"]))

    def extract_answer(self, response: str) -> str | None:
        program = extract_program(response)
        return program or None

    def program_for(self, problem: Problem, response: str) -> str:
        """The full file run in the sandbox: (prompt,) the model's code, then the tests."""
        entry = problem.meta.get("entry_point")
        code = extract_program(response, entry)
        if self.name == "humaneval":
            defines_entry = re.search(rf"^def\s+{re.escape(entry)}\s*\(", code, re.MULTILINE)
            # A full function redefines the prompt's stub; a bare body completes the prompt.
            code = problem.meta["prompt"] + ("\n\n" + code if defines_entry else code)
        return f"{code}\n\n{problem.answer}"

    # ---- reward -----------------------------------------------------------------------------
    def verify(self, problem: Problem, response: str) -> float:
        return self.grade([problem], [response])[0]

    def grade(self, problems: list[Problem], responses: list[str]) -> list[float]:
        programs = [self.program_for(p, r) for p, r in zip(problems, responses, strict=True)]
        results = self.sandbox().run_many(programs)
        return [1.0 if result.passed else 0.0 for result in results]

    def sandbox(self):
        if self._sandbox is None:
            from selfcorrect_cli.tasks.sandbox import Sandbox

            self._sandbox = Sandbox(self.sandbox_cfg)
        return self._sandbox

    def reference_response(self, problem: Problem) -> str:
        """The dataset's own solution as a response (HumanEval: prompt + canonical body)."""
        if self.name == "humaneval":
            return problem.meta["prompt"] + problem.meta["canonical_solution"]
        return problem.meta["code"]
