"""The trace record and its JSONL file.

One line per trajectory:
    {"problem_id": "184/23", "sample_index": 0, "task": "division", "split": "test",
     "gold": "8", "turns": [{"prompt": "184/23", "response": "7:...,A7", "answer": "7",
     "reward": 0.0}, {"prompt": "check and retry", "response": "8:...,A8", "answer": "8",
     "reward": 1.0}], "sampling": {...}, "model": "runs/base/model", "seed": 0}
Turn t's `prompt` is the user message that asked for it: the problem for turn 1, the
correction instruction after that; with the earlier turns it gives the whole conversation.
A turn also has `kind`, why it is right or wrong (Task.mistake_kind: "right", "guess", ...),
where the task can tell; other tasks' turns have no such key.

The file only ever grows by whole lines (runs.append_jsonl); a line cut short by a crash is
dropped on the next read, so an interrupted collection leaves a valid file and resumes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from selfcorrect_cli.errors import UsageError


def trace_record(task, problem, sample_index: int, split: str, turns: list[dict],
                 sampling: dict, model: str, seed: int, extra: dict | None = None) -> dict:
    """The one trace record (the layout above); `extra` holds what a method adds (Self-Refine's
    critique), placed before the turns. Key order is the file's: keep it."""
    record = {"problem_id": problem.id, "sample_index": sample_index, "task": task.name,
              "split": split, "gold": problem.answer, **(extra or {})}
    record.update(turns=turns, sampling=sampling, model=model, seed=seed)
    return record


def trajectory_record(trajectory, task, split: str, sampling: dict, model: str, seed: int) -> dict:
    """The trace record of a rollout's trajectory: turn 1 asked by the problem, later turns by
    the task's correction instruction."""
    prompts = [task.first_prompt(trajectory.problem)]
    prompts += [task.correction_instruction] * (len(trajectory.attempts) - 1)
    turns = [turn_record(task, trajectory.problem, p, a.response, a.answer, a.reward)
             for p, a in zip(prompts, trajectory.attempts)]
    return trace_record(task, trajectory.problem, trajectory.sample_index, split, turns,
                        sampling, model, seed)


def turn_record(task, problem, prompt: str, response: str, answer: str | None,
                reward: float) -> dict:
    """One turn of a trace record, labelled with its mistake kind where the task gives one."""
    turn = {"prompt": prompt, "response": response, "answer": answer, "reward": reward}
    kind = task.mistake_kind(problem, response)
    if kind is not None:
        turn["kind"] = kind
    return turn


def trace_paths(spec: str) -> list[str]:
    """The files named by a `train.traces` value: comma-separated, spaces and blanks dropped.

    >>> trace_paths(" a/traces.jsonl, b/traces.jsonl,,")
    ['a/traces.jsonl', 'b/traces.jsonl']
    """
    return [path.strip() for path in spec.split(",") if path.strip()]


def read_trace_files(spec: str) -> list[dict]:
    """The records of every file that `spec` names (trace_paths), file by file."""
    records = []
    for path in trace_paths(spec):
        records += read_traces(Path(path))
    return records


def first_attempts(records: list[dict], split: str = "train") -> dict[str, list[str]]:
    """problem id -> the first attempts of the records of `split`, in record order; a record
    without a split counts as train (offline first attempts are the training split's).

    >>> first_attempts([{"problem_id": "6/3", "split": "train", "turns": [{"response": "A2"}]},
    ...                 {"problem_id": "6/3", "turns": [{"response": "A3"}]},
    ...                 {"problem_id": "8/2", "split": "test", "turns": [{"response": "A4"}]}])
    {'6/3': ['A2', 'A3']}
    """
    attempts: dict[str, list[str]] = {}
    for record in records:
        if record.get("split", "train") == split:
            attempts.setdefault(record["problem_id"], []).append(record["turns"][0]["response"])
    return attempts


def read_traces(path: Path, repair: bool = False) -> list[dict]:
    """All complete records. A final line cut short by a crash is ignored (and with
    `repair`, cut off the file so appends continue cleanly); a bad line elsewhere is an error."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"traces file not found: {path}")
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):  # the unterminated last line: an interrupted write
                if repair:
                    _truncate(path, len(raw) - len(line))
                break
            raise UsageError(f"{path}:{number}: malformed trace line (not JSON)") from None
    for number, record in enumerate(records, start=1):
        if "problem_id" not in record or not record.get("turns"):
            raise UsageError(f"{path}: record {number} has no problem_id or turns")
    return records


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(size)
        handle.flush()
        os.fsync(handle.fileno())
