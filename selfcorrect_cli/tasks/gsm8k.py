"""GSM8K (Cobbe et al. 2021): grade-school word problems whose answer is one number.

Data: the original JSONL rows {"question", "answer"} where the answer is a worked solution
ending in "#### N". `data` is one such file (its split is the file: test.jsonl or
train.jsonl, and a file named for the other split is refused) or a hub name such as
"openai/gsm8k:main" (split chosen by `load(split)`). Training names both files: task.data the
train file, task.eval_data the test file (tasks/held_out.py).

Grading is numeric: "$1,200.00" and "1200" are the same answer.
"""

from __future__ import annotations

import re
from fractions import Fraction

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.tasks import data_files
from selfcorrect_cli.tasks.answers import after_hashes, final_answer_statement, last_boxed
from selfcorrect_cli.tasks.base import Problem, Task
from selfcorrect_cli.tasks.prompts import GSM8K_FIRST_PROMPT, MATH_CORRECTION_INSTRUCTION

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")


def parse_number(text: str | None) -> Fraction | None:
    """The first number in `text` as an exact fraction; commas, $, % and units are ignored.

    >>> parse_number("$1,200.50 dollars"), parse_number("18.00"), parse_number("-3/4")
    (Fraction(2401, 2), Fraction(18, 1), Fraction(-3, 4))
    >>> parse_number("\\\\frac{3}{4}"), parse_number("no digits") is None
    (Fraction(3, 4), True)
    """
    if text is None:
        return None
    frac = re.search(r"(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}", text)
    if frac and int(frac.group(3)) != 0:
        return Fraction(int(frac.group(2)), int(frac.group(3))) * (-1 if frac.group(1) else 1)
    match = _NUMBER.search(text.replace("\\!", "").replace("{,}", ","))
    if match is None:
        return None
    number = match.group(0).replace(",", "")
    try:
        return Fraction(number)
    except (ValueError, ZeroDivisionError):
        return None


def last_number(text: str) -> str | None:
    """The last number written in `text` (the fallback when no answer is marked).

    >>> last_number("3 apples, then 1,250 more.")
    '1,250'
    """
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def extract_gsm8k_answer(response: str) -> str | None:
    """The final answer span: marked statement, "#### X", \\boxed{X}, else the last number.

    >>> extract_gsm8k_answer("So 18 in total. Final Answer: The final answer is $18$. I hope it is correct.")
    '18'
    >>> extract_gsm8k_answer("9 * 2 = 18\\n#### 18"), extract_gsm8k_answer("it is 7, not 8")
    ('18', '8')
    """
    for found in (final_answer_statement(response), after_hashes(response), last_boxed(response)):
        if found is not None and parse_number(found) is not None:
            return found
    return last_number(response)


def numbers_equal(gold: str, predicted: str | None) -> bool:
    """Exact numeric equality after parsing both sides.

    >>> numbers_equal("1200", "$1,200.00"), numbers_equal("5", "5.5"), numbers_equal("5", None)
    (True, False, False)
    """
    gold_value, predicted_value = parse_number(gold), parse_number(predicted)
    return gold_value is not None and gold_value == predicted_value


class GSM8KTask(Task):
    name = "gsm8k"
    correction_instruction = MATH_CORRECTION_INSTRUCTION

    def __init__(self, data: str):
        if not data:
            raise UsageError("task gsm8k needs task.data: a GSM8K JSONL file or a hub name")
        self.data = data

    def load(self, split: str) -> list[Problem]:
        if data_files.looks_local(self.data):
            data_files.refuse_other_split(self.data, split)
            rows, source = data_files.read_records(self.data), self.data
        else:
            rows, source = data_files.load_hub_records(self.data, split), self.data
        problems = []
        for line, record in rows:
            where = f"{source}:{line}"
            data_files.require_fields(record, ("question", "answer"), where)
            gold = after_hashes(record["answer"])
            if gold is None or parse_number(gold) is None:
                raise UsageError(f"{where}: answer has no '#### <number>' final line")
            problems.append(Problem(
                id=f"gsm8k/{line}", question=record["question"], answer=gold.replace(",", ""),
                meta={"solution": record["answer"]},
            ))
        return problems

    def first_prompt(self, problem: Problem) -> str:
        return GSM8K_FIRST_PROMPT.format(question=problem.question)

    def extract_answer(self, response: str) -> str | None:
        return extract_gsm8k_answer(response)

    def verify(self, problem: Problem, response: str) -> float:
        return 1.0 if numbers_equal(problem.answer, self.extract_answer(response)) else 0.0

    def reference_response(self, problem: Problem) -> str:
        """The dataset's own worked solution, which a correct grader must accept."""
        return problem.meta["solution"]
