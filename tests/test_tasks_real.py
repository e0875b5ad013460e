"""Real-benchmark tasks on tiny files written here in each dataset's original format."""

import gzip
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from selfcorrect_cli.config import ExperimentConfig, SandboxConfig
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.tasks import build_task
from selfcorrect_cli.tasks.check_references import check_references, format_reference_report
from selfcorrect_cli.tasks.code import CodeTask, extract_program
from selfcorrect_cli.tasks.competition_math import CompetitionMathTask, extract_math_answer
from selfcorrect_cli.tasks.gsm8k import GSM8KTask, extract_gsm8k_answer, numbers_equal
from selfcorrect_cli.tasks.math_equivalence import math_equal


def write_jsonl(path, rows, gz=False):
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return str(path)


GSM8K_ROWS = [
    {"question": "Ann has 3 apples and buys 2. How many?", "answer": "3 + 2 = <<3+2=5>>5\n#### 5"},
    {"question": "A house costs $80,000 plus $50,000.", "answer": "80,000+50,000=130,000\n#### 130,000"},
]
MATH500_ROWS = [
    {"problem": "What is $1/2 + 1/4$?", "solution": "It is $\\boxed{\\frac{3}{4}}$.",
     "answer": "\\frac34", "subject": "Algebra", "level": 1, "unique_id": "test/algebra/1.json"},
]
MATH_ROWS = [
    {"problem": "What is $1/2 + 1/4$?", "level": "Level 1", "type": "Algebra",
     "solution": "It is $\\boxed{\\frac{3}{4}}$.", "idx": 0},
    {"problem": "Solve $2x = 6$.", "level": "Level 1", "type": "Algebra",
     "solution": "So $x = \\boxed{3}$.", "idx": 1},
]
HUMANEVAL_ROWS = [
    {"task_id": "HumanEval/0", "prompt": "def add(a, b):\n    \"\"\"Sum.\"\"\"\n",
     "entry_point": "add", "canonical_solution": "    return a + b\n",
     "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n"},
]
MBPP_ROWS = [
    {"text": "Write a function to add.", "code": "def add(a, b):\r\n  return a + b",
     "task_id": tid, "test_setup_code": "", "test_list": ["assert add(1, 2) == 3"],
     "challenge_test_list": []}
    for tid in (5, 11, 600, 601)
]


# ---- GSM8K -------------------------------------------------------------------------------
@pytest.mark.parametrize("response, expected", [
    ("... Final Answer: The final answer is $1,200$. I hope it is correct.", "1,200"),
    ("work\n#### 42", "42"),
    ("so \\boxed{7} apples", "7"),
    ("first 3, then 4 and finally 9 dollars.", "9"),
    ("no numbers at all", None),
])
def test_gsm8k_extraction(response, expected):
    assert extract_gsm8k_answer(response) == expected


@pytest.mark.parametrize("gold, predicted, equal", [
    ("1200", "$1,200.00", True), ("18", "18 dollars", True), ("0.5", ".50", True),
    ("-3", "-3.0", True), ("5", "50", False), ("7", None, False),
])
def test_gsm8k_numeric_equivalence(gold, predicted, equal):
    assert numbers_equal(gold, predicted) is equal


def test_gsm8k_loads_and_grades(tmp_path):
    task = GSM8KTask(write_jsonl(tmp_path / "test.jsonl", GSM8K_ROWS))
    problems = task.load("test")
    assert [p.answer for p in problems] == ["5", "130000"]
    assert "Final Answer" in task.first_prompt(problems[0])
    assert task.grade(problems, ["The final answer is $5$. I hope it is correct.", "#### 130,001"]) == [1.0, 0.0]


def test_gsm8k_row_without_final_answer_names_file_and_line(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [GSM8K_ROWS[0], {"question": "q", "answer": "no marker"}])
    with pytest.raises(UsageError, match=r"bad.jsonl:2"):
        GSM8KTask(path).load("test")


def test_invalid_json_line_names_file_and_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(GSM8K_ROWS[0]) + "\n{not json\n")
    with pytest.raises(UsageError, match=r"broken.jsonl:2: not valid JSON"):
        GSM8KTask(str(path)).load("test")


def test_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        GSM8KTask(str(tmp_path / "absent.jsonl")).load("test")


# ---- MATH ----------------------------------------------------------------------------------
@pytest.mark.parametrize("response, expected", [
    ("Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.", "\\frac{3}{4}"),
    ("thus $\\boxed{\\frac{1}{\\sqrt{2}}}$, done", "\\frac{1}{\\sqrt{2}}"),
    ("first \\boxed{1} then \\boxed{2}", "2"),
    ("The final answer is positive, as shown.\nSo $\\boxed{5}$.", "5"),
    ("Therefore\n$x = 3$", "x = 3"),
])
def test_math_extraction(response, expected):
    assert extract_math_answer(response) == expected


@pytest.mark.parametrize("gold, predicted, equal", [
    ("\\frac34", "0.75", True), ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})", True),
    ("5\\sqrt{2}", "\\sqrt{50}", True), ("\\text{(C)}", "C", True), ("3", "4", False),
    ("\\frac{1}{2}", None, False), ("2", "", False),
])
def test_math_equivalence(gold, predicted, equal):
    assert math_equal(gold, predicted) is equal


def test_math_equivalence_in_a_worker_thread():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:  # math-verify's own alarms would raise here
        assert pool.submit(math_equal, "\\frac12", "0.5").result() is True


def test_math_equivalence_timeout_counts_as_wrong(monkeypatch):
    import time

    from selfcorrect_cli.tasks import math_equivalence

    monkeypatch.setattr(math_equivalence, "_parse_and_verify", lambda g, p: time.sleep(5) or True)
    start = time.monotonic()
    assert math_equivalence.math_equal("1", "2", timeout_s=0.2) is False
    assert time.monotonic() - start < 2


def test_math500_and_math_files_load(tmp_path):
    math500 = write_jsonl(tmp_path / "math500.jsonl", MATH500_ROWS)
    full = write_jsonl(tmp_path / "math_test.jsonl.gz", MATH_ROWS, gz=True)
    (problem,) = CompetitionMathTask(math500, name="math500").load("test")
    assert problem.id == "test/algebra/1.json" and problem.answer == "\\frac34"
    assert [p.answer for p in CompetitionMathTask(full).load("test")] == ["\\frac{3}{4}", "3"]
    train = CompetitionMathTask(full, exclude=math500).load("train")
    assert [p.question for p in train] == ["Solve $2x = 6$."]


def test_math_train_split_of_a_test_file_needs_exclude(tmp_path):
    full = write_jsonl(tmp_path / "math_test.jsonl", MATH_ROWS)
    with pytest.raises(UsageError, match="task.exclude"):
        CompetitionMathTask(full).load("train")


def test_math_row_without_answer_or_box_names_file_and_line(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [{"problem": "p", "solution": "no box"}])
    with pytest.raises(UsageError, match=r"m.jsonl:1"):
        CompetitionMathTask(path).load("test")


# ---- code ------------------------------------------------------------------------------------
def test_extract_program_prefers_block_defining_the_function():
    response = "Usage:\n```python\nprint(add(1, 2))\n```\nCode:\n```python\ndef add(a, b):\n    return a + b\n```"
    assert extract_program(response, "add").startswith("def add")


def code_task(name, path):
    return CodeTask(name, path, SandboxConfig(timeout_s=3, workers=2, memory_mb=256))


def test_humaneval_grades_full_functions_bodies_and_wrong_code(tmp_path):
    task = code_task("humaneval", write_jsonl(tmp_path / "HumanEval.jsonl.gz", HUMANEVAL_ROWS, gz=True))
    problems = task.load("test") * 3
    responses = ["```python\ndef add(a, b):\n    return a + b\n```",  # full function
                 "    return a + b\n",                                 # body completing the prompt
                 "```python\ndef add(a, b):\n    return a - b\n```"]   # wrong
    assert task.grade(problems, responses) == [1.0, 1.0, 0.0]


def test_mbpp_splits_by_task_id_and_grades(tmp_path):
    task = code_task("mbpp", write_jsonl(tmp_path / "mbpp.jsonl", MBPP_ROWS))
    assert [p.id for p in task.load("test")] == ["mbpp/11"]
    assert [p.id for p in task.load("validation")] == ["mbpp/600"]
    assert [p.id for p in task.load("train")] == ["mbpp/601"]
    (problem,) = task.load("test")
    assert "assert add(1, 2) == 3" in task.first_prompt(problem)
    assert task.grade([problem, problem], ["def add(a, b):\n    return a + b", "def add(a, b): return 0"]) == [1.0, 0.0]


def test_mbpp_sanitized_json_loads(tmp_path):
    rows = [{"source_file": "x", "task_id": 11, "prompt": "Add.", "code": "def add(a, b): return a + b",
             "test_imports": ["import math"], "test_list": ["assert add(1, 2) == 3"]}]
    path = tmp_path / "sanitized-mbpp.json"
    path.write_text(json.dumps(rows))
    (problem,) = code_task("mbpp", str(path)).load("test")
    assert problem.answer.startswith("import math\n")


def test_mbpp_malformed_tests_name_file_and_line(tmp_path):
    path = write_jsonl(tmp_path / "mbpp.jsonl", [MBPP_ROWS[0], {**MBPP_ROWS[1], "test_list": "assert x"}])
    with pytest.raises(UsageError, match=r"mbpp.jsonl:2"):
        code_task("mbpp", path).load("test")


# ---- references and factory ------------------------------------------------------------------
def test_check_references_on_every_task(tmp_path):
    tasks = [
        (GSM8KTask(write_jsonl(tmp_path / "g.jsonl", GSM8K_ROWS)), "test", 2),
        (CompetitionMathTask(write_jsonl(tmp_path / "m5.jsonl", MATH500_ROWS), name="math500"), "test", 1),
        (code_task("humaneval", write_jsonl(tmp_path / "h.jsonl", HUMANEVAL_ROWS)), "test", 1),
        (code_task("mbpp", write_jsonl(tmp_path / "mb.jsonl", MBPP_ROWS)), "train", 1),
    ]
    for task, split, total in tasks:
        assert check_references(task, split) == (total, total, [])


def test_reference_report_lists_failures(tmp_path):
    # The solution states 5 in the paper's form, which extraction prefers over "#### 4".
    rows = [GSM8K_ROWS[0], {"question": "q", "answer": "Final Answer: The final answer is $5$.\n#### 4"}]
    task = GSM8KTask(write_jsonl(tmp_path / "g.jsonl", rows))
    n, total, failures = check_references(task, "test")
    assert (n, total) == (1, 2) and failures[0].problem_id == "gsm8k/2" and failures[0].extracted == "5"
    report = format_reference_report("gsm8k", "test", n, total, failures)
    assert report.startswith("gsm8k test: 1/2") and "gsm8k/2: gold '4', extracted '5'" in report


@pytest.mark.parametrize("name, cls", [("gsm8k", GSM8KTask), ("math", CompetitionMathTask),
                                        ("math500", CompetitionMathTask), ("humaneval", CodeTask),
                                        ("mbpp", CodeTask)])
def test_build_task_knows_the_real_tasks(name, cls):
    cfg = ExperimentConfig()
    cfg.task = SimpleNamespace(name=name, data="some/file.jsonl", split="test", limit=0, exclude="")
    task = build_task(cfg)
    assert isinstance(task, cls) and task.name == name


REAL_RECIPES = sorted(Path(__file__).resolve().parent.parent.glob("experiments/real/*.yaml"))


@pytest.mark.parametrize("recipe", REAL_RECIPES, ids=lambda path: path.name)
def test_real_recipes_match_the_config(recipe):
    from selfcorrect_cli.config import load_config

    cfg = load_config(str(recipe))
    assert cfg.task.name in ("gsm8k", "math", "math500", "humaneval", "mbpp")
    if cfg.task.split == "train":  # a training recipe names its held-out file (held_out.py)
        assert cfg.task.eval_data
