"""The study's tables: one row per method, mean over seeds with a 95% CI, the paper beside.

A row's runs are the metrics.json of each seed. With several seeds a cell is the mean and a
Student t-interval across seeds; with one run (the base model, Self-Refine) it is that run's
bootstrap CI over problems. The table says which, per row, in its `seeds` column.
"""

from __future__ import annotations

import csv
import io

from selfcorrect_cli.report.findings import Estimate, aggregate
from selfcorrect_cli.report.score_report import PAPER
from selfcorrect_cli.report.sft_report import PAPER_TABLE1

# Paper numbers (percent: Acc@t1, Acc@t2, Delta, i->c, c->i) by the spec's `paper:` name.
PAPERS = {"table1": PAPER_TABLE1, "main": PAPER["main"], "ablations": PAPER["ablations"]}
KEYS = ("acc_t1", "acc_t2", "delta", "delta_i2c", "delta_c2i")
NAMES = ("Acc@t1", "Acc@t2", "Delta(t1,t2)", "Delta i->c", "Delta c->i")


def row_estimates(runs: list[dict]) -> dict[str, Estimate]:
    """Per metric (and the answer-change rate), the estimate over a row's seeds.

    >>> runs = [dict(acc_t1=.5, acc_t2=.6, delta=.1, delta_i2c=.2, delta_c2i=.1,
    ...              answer_changed_frac=.3) for _ in range(2)]
    >>> row_estimates(runs)["delta"]
    Estimate(mean=0.1, low=0.1, high=0.1, seeds=2)
    """
    out = {key: aggregate([m[key] for m in runs], [m.get(f"{key}_ci") for m in runs])
           for key in KEYS}
    out["answer_changed_frac"] = aggregate([m["answer_changed_frac"] for m in runs])
    return out


def _cell(e: Estimate, signed: bool = False) -> str:
    value = f"{100 * e.mean:+.1f}" if signed else f"{100 * e.mean:.1f}"
    if e.low is None:
        return value
    return f"{value} [{100 * e.low:.1f}, {100 * e.high:.1f}]"


def seed_table(rows: list[tuple[str, list[dict]]], title: str, paper: str | None = None) -> str:
    """Markdown: our five metrics with CIs, answer-change rate, seeds, then the paper's values.

    >>> m = dict(acc_t1=.5, acc_t2=.6, delta=.1, delta_i2c=.2, delta_c2i=.1,
    ...          answer_changed_frac=.3, acc_t1_ci=[.4, .6], acc_t2_ci=[.5, .7],
    ...          delta_ci=[0, .2], delta_i2c_ci=[.1, .3], delta_c2i_ci=[0, .2])
    >>> seed_table([("Base", [m])], "T", "main").splitlines()[4]
    '| Base | 50.0 [40.0, 60.0] | 60.0 [50.0, 70.0] | +10.0 [0.0, 20.0] | 20.0 [10.0, 30.0] | 10.0 [0.0, 20.0] | 30.0 | 1 | 52.6 | 41.4 | -11.2 | 4.6 | 15.8 |'
    """
    theirs = PAPERS.get(paper, {}) if paper else {}
    head = ["method", *NAMES, "answer changed", "seeds"]
    if paper:
        head += [f"paper {name}" for name in NAMES]
    lines = [f"## {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, runs in rows:
        e = row_estimates(runs)
        cells = [label, *(_cell(e[k], signed=k == "delta") for k in KEYS),
                 f"{100 * e['answer_changed_frac'].mean:.1f}", str(len(runs))]
        if paper:
            values = theirs.get(label, (None,) * 5)
            cells += ["-" if v is None else (f"{v:+.1f}" if i == 2 else f"{v:.1f}")
                      for i, v in enumerate(values)]
        lines.append("| " + " | ".join(cells) + " |")
    n = rows[0][1][0].get("n_trajectories", "?") if rows else "?"
    lines += ["", f"Percent of all {n} held-out problems, greedy decoding unless the row says otherwise. Brackets: 95% CI, a "
              "t-interval across seeds where `seeds` > 1, else the run's bootstrap CI over "
              "problems. answer changed: % of second attempts whose answer differs from the "
              "first (mean over seeds)."]
    if paper:
        lines.append("Paper: Gemini 1.5 Flash on MATH (SCoRe, Kumar et al. 2024); compare the "
                     "pattern, never the values.")
    return "\n".join(lines) + "\n"


def seed_csv(rows: list[tuple[str, list[dict]]], paper: str | None = None) -> str:
    """The same table for tools: mean, CI bounds and seed count per metric, paper values."""
    theirs = PAPERS.get(paper, {}) if paper else {}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["method", "seeds", *(f"{k}{s}" for k in KEYS for s in ("", "_low", "_high")),
                     "answer_changed_frac", *(f"paper_{k}" for k in KEYS)])
    for label, runs in rows:
        e = row_estimates(runs)
        stats = [x for k in KEYS for x in (e[k].mean, e[k].low, e[k].high)]
        paper_values = ["" if v is None else v / 100 for v in theirs.get(label, (None,) * 5)]
        writer.writerow([label, len(runs), *stats, e["answer_changed_frac"].mean, *paper_values])
    return buffer.getvalue()
