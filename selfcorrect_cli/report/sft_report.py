"""The built-in world's version of the paper's Table 1 (SFT baselines), with the paper beside it.

The paper's numbers come from Gemini 1.5 Flash on MATH500 (Table 1; Self-Refine from Table 2):
only the pattern can carry over to a 140k-parameter model in a toy world.
"""

from __future__ import annotations

from pathlib import Path

from selfcorrect_cli.report.tables import metrics_csv, metrics_table
from selfcorrect_cli.io.run_dir import write_atomic

# Acc@t1, Acc@t2, Delta, Delta i->c, Delta c->i in percent (MISSION.md, paper Tables 1 and 2).
PAPER_TABLE1 = {
    "Base": (52.6, 41.4, -11.2, 4.6, 15.8),
    "STaR on D_STaR": (55.4, 41.2, -14.2, 5.4, 19.6),
    "STaR on D+_STaR": (53.6, 54.0, 0.4, 2.6, 2.2),
    "Pair-SFT on D_SFT": (52.4, 54.2, 1.8, 5.4, 3.6),
    "Pair-SFT on D+_SFT": (55.0, 55.0, 0.0, 0.0, 0.0),
    "Self-Refine": (52.8, 51.8, -1.0, 3.2, 4.2),
}
_KEYS = ("acc_t1", "acc_t2", "delta", "delta_i2c", "delta_c2i")


def side_by_side(rows: list[tuple[str, dict]]) -> str:
    """Ours and the paper's five metrics per row, in percent.

    >>> m = dict(acc_t1=.5, acc_t2=.6, delta=.1, delta_i2c=.2, delta_c2i=.1)
    >>> side_by_side([("Base", m)]).splitlines()[2]
    '| Base | 50.0 | 60.0 | +10.0 | 20.0 | 10.0 | 52.6 | 41.4 | -11.2 | 4.6 | 15.8 |'
    """
    metrics = ["Acc@t1", "Acc@t2", "Delta", "i->c", "c->i"]
    header = ["method", *metrics, *(f"paper {m}" for m in metrics)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, m in rows:
        ours = [f"{100 * m[k]:+.1f}" if k == "delta" else f"{100 * m[k]:.1f}" for k in _KEYS]
        paper = PAPER_TABLE1.get(label)
        theirs = [f"{v:+.1f}" if i == 2 else f"{v:.1f}" for i, v in enumerate(paper)] if paper \
            else ["-"] * 5
        lines.append("| " + " | ".join([label, *ours, *theirs]) + " |")
    return "\n".join(lines) + "\n"


def write_sft_table(rows: list[tuple[str, dict]], out: Path, notes: str = "") -> None:
    """<out> (Markdown: side by side, then ours with CIs) and <out>.csv."""
    out = Path(out)
    text = ("# SFT self-correction baselines in the built-in world (paper Table 1)\n\n"
            + side_by_side(rows)
            + "\nOurs: percent of all held-out problems. Paper: Gemini 1.5 Flash on MATH500 "
              "(Table 1; Self-Refine from Table 2); only the pattern is comparable.\n\n"
            + metrics_table(rows, "Ours with 95% bootstrap CIs")
            + (f"\n{notes}\n" if notes else ""))
    write_atomic(out, text)
    write_atomic(out.with_suffix(".csv"), metrics_csv(rows))
