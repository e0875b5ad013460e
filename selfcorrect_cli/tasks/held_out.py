"""Training never sees its held-out problems: where both sets come from, and the overlap check.

A training run takes its problems from split "train" of `task.data` (minus `task.exclude`) and
holds out split `task.eval_split` of `task.eval_data`: SCoRe's periodic evaluation runs on
them, and no training run (SCoRe and its ablations, STaR, Pair-SFT) may train on one of them.

Training on a local file names the held-out file explicitly, because most local files cannot
tell their splits apart: a GSM8K file is one split whatever split is asked, and the MATH
training pool (MATH test minus MATH500) is a test file that only `exclude` separates from the
evaluation set. (An MBPP file can, by task id; it is then named twice.) A hub dataset may
leave `eval_data` empty: its train and test splits are separate sets. The built-in division
world holds out its test split by a fixed hash, as before.

Two problems are the same when their questions match after collapsing whitespace and case:
copies of a benchmark differ in line breaks and spacing far more often than in wording.
"""

from __future__ import annotations

import copy

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.traces import read_trace_files
from selfcorrect_cli.tasks import build_task, data_files
from selfcorrect_cli.tasks.base import Problem, Task

_HOW_TO_FIX = "hold out a disjoint set (task.eval_data, task.eval_split or task.exclude)"


def question_key(text: str) -> str:
    """A problem's text as compared across sets: whitespace collapsed, case folded.

    >>> question_key("  Find $X$.\\n\\nThen  stop. ")
    'find $x$. then stop.'
    """
    return " ".join(text.split()).casefold()


def overlap(training: list[str], held_out: list[str]) -> list[int]:
    """Positions of the held-out texts that are also training texts (by `question_key`).

    >>> overlap(["What is 2+2?", "Name 3 primes."], ["what is 2 + 2?", "WHAT IS  2+2?"])
    [1]
    """
    seen = {question_key(text) for text in training}
    return [index for index, text in enumerate(held_out) if question_key(text) in seen]


def refuse_overlap(training: list[str], held_out: list[Problem], sets: str,
                   text=lambda problem: problem.question) -> None:
    """Raise a one-line UsageError when `text` of any held-out problem is also a training text.

    >>> refuse_overlap(["Add 2 and 2."], [Problem("b/1", "Add 3 and 4.", "7")], "a and b")
    >>> refuse_overlap(["Add 2 and 2."], [Problem("b/1", "add 2\\nand 2.", "4"),
    ...                                   Problem("b/2", "Add 3 and 4.", "7")], "a and b")
    Traceback (most recent call last):
    ...
    selfcorrect_cli.errors.UsageError: a and b share 1 of the 2 held-out problems, e.g. 'add 2 and 2.'; hold out a disjoint set (task.eval_data, task.eval_split or task.exclude)
    """
    shared = overlap(training, [text(problem) for problem in held_out])
    if shared:
        example = question_key(held_out[shared[0]].question)
        example = example if len(example) <= 80 else example[:77] + "..."
        raise UsageError(f"{sets} share {len(shared)} of the {len(held_out)} held-out problems, "
                         f"e.g. {example!r}; {_HOW_TO_FIX}")


def training_and_held_out(cfg) -> tuple[Task, list[Problem], list[Problem]]:
    """(task, training problems, held-out problems) of a training run, refused if they overlap.

    The task grades both sets: the held-out problems come from other data of the same task.
    """
    task = build_task(cfg)
    held_out = held_out_problems(cfg, task)
    training = task.load("train")
    refuse_overlap([p.question for p in training], held_out,
                   f"the training set ({_training_source(cfg)}) and the held-out set "
                   f"({_held_out_source(cfg)})")
    return task, training, held_out


def refuse_held_out_sft_data(cfg) -> None:
    """STaR trains on what it collects on split train, Pair-SFT (and STaR's first round, given
    train.traces) on the traces' problems: refuse either when it holds a held-out problem."""
    task = build_task(cfg)
    held_out = held_out_problems(cfg, task)
    held_out_source = f"the held-out set ({_held_out_source(cfg)})"
    if cfg.train.method == "star":
        refuse_overlap([p.question for p in task.load("train")], held_out,
                       f"the training set ({_training_source(cfg)}) and {held_out_source}")
    if cfg.train.traces:
        # A trace keeps the prompt the model saw, not the bare question: compare prompts.
        prompts = [record["turns"][0].get("prompt", "")
                   for record in read_trace_files(cfg.train.traces)]
        refuse_overlap(prompts, held_out, f"train.traces ({cfg.train.traces}) and "
                       f"{held_out_source}", text=task.first_prompt)


def held_out_problems(cfg, task: Task) -> list[Problem]:
    """Split `task.eval_split` of `task.eval_data` (default: `task.data`), never excluded:
    `task.exclude` names what training leaves out, typically the held-out set itself."""
    settings = cfg.task
    if settings.data and data_files.looks_local(settings.data) and not settings.eval_data:
        raise UsageError(
            f"training on the local file {settings.data} needs task.eval_data, the file of "
            "held-out problems (a local file is one split; for mbpp it may be the same file)")
    if not settings.eval_data and not settings.exclude:
        return task.load(settings.eval_split)  # the same data: reuse the task's loaded splits
    held_out_cfg = copy.copy(cfg)
    held_out_cfg.task = copy.copy(settings)
    held_out_cfg.task.data = settings.eval_data or settings.data
    held_out_cfg.task.exclude = ""
    return build_task(held_out_cfg).load(settings.eval_split)


def _training_source(cfg) -> str:
    settings = cfg.task
    source = f"split train of {settings.data or settings.name}"
    return source + (f" minus {settings.exclude}" if settings.exclude else "")


def _held_out_source(cfg) -> str:
    settings = cfg.task
    return f"split {settings.eval_split} of {settings.eval_data or settings.data or settings.name}"
