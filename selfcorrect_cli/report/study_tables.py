"""Tables of eval runs, one row per method: the study's and the ad-hoc `selfcorrect table`.

A study row's runs are the metrics.json of each seed. With several seeds a cell is the mean
and a Student t-interval across seeds; with one run (the base model, Self-Refine) it is that
run's bootstrap CI over problems. The table says which, per row, in its `seeds` column. Where
the spec links rows to the paper (report/paper.py), the paper's row and numbers sit beside.
"""

from __future__ import annotations

from pathlib import Path

from selfcorrect_cli.io.run_dir import write_atomic
from selfcorrect_cli.measure.metrics import FIVE_METRICS, WRONG_KINDS, error_mix
from selfcorrect_cli.measure.statistics import Estimate, aggregate
from selfcorrect_cli.report.paper import NO_COUNTERPART, SOURCE, PaperRow
from selfcorrect_cli.report.tables import csv_table, markdown_table, percent_cell

KEYS = tuple(FIVE_METRICS)
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


# --- the kinds of mistakes: error mix, fix rate per kind, change rates --------------------------
CHANGE_KEYS = ("change_rate_after_right", "change_rate_after_wrong", "discrimination")
NOT_RECORDED = "not recorded"


def _over_seeds(values: list) -> Estimate | None:
    """Mean and t-interval of the seeds that have a value (None: undefined in that seed)."""
    present = [v for v in values if v is not None]
    return aggregate(present) if present else None


def kind_estimates(runs: list[dict]) -> dict:
    """Per row (its seeds' metrics.json): the mix of wrong first attempts ("mix"), the fix rate
    of each kind ("fix"), and the change rates; a part some seed did not record is None.

    >>> mk = {"right": {"share_t1": .5, "fix_rate": None}, "guess": {"share_t1": .4,
    ...       "fix_rate": .25}, "slip": {"share_t1": .1, "fix_rate": 0.0}}
    >>> e = kind_estimates([dict(mistake_kinds=mk, change_rate_after_right=.1,
    ...                          change_rate_after_wrong=.3, discrimination=.2)] * 2)
    >>> e["mix"]["guess"].mean, e["fix"]["slip"].mean, e["fix"]["misread"], e["discrimination"].mean
    (0.8, 0.0, None, 0.2)
    >>> kind_estimates([{}])["mix"] is None
    True
    """
    out = {}
    if all("mistake_kinds" in m for m in runs):
        mixes = [error_mix({k: v["share_t1"] for k, v in m["mistake_kinds"].items()})
                 for m in runs]
        out["mix"] = {k: _over_seeds([mix.get(k) for mix in mixes]) for k in WRONG_KINDS}
        out["fix"] = {k: _over_seeds([m["mistake_kinds"].get(k, {}).get("fix_rate")
                                      for m in runs]) for k in WRONG_KINDS}
    else:
        out["mix"] = out["fix"] = None
    for key in CHANGE_KEYS:
        out[key] = _over_seeds([m.get(key) for m in runs]) if all(key in m for m in runs) \
            else None
    return out


def _estimate_cell(e: Estimate | None, recorded: bool, signed: bool = False) -> str:
    if not recorded:
        return NOT_RECORDED
    return "-" if e is None else percent_cell(e.mean, e.low, e.high, signed=signed)


def kinds_table(rows: list[tuple[str, list[dict]]], title: str) -> str:
    """Markdown, one row per method: the error mix, the fix rate per kind, the change rates.

    >>> kinds_table([("Old", [{"acc_t1": .5}])], "T").splitlines()[4].count("not recorded")
    11
    """
    head = ["method", *(f"mix: {k}" for k in WRONG_KINDS), *(f"fix: {k}" for k in WRONG_KINDS),
            "change after right", "change after wrong", "discrimination", "seeds"]
    body = []
    for label, runs in rows:
        e = kind_estimates(runs)
        cells = [label]
        for part in ("mix", "fix"):
            cells += [_estimate_cell(e[part] and e[part][k], e[part] is not None)
                      for k in WRONG_KINDS]
        cells += [_estimate_cell(e[k], all(k in m for m in runs), signed=k == "discrimination")
                  for k in CHANGE_KEYS]
        body.append(cells + [len(runs)])
    note = ("First attempts of each method's evaluation. mix: % of the WRONG first attempts "
            "that are of each kind (guess: the check is right and points the way; misread: a "
            "consistent check for another divisor; slip: the written check is wrong; malformed: "
            "not an attempt). fix: % of wrong first attempts of that kind whose second attempt "
            "is right. change after right / wrong: % of second attempts whose answer differs "
            "from a right / a wrong first one; discrimination: their difference. Brackets: 95% "
            "t-interval over the seeds with a value (where there are 2 or more); -: no first "
            f"attempt of that kind; {NOT_RECORDED}: metrics.json from before the labels.")
    return "\n".join([f"## {title}", "", markdown_table(head, body), "", note]) + "\n"


def kinds_csv(rows: list[tuple[str, list[dict]]]) -> str:
    """The same for tools: mean, low and high per cell, empty where not recorded or undefined."""
    keys = [*(f"mix_{k}" for k in WRONG_KINDS), *(f"fix_{k}" for k in WRONG_KINDS), *CHANGE_KEYS]
    head = ["method", "seeds", *(f"{k}{s}" for k in keys for s in ("", "_low", "_high"))]
    body = []
    for label, runs in rows:
        e = kind_estimates(runs)
        found = [*((e["mix"] or {}).get(k) for k in WRONG_KINDS),
                 *((e["fix"] or {}).get(k) for k in WRONG_KINDS), *(e[k] for k in CHANGE_KEYS)]
        body.append([label, len(runs), *(x for f in found
                                          for x in ((None,) * 3 if f is None
                                                    else (f.mean, f.low, f.high)))])
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
