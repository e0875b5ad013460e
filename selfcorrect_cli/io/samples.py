"""Sample conversations: what the model wrote at each periodic evaluation, kept for a person.

Curves show reward hacking and collapse late; the text shows them early. Every periodic
evaluation of an RL run (score.eval_every), and every SFT round, appends a fixed, seeded
handful of its held-out conversations (score.sample_conversations) to <run>/samples.jsonl,
one line each:
    {"step": 49, "problem": {"id": "184/23", "question": "184/23", "answer": "8"},
     "attempts": [{"response": "7:...,A7", "answer": "7", "reward": 0.0, "kind": "guess"},
                  {"response": "8:...,A8", "answer": "8", "reward": 1.0, "kind": "right"}],
     "answer_changed": true}
`step` is the training step of the evaluation, as in train_log.jsonl (SCoRe), or the round
(STaR, Pair-SFT: 1, 2, ...). `kind` is the task's label of the attempt (Task.mistake_kind),
null where the task cannot tell. The same conversations also go to run.report_to's trackers:
a TensorBoard text summary and a W&B table per evaluation. `selfcorrect samples RUN` prints
them.

Like the training log, the file only grows by whole lines; an evaluation first drops the
lines of its own step and later ones, so a run resumed from a checkpoint rewrites the
evaluations after it instead of repeating them.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.run_dir import append_jsonl, write_atomic

SAMPLES = "samples.jsonl"
TAG = "samples"
"""The TensorBoard text tag and the W&B table name."""


def pick(items: list, count: int, seed: int) -> list:
    """`count` of `items` chosen by `seed` alone, kept in their order: the same handful at
    every evaluation of a run, and in every run with the same seed and held-out set.

    >>> pick(list("abcdefgh"), 3, seed=0), pick(list("ab"), 3, seed=0)
    (['d', 'g', 'h'], ['a', 'b'])
    """
    chosen = random.Random(seed).sample(range(len(items)), min(count, len(items)))
    return [items[index] for index in sorted(chosen)]


def sample_record(step: int, task, trajectory) -> dict:
    """One conversation of a rollout (rollout/generation.py's Trajectory) as a samples line."""
    problem = trajectory.problem
    attempts = [{"response": a.response, "answer": a.answer, "reward": a.reward,
                 "kind": task.mistake_kind(problem, a.response)} for a in trajectory.attempts]
    return {"step": step,
            "problem": {"id": problem.id, "question": problem.question, "answer": problem.answer},
            "attempts": attempts,
            "answer_changed": attempts[0]["answer"] != attempts[-1]["answer"]}


@dataclass
class SampleLog:
    """Where one evaluation's conversations go: <run_dir>/samples.jsonl at `step`, and the
    started run.report_to trackers (accelerate's), if any."""

    run_dir: Path
    step: int
    trackers: list = field(default_factory=list)

    def write(self, task, trajectories: list) -> list[dict]:
        """Write these conversations (already picked) at this step; returns their records."""
        records = [sample_record(self.step, task, t) for t in trajectories]
        path = Path(self.run_dir) / SAMPLES
        if path.exists():
            kept = _lines_before(path, self.step)
            if kept != path.read_text():
                write_atomic(path, kept)  # a resumed run: this step and later ones are redone
        append_jsonl(path, records)
        log_to_trackers(self.trackers, self.step, records)
        return records


def _lines_before(path: Path, step: int) -> str:
    return "".join(line + "\n" for line, row in _rows(path) if row["step"] < step)


def _rows(path: Path):
    """(line, parsed row) of each whole line."""
    for line in path.read_text().splitlines():
        try:
            yield line, json.loads(line)
        except json.JSONDecodeError:  # only the last line can be cut, by a crash mid-append
            continue


def log_to_trackers(trackers: list, step: int, records: list[dict]) -> None:
    """TensorBoard: one text summary of every conversation (a Markdown code block keeps the
    layout); W&B: one table, a row per conversation."""
    for tracker in trackers:
        if tracker.name == "tensorboard":  # accelerate writes a str value as a text summary
            text = "\n\n".join(conversation_text(r) for r in records)
            tracker.log({TAG: "\n".join("    " + line for line in text.splitlines())}, step=step)
        elif tracker.name == "wandb":
            columns, rows = sample_table(records)
            tracker.log_table(TAG, columns=columns, data=rows, step=step)


def sample_table(records: list[dict]) -> tuple[list[str], list[list]]:
    """Columns and rows of a samples table: the problem, then text, answer, reward and kind
    of each attempt, then whether the answer changed.

    >>> record = {"step": 3, "problem": {"id": "6/3", "question": "6/3", "answer": "2"},
    ...           "attempts": [{"response": "A1", "answer": "1", "reward": 0.0, "kind": None},
    ...                        {"response": "A2", "answer": "2", "reward": 1.0, "kind": "right"}],
    ...           "answer_changed": True}
    >>> columns, rows = sample_table([record])
    >>> list(zip(columns, rows[0]))[3:8]
    [('gold', '2'), ('attempt_1', 'A1'), ('answer_1', '1'), ('reward_1', 0.0), ('kind_1', None)]
    """
    turns = max(len(r["attempts"]) for r in records)
    columns = ["step", "problem_id", "question", "gold"]
    for t in range(1, turns + 1):
        columns += [f"attempt_{t}", f"answer_{t}", f"reward_{t}", f"kind_{t}"]
    columns.append("answer_changed")
    rows = []
    for r in records:
        row = [r["step"], r["problem"]["id"], r["problem"]["question"], r["problem"]["answer"]]
        for t in range(turns):
            a = r["attempts"][t] if t < len(r["attempts"]) else {}
            row += [a.get("response"), a.get("answer"), a.get("reward"), a.get("kind")]
        rows.append(row + [r["answer_changed"]])
    return columns, rows


def read_samples(run_dir: str | Path) -> list[dict]:
    """Every conversation in <run_dir>/samples.jsonl (a last line cut by a crash is skipped)."""
    path = Path(run_dir) / SAMPLES
    if not path.is_file():
        raise UsageError(f"no {SAMPLES} in {run_dir}: RL runs write it at each periodic "
                         f"evaluation (score.eval_every), SFT runs after each round, unless "
                         f"score.sample_conversations=0")
    return [row for _, row in _rows(path)]


def plain_mark(right: bool) -> str:
    return "right" if right else "WRONG"


def conversation_text(record: dict, mark=plain_mark) -> str:
    """A conversation as text to read: the problem, then each attempt marked right or wrong
    (`mark` may colour the word), with its answer, the task's label and the text written.

    >>> record = {"step": 3, "problem": {"id": "6/3", "question": "6/3", "answer": "2"},
    ...           "attempts": [{"response": "A1", "answer": "1", "reward": 0.0, "kind": "guess"},
    ...                        {"response": "A2", "answer": "2", "reward": 1.0, "kind": "right"}],
    ...           "answer_changed": True}
    >>> print(conversation_text(record))
    problem 6/3 (gold 2), step 3, answer changed
      question: 6/3
      attempt 1: WRONG, answer 1, kind guess
        | A1
      attempt 2: right, answer 2
        | A2
    """
    problem = record["problem"]
    changed = "answer changed" if record["answer_changed"] else "answer kept"
    lines = [f"problem {problem['id']} (gold {problem['answer']}), step {record['step']}, "
             f"{changed}"]
    lines.append("  question: " + "\n            ".join(problem["question"].splitlines()))
    for number, attempt in enumerate(record["attempts"], start=1):
        kind = attempt.get("kind")
        label = f", kind {kind}" if kind not in (None, "right") else ""
        answer = "none found" if attempt["answer"] is None else attempt["answer"]
        lines.append(f"  attempt {number}: {mark(attempt['reward'] > 0.5)}, "
                     f"answer {answer}{label}")
        text = [f"    | {line}" for line in (attempt["response"] or "").splitlines()]
        lines += text or ["    (wrote nothing)"]
    return "\n".join(lines)


def show_samples(run_dir: str | Path, step: int | None = None, changed_only: bool = False,
                 mark=plain_mark) -> str:
    """The conversations of one evaluation (`step`, default the latest) as text, under a line
    that counts what they show; `changed_only` keeps those whose answer changed."""
    records = read_samples(run_dir)
    steps = sorted({r["step"] for r in records})
    if not steps:
        raise UsageError(f"{Path(run_dir) / SAMPLES} holds no conversation yet")
    step = steps[-1] if step is None else step
    if step not in steps:
        raise UsageError(f"no samples at step {step} in {run_dir}; steps with samples: "
                         f"{', '.join(map(str, steps))}")
    shown = [r for r in records if r["step"] == step]
    right = [sum(a["reward"] > 0.5 for a in attempts)
             for attempts in zip(*(r["attempts"] for r in shown))]
    changed = sum(r["answer_changed"] for r in shown)
    head = (f"{Path(run_dir) / SAMPLES}: step {step} (steps with samples: "
            f"{', '.join(map(str, steps))}); {len(shown)} conversations, right at each attempt: "
            f"{', '.join(map(str, right))}; answer changed in {changed}")
    if changed_only:
        shown = [r for r in shown if r["answer_changed"]]
        head += ", shown below" if shown else ", so none is shown"
    return "\n\n".join([head, *(conversation_text(r, mark) for r in shown)])
