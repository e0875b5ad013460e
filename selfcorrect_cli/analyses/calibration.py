"""The built-in world's calibration table: base-model statistics per candidate world.

The default world is chosen from these numbers alone, before any method is trained on it
(docs/built-in-world.md states the rule). A candidate is a run tree whose seed folders hold
the base model's greedy and T=1 evaluations (the Makefile's `sweep-base-c<c>-s<s>` targets).
Besides the paper's metrics it measures the written check itself: how often the verdict a base
first attempt states is the truth, and P(right | the verdict says wrong), the quantity that
decides whether changing a "wrong-looking" answer pays.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import yaml

from selfcorrect_cli.config import WorldConfig
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.traces import read_traces
from selfcorrect_cli.tasks.division import (
    DivisionTask,
    solve_like_pretraining_solver,
    stated_verdict,
    true_verdict,
)


def verdict_statistics(traces: list[dict]) -> dict[str, float | None]:
    """From first attempts: the share whose stated verdict is the truth, and the share of
    right ones among those whose verdict says LOW or HIGH (None if there are none).

    >>> t = lambda r, g: {"gold": g, "turns": [{"response": r, "answer": r.rsplit("A", 1)[1]}]}
    >>> verdict_statistics([t("8:x,OK,A8", "8"), t("7:x,OK,A7", "8"), t("8:x,HIGH,A8", "8"),
    ...                     t("7:x,LOW,A7", "8")])
    {'verdict_right': 0.5, 'right_given_looks_wrong': 0.5, 'verdict_stated': 1.0}
    """
    stated = right = looks_wrong = right_and_looks_wrong = 0
    for record in traces:
        first = record["turns"][0]
        verdict = stated_verdict(first["response"])
        if verdict is None or first["answer"] is None:
            continue
        stated += 1
        guess, gold = int(first["answer"]), int(record["gold"])
        right += verdict == true_verdict(guess, gold)
        if verdict != "OK":
            looks_wrong += 1
            right_and_looks_wrong += guess == gold
    return {
        "verdict_right": right / stated if stated else None,
        "right_given_looks_wrong": right_and_looks_wrong / looks_wrong if looks_wrong else None,
        "verdict_stated": stated / len(traces) if traces else None,
    }


def calibration_rows(candidates: list[tuple[str, str]], seed: int = 0) -> list[dict]:
    """One row per candidate tree: its world knobs (from the base model's config) and the
    base statistics of seed `seed`."""
    rows = []
    for label, root in candidates:
        seed_dir = Path(root) / f"seed{seed}"
        world = _world_of(seed_dir / "base" / "config.yaml")
        greedy = _metrics(seed_dir / "eval" / "base-greedy")
        sampled = _metrics(seed_dir / "eval" / "base-t1")
        traces = read_traces(seed_dir / "eval" / "base-t1" / "traces.jsonl")
        rows.append({
            "cell": label, "c": world.get("copy_propensity"), "s": world.get("check_slip"),
            "greedy_acc_t1": greedy["acc_t1"], "greedy_changed": greedy["answer_changed_frac"],
            **{f"t1_{key}": sampled[key] for key in
               ("acc_t1", "acc_t2", "delta", "delta_i2c", "delta_c2i", "answer_changed_frac")},
            **verdict_statistics(traces),
        })
    return rows


def _metrics(run_dir: Path) -> dict:
    path = run_dir / "metrics.json"
    if not path.is_file():
        raise UsageError(f"calibration: no metrics.json in {run_dir} (run the base evaluations)")
    return json.loads(path.read_text())


def _world_of(config_path: Path) -> dict:
    if not config_path.is_file():
        raise UsageError(f"calibration: no base-model config at {config_path}")
    return (yaml.safe_load(config_path.read_text()) or {}).get("world", {})


def solver_check_quality(slips=(0, 0.1, 0.25, 0.4), attempts: int = 40000,
                         seed: int = 0) -> list[dict]:
    """The written check's quality in the data itself, no model involved: for each check slip
    s, the pretraining solver's accuracy, how often its stated verdict is the truth, and
    P(right | the verdict says LOW or HIGH), over `attempts` attempts on training problems."""
    rows = []
    for slip in slips:
        world = WorldConfig(check_slip=slip)
        problems, rng = DivisionTask(world).load("train"), random.Random(seed)
        records = []
        for _ in range(attempts):
            a, b = map(int, rng.choice(problems).id.split("/"))
            response = solve_like_pretraining_solver(a, b, world, rng)
            answer = response.rsplit("A", 1)[1]
            records.append({"gold": str(a // b), "turns": [{"response": response, "answer": answer}]})
        accuracy = sum(r["turns"][0]["answer"] == r["gold"] for r in records) / attempts
        rows.append({"s": slip, "solver_accuracy": accuracy, **verdict_statistics(records)})
    return rows
