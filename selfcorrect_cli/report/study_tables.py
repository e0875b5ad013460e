"""Tables of eval runs, one row per method: the study's and the ad-hoc `selfcorrect table`.

A study row's runs are the metrics.json of each seed. With several seeds a cell is the mean
and a Student t-interval across seeds; with one run (the base model, Self-Refine) it is that
run's bootstrap CI over problems. The table says which, per row, in its `seeds` column. Where
the spec links rows to the paper (report/paper.py), the paper's row and numbers sit beside.
"""

from __future__ import annotations

from pathlib import Path

from selfcorrect_cli.io.run_dir import write_atomic
from selfcorrect_cli.measure.statistics import Estimate, aggregate
from selfcorrect_cli.report.paper import NO_COUNTERPART, SOURCE, PaperRow
from selfcorrect_cli.report.tables import csv_table, markdown_table, percent_cell

KEYS = ("acc_t1", "acc_t2", "delta", "delta_i2c", "delta_c2i")
NAMES = ("Acc@t1", "Acc@t2", "Delta(t1,t2)", "Delta i->c", "Delta c->i")
# (label, metrics.json of each seed, the linked paper row or None)
StudyRow = tuple[str, list[dict], PaperRow | None]


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


def _paper_cells(row: PaperRow | None) -> list[str]:
    if row is None:
        return [NO_COUNTERPART, *["-"] * len(KEYS)]
    return [str(row), *("-" if v is None else (f"{v:+.1f}" if k == "delta" else f"{v:.1f}")
                        for k, v in zip(KEYS, row.values))]


def seed_table(rows: list[StudyRow], title: str, paper: bool = False) -> str:
    """Markdown: our five metrics with CIs, answer-change rate, seeds, then the paper's row.

    >>> m = dict(acc_t1=.5, acc_t2=.6, delta=.1, delta_i2c=.2, delta_c2i=.1,
    ...          answer_changed_frac=.3, acc_t1_ci=[.4, .6], acc_t2_ci=[.5, .7],
    ...          delta_ci=[0, .2], delta_i2c_ci=[.1, .3], delta_c2i_ci=[0, .2])
    >>> from selfcorrect_cli.report.paper import PAPER_ROWS
    >>> seed_table([("Base", [m], PAPER_ROWS["table2.base"])], "T", paper=True).splitlines()[4]
    '| Base | 50.0 [40.0, 60.0] | 60.0 [50.0, 70.0] | +10.0 [0.0, 20.0] | 20.0 [10.0, 30.0] | 10.0 [0.0, 20.0] | 30.0 | 1 | Table 2: Base | 52.6 | 41.4 | -11.2 | 4.6 | 15.8 |'
    """
    head = ["method", *NAMES, "answer changed", "seeds"]
    head += ["paper row", *(f"paper {name}" for name in NAMES)] if paper else []
    body = []
    for label, runs, link in rows:
        e = row_estimates(runs)
        cells = [label, *(percent_cell(e[k].mean, e[k].low, e[k].high, signed=k == "delta")
                          for k in KEYS), percent_cell(e["answer_changed_frac"].mean), len(runs)]
        body.append(cells + (_paper_cells(link) if paper else []))
    n = rows[0][1][0].get("n_trajectories", "?") if rows else "?"
    notes = [f"Percent of all {n} held-out problems, greedy decoding unless the row says "
             "otherwise. Brackets: 95% CI, a t-interval across seeds where `seeds` > 1, else the "
             "run's bootstrap CI over problems. answer changed: % of second attempts whose "
             "answer differs from the first (mean over seeds)."]
    if paper:
        notes.append(f"Paper: {SOURCE}; compare the pattern, never the values. paper row: the "
                     f"row of the paper set beside ours ({NO_COUNTERPART}: the paper has no "
                     "counterpart); -: a number the paper does not give.")
    return "\n".join([f"## {title}", "", markdown_table(head, body), "", *notes]) + "\n"


def seed_csv(rows: list[StudyRow], paper: bool = False) -> str:
    """The same table for tools: mean, CI bounds and seed count per metric, paper values."""
    head = ["method", "seeds", *(f"{k}{s}" for k in KEYS for s in ("", "_low", "_high")),
            "answer_changed_frac"]
    head += ["paper_row", *(f"paper_{k}" for k in KEYS)] if paper else []
    body = []
    for label, runs, link in rows:
        e = row_estimates(runs)
        cells = [label, len(runs), *(x for k in KEYS for x in (e[k].mean, e[k].low, e[k].high)),
                 e["answer_changed_frac"].mean]
        if paper:
            values = link.values if link else (None,) * len(KEYS)
            cells += [str(link) if link else NO_COUNTERPART,
                      *(None if v is None else v / 100 for v in values)]
        body.append(cells)
    return csv_table(head, body)


# --- the ad-hoc table: one eval run per row, whatever its task -------------------------------
def _setting(m: dict) -> str:
    """Where a run was measured, from its own metrics.json: task (split, decoding)."""
    t = m.get("temperature")
    decoding = "?" if t is None else ("greedy" if t <= 0 else f"T={t:g}")
    return f"{m.get('task', '?')} ({m.get('split', '?')}, {decoding})"


def write_run_table(rows: list[tuple[str, dict]], out: str | Path, title: str = "") -> None:
    """<out> (Markdown) and <out>.csv: one row per (label, metrics.json), bootstrap CIs."""
    head = ["run", "task", *NAMES, "answer changed", "edit ratio", "n"]
    md_rows, csv_rows = [], []
    for label, m in rows:
        md_rows.append([label, _setting(m), *(percent_cell(m[k], *m[f"{k}_ci"], signed=k == "delta")
                                              for k in KEYS),
                        percent_cell(m["answer_changed_frac"]),
                        f"{m['edit_distance_ratio_mean']:.3f}", m["n_trajectories"]])
        csv_rows.append([label, _setting(m), *(m[k] for k in KEYS),
                         *(m[f"{k}_ci"][i] for i in (0, 1) for k in KEYS),
                         m["answer_changed_frac"], m["edit_distance_ratio_mean"],
                         m["n_trajectories"]])
    note = ("Percent of all trajectories (n) of each run, on the task and split its metrics.json "
            "names. Brackets: 95% bootstrap CI over problems. answer changed: % of second "
            "attempts whose final answer differs from the first; edit ratio: mean "
            "edit-distance ratio between them (0 identical, 1 nothing kept).")
    text = (f"## {title}\n\n" if title else "") + markdown_table(head, md_rows) + f"\n\n{note}\n"
    out = Path(out)
    write_atomic(out, text)
    keys = [*KEYS, *(f"{k}_ci_low" for k in KEYS), *(f"{k}_ci_high" for k in KEYS)]
    write_atomic(out.with_suffix(".csv"), csv_table(
        ["run", "task", *keys, "answer_changed_frac", "edit_distance_ratio_mean",
         "n_trajectories"], csv_rows))
