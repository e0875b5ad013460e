"""The cost of a study seed, stage by stage, from the timing.json of its run directories
(io/timing.py), and what that predicts for more cores.

A stage is a run directory's path under its seed directory ("base", "sft/traces",
"rl/score", "rl/score/eval", ...). Every stage of a seed waits for the one it starts from
(`stage_parent`), so one seed's stages form a tree; its longest root-to-leaf chain bounds the
study's wall time however many cores it gets, and the total process time divided by the cores
bounds it from the other side. The prediction is the larger of the two: it assumes make keeps
every core busy until the chains run out, which a jobserver does when there are many seeds.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from statistics import mean

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.method_registry import RL, names
from selfcorrect_cli.report.tables import markdown_table

# Stage II of these starts from the seed's SCoRe run's Stage I (Makefile, SHARED_STAGE1).
SHARED_STAGE1 = {f"{RL}/{name}" for name in names(RL, "shared-stage1")}


def stage_parent(stage: str) -> str | None:
    """The stage whose output `stage` starts from (None for the base model).

    >>> [stage_parent(s) for s in ("base", "eval/base-t1", "sft/traces", "sft/pair-d",
    ...                            "sft/pair-d/eval", "rl/no-shaping", "rl/score")]
    [None, 'base', 'base', 'sft/traces', 'sft/pair-d', 'rl/score', 'sft/traces']
    >>> stage_parent("mismatch-exp/other/star-dplus"), stage_parent("mismatch-exp/own")
    ('sft/traces', 'rl/score')
    """
    if stage == "base":
        return None
    if stage.endswith("/eval"):
        return stage[: -len("/eval")]
    if stage in SHARED_STAGE1 or stage == "mismatch-exp/own":  # own: SFT models and SCoRe
        return "rl/score"
    if stage.startswith(("rl/", "sft/", "mismatch-exp/")) and stage not in (
            "sft/traces", "sft/self-refine"):
        return "sft/traces"
    return "base"


def read_costs(runs: str | Path, seeds: list) -> dict[str, dict[str, dict]]:
    """{seed: {stage: timing record}} for every timing record under each seed's directory."""
    costs = {}
    for seed in seeds:
        root = Path(runs) / f"seed{seed}"
        records = {}
        for path in sorted(root.rglob("*timing.json")):
            stage = path.parent.relative_to(root).as_posix()
            if path.name != "timing.json":  # beside an output file: own.timing.json
                stage += "/" + path.name[: -len(".timing.json")]
            try:
                records[stage] = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise UsageError(f"{path}: unreadable timing record ({exc})") from None
        costs[str(seed)] = records
    if not any(costs.values()):
        raise UsageError(f"no timing.json under {runs}/seed*/ for seeds {seeds}; "
                         "they are written by runs of this version")
    return costs


def longest_chain(stages: dict[str, float]) -> tuple[float, list[str]]:
    """The costliest root-to-leaf path through the stage tree: (seconds, stages in order).

    >>> longest_chain({"base": 10, "sft/traces": 2, "rl/score": 30, "rl/score/eval": 3,
    ...                "eval/base-t1": 5})
    (45, ['base', 'sft/traces', 'rl/score', 'rl/score/eval'])
    """
    best = (0.0, [])
    for stage in stages:
        chain, at = [], stage
        while at is not None:
            chain.append(at)
            at = stage_parent(at)
        total = sum(stages.get(s, 0.0) for s in chain)
        if total > best[0]:
            best = (total, chain[::-1])
    return best


def predicted_wall(total: float, chain: float, cores: int) -> float:
    """The larger of the two bounds: total work over the cores, and the longest chain.

    >>> predicted_wall(1000, 120, 2), predicted_wall(1000, 120, 16)
    (500.0, 120)
    """
    return max(total / cores, chain)


def cost_section(costs: dict[str, dict[str, dict]], cores=(1, 2, 8, 16, 64)) -> str:
    """Markdown: process-minutes per stage per seed, the seed's total and longest chain, and the
    predicted wall time of the whole study (all seeds) on each core count."""
    by_stage = defaultdict(list)
    for records in costs.values():
        for stage, record in records.items():
            by_stage[stage].append(record["process_s"])
    seeds_with = [seed for seed, records in costs.items() if records]
    rows = [[stage, len(values), f"{mean(values) / 60:.2f}", f"{sum(values) / 60:.1f}"]
            for stage, values in sorted(by_stage.items(), key=lambda kv: -mean(kv[1]))]
    total = sum(sum(values) for values in by_stage.values())
    per_seed = {stage: mean(values) for stage, values in by_stage.items()}
    chain, path = longest_chain(per_seed)
    rows.append(["**all stages**", len(seeds_with),
                 f"{sum(per_seed.values()) / 60:.2f}", f"{total / 60:.1f}"])
    lines = ["Process time (user + system CPU) of each stage's command, one thread each, from "
             "the timing.json of every run directory.", "",
             markdown_table(["stage", "seeds", "process-min per seed", "process-min, all seeds"],
                            rows), "",
             f"Longest chain of one seed: {' -> '.join(path)}, {chain / 60:.1f} process-minutes.",
             "", "Predicted wall time of these runs (the larger of total / cores and the longest "
             "chain; report, findings and the seed-0 extras not included):", ""]
    table = [[n, f"{wall / 60:.1f}", "longest chain" if wall == chain else "total work"]
             for n in cores for wall in (predicted_wall(total, chain, n),)]
    lines.append(markdown_table(["cores", "predicted wall (min)", "bound by"], table))
    return "\n".join(lines) + "\n"
