"""The SCoRe paper's numbers, the one place they are written down.

Kumar et al., "Training Language Models to Self-Correct via Reinforcement Learning" (ICLR 2025,
arXiv 2409.12917), Gemini 1.5 Flash on MATH: Table 1 (the SFT baselines), Table 2 (SCoRe
against the baselines) and Table 4 (ablations), each row as the paper prints it. A study spec
links each of its rows to one key below, or to `none` (no counterpart in the paper); rows are
never matched to the paper by their labels. Only the pattern carries over to another model or
task, never the values.
"""

from __future__ import annotations

from dataclasses import dataclass

from selfcorrect_cli.errors import UsageError

SOURCE = "Gemini 1.5 Flash on MATH (SCoRe, Kumar et al. 2024)"
NO_COUNTERPART = "none"  # what a spec writes for a row the paper has no counterpart of


@dataclass(frozen=True)
class PaperRow:
    table: str  # where in the paper, e.g. "Table 1"
    method: str  # the row's method as the paper names it
    # Acc@t1, Acc@t2, Delta(t1,t2), Delta i->c, Delta c->i in percent; None: not given there
    values: tuple[float | None, float | None, float | None, float | None, float | None]

    def __str__(self) -> str:
        return f"{self.table}: {self.method}"


PAPER_ROWS = {
    "table1.base": PaperRow("Table 1", "Base", (52.6, 41.4, -11.2, 4.6, 15.8)),
    "table1.star_d": PaperRow("Table 1", "STaR on D_STaR", (55.4, 41.2, -14.2, 5.4, 19.6)),
    "table1.star_dplus": PaperRow("Table 1", "STaR on D+_STaR", (53.6, 54.0, 0.4, 2.6, 2.2)),
    "table1.pair_sft_d": PaperRow("Table 1", "Pair-SFT on D_SFT", (52.4, 54.2, 1.8, 5.4, 3.6)),
    "table1.pair_sft_dplus": PaperRow("Table 1", "Pair-SFT on D+_SFT",
                                      (55.0, 55.0, 0.0, 0.0, 0.0)),
    "table2.base": PaperRow("Table 2", "Base", (52.6, 41.4, -11.2, 4.6, 15.8)),
    "table2.self_refine": PaperRow("Table 2", "Self-Refine", (52.8, 51.8, -1.0, 3.2, 4.2)),
    "table2.star_dplus": PaperRow("Table 2", "STaR (on D+_STaR)", (53.6, 54.0, 0.4, 2.6, 2.2)),
    "table2.pair_sft_d": PaperRow("Table 2", "Pair-SFT (on D_SFT)", (52.4, 54.2, 1.8, 5.4, 3.6)),
    "table2.score": PaperRow("Table 2", "SCoRe", (60.0, 64.4, 4.4, 5.8, 1.4)),
    # Table 4 gives no i->c or c->i.
    "table4.score": PaperRow("Table 4", "SCoRe", (60.0, 64.4, 4.4, None, None)),
    "table4.single_turn_rl": PaperRow("Table 4", "w/o multi-turn training",
                                      (61.8, 59.4, -2.4, None, None)),
    "table4.no_stage1": PaperRow("Table 4", "w/o Stage I", (59.2, 61.4, 2.2, None, None)),
    "table4.no_shaping": PaperRow("Table 4", "w/o reward shaping", (60.0, 62.6, 2.6, None, None)),
    "table4.star_stage2": PaperRow("Table 4", "STaR instead of REINFORCE in Stage II",
                                   (56.2, 58.4, 2.2, None, None)),
    "table4.offline_turn1": PaperRow("Table 4", "w/o online turn-1 samples",
                                     (60.4, 60.6, 0.2, None, None)),
}


def paper_row(key, where: str) -> PaperRow | None:
    """The paper row a spec names: a key of PAPER_ROWS, or None for `none`.

    >>> str(paper_row("table2.score", "table2.SCoRe"))
    'Table 2: SCoRe'
    >>> paper_row("none", "table4.naive") is None
    True
    """
    if key == NO_COUNTERPART:
        return None
    if key not in PAPER_ROWS:
        raise UsageError(f"{where}: paper row {key!r} is not in report/paper.py; use one of "
                         f"{', '.join(PAPER_ROWS)}, or {NO_COUNTERPART}")
    return PAPER_ROWS[key]
