"""Metrics files to tables: Markdown for people, CSV for tools."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from selfcorrect_cli.io.read import read_json
from selfcorrect_cli.io.run_dir import write_atomic

COLUMNS = [("Acc@t1", "acc_t1"), ("Acc@t2", "acc_t2"), ("Delta(t1,t2)", "delta"),
           ("Delta i->c", "delta_i2c"), ("Delta c->i", "delta_c2i")]


def load_metrics(run_dir: str | Path) -> dict:
    return read_json(Path(run_dir) / "metrics.json", "run `selfcorrect eval` there first")


def _cell(metrics: dict, key: str) -> str:
    value = 100 * metrics[key]
    low, high = (100 * x for x in metrics[f"{key}_ci"])
    return f"{value:.1f} [{low:.1f}, {high:.1f}]"


def metrics_table(rows: list[tuple[str, dict]], title: str = "") -> str:
    """Markdown table, one row per (label, metrics); percentages with 95% bootstrap CIs."""
    header = ["run", *(name for name, _ in COLUMNS), "answer changed", "edit ratio", "n"]
    lines = [f"## {title}\n" if title else "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    for label, m in rows:
        cells = [label, *(_cell(m, key) for _, key in COLUMNS),
                 f"{100 * m['answer_changed_frac']:.1f}", f"{m['edit_distance_ratio_mean']:.3f}",
                 str(m["n_trajectories"])]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("\nPercent of all problems; brackets: 95% bootstrap CI over problems. "
                 "answer changed: % of second attempts whose final answer differs from the first.")
    return "\n".join(line for line in lines if line != "") + "\n"


def metrics_csv(rows: list[tuple[str, dict]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    keys = [key for _, key in COLUMNS]
    writer.writerow(["run", *keys, *(f"{k}_ci_low" for k in keys), *(f"{k}_ci_high" for k in keys),
                     "answer_changed_frac", "edit_distance_ratio_mean", "n_trajectories"])
    for label, m in rows:
        writer.writerow([label, *(m[k] for k in keys), *(m[f"{k}_ci"][0] for k in keys),
                         *(m[f"{k}_ci"][1] for k in keys), m["answer_changed_frac"],
                         m["edit_distance_ratio_mean"], m["n_trajectories"]])
    return buffer.getvalue()


def write_table(rows: list[tuple[str, dict]], out: Path, title: str = "") -> None:
    """Write `out` (Markdown) and the same table as CSV beside it."""
    out = Path(out)
    write_atomic(out, metrics_table(rows, title))
    write_atomic(out.with_suffix(".csv"), metrics_csv(rows))
