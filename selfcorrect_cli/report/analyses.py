"""The two failure analyses drawn: behaviour collapse (paper Figure 3) and distribution
mismatch (Figure 4), as figure + table, for `analyze-collapse` / `analyze-mismatch` and for
the study report alike.

Inputs are what the analyses wrote: collapse.json ({model: {split: statistics}}) and the rows
of mismatch.jsonl ({"step", "<source>/<split>": {"fix_rate", "acc_t1", "delta", ...}}).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from statistics import mean

from selfcorrect_cli.io.run_dir import write_atomic
from selfcorrect_cli.measure.metrics import NEAR_COPY_RATIO
from selfcorrect_cli.report.figures import plot_collapse, plot_fix_rates
from selfcorrect_cli.report.tables import markdown_table

SPLIT_NAMES = {"train": "training problems", "test": "held-out problems"}


# --- behaviour collapse -----------------------------------------------------------------------
def collapse_table(results: dict[str, dict]) -> str:
    """Markdown: per model and split, the near-copy and answer-change rates, the mean edit
    ratio and the correction metrics, as fractions of all (y1, y2) pairs.

    >>> s = dict(near_copy_frac=.5, answer_changed_frac=.25, edit_ratio_mean=.1, acc_t1=.5,
    ...          acc_t2=.5, delta_i2c=.0, delta_c2i=.0)
    >>> collapse_table({"Base": {"test": s}}).splitlines()[2]
    '| Base | held-out problems | 0.500 | 0.250 | 0.100 | 0.500 | 0.500 | 0.000 | 0.000 |'
    """
    head = ["model", "split", f"near copies (ratio < {NEAR_COPY_RATIO})", "answer changed",
            "mean ratio", "Acc@t1", "Acc@t2", "i->c", "c->i"]
    keys = ("near_copy_frac", "answer_changed_frac", "edit_ratio_mean", "acc_t1", "acc_t2",
            "delta_i2c", "delta_c2i")
    rows = [[label, SPLIT_NAMES.get(split, split), *(f"{s[k]:.3f}" for k in keys)]
            for label, splits in results.items() for split, s in splits.items()]
    return markdown_table(head, rows)


def collapse_section(results: dict[str, dict], out: Path, note: str = "",
                     kind_fix: dict | None = None) -> str:
    """Draw the histograms (and, given kind_fix, the fix rate by kind per method) to `out`
    (PNG); returns the table and its notes as Markdown."""
    plot_collapse(results, SPLIT_NAMES, out, kind_fix)
    return (collapse_table(results) + "\n\nFractions of all (y1, y2) pairs; edit-distance ratio: "
            "Levenshtein distance / the longer attempt's length. " + note).rstrip() + "\n"


def write_collapse_report(results: dict[str, dict], out: str | Path, cfg) -> None:
    """`analyze-collapse --out OUT`: OUT.png and OUT.md."""
    out = Path(out)
    decoding = "greedy" if cfg.sampling.temperature <= 0 else f"T={cfg.sampling.temperature}"
    note = (f"{cfg.sft.analysis_problems} problems per split, {decoding}, one trajectory each.")
    text = collapse_section(results, out.with_suffix(".png"), note)
    write_atomic(out.with_suffix(".md"), "## Behaviour collapse (paper Figure 3)\n\n"
                 f"![histograms]({out.with_suffix('.png').name})\n\n{text}")


# --- distribution mismatch --------------------------------------------------------------------
def curves(rows: list[dict]) -> list[tuple[str, str]]:
    """The (source, split) curves of mismatch rows, in the order the analysis wrote them.

    >>> curves([{"step": 0, "epoch": 0.0, "offline/train": {}, "own/train": {}}])
    [('offline', 'train'), ('own', 'train')]
    """
    return [tuple(key.split("/")) for key, m in (rows[0] if rows else {}).items()
            if isinstance(m, dict)]


def mean_mismatch(runs: list[list[dict]]) -> list[dict]:
    """Seeds' mismatch rows averaged per step: fix rates (ignoring undefined ones) and Acc@t1.
    Only the steps every seed probed: a seed's last step depends on its number of traces, and
    a step that some seeds lack would average a different set of seeds than its neighbours.

    >>> a = [{"step": 0, "own/test": {"fix_rate": 0.2, "acc_t1": 0.5, "delta": 0.0}},
    ...      {"step": 61, "own/test": {"fix_rate": 0.9, "acc_t1": 0.5, "delta": 0.0}}]
    >>> b = [{"step": 0, "own/test": {"fix_rate": None, "acc_t1": 0.7, "delta": 0.1}}]
    >>> [(row["step"], row["own/test"]) for row in mean_mismatch([a, b])]
    [(0, {'fix_rate': 0.2, 'acc_t1': 0.6, 'delta': 0.05})]
    """
    by_step: dict[int, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for rows in runs:
        for row in rows:
            for curve, m in row.items():
                if isinstance(m, dict):
                    by_step[row["step"]][curve].append(m)
    shared = set.intersection(*({row["step"] for row in rows} for rows in runs)) if runs else set()
    out = []
    for step, by_curve in sorted((k, v) for k, v in by_step.items() if k in shared):
        row = {"step": step}
        for curve, ms in by_curve.items():
            rates = [m["fix_rate"] for m in ms if m.get("fix_rate") is not None]
            row[curve] = {"fix_rate": mean(rates) if rates else None,
                          "acc_t1": mean(m["acc_t1"] for m in ms),
                          "delta": mean(m["delta"] for m in ms)}
        out.append(row)
    return out


def mismatch_table(rows: list[dict]) -> str:
    """Markdown: per probed step, each curve's fix rate with the Acc@t1 and Delta behind it."""
    shown = curves(rows)
    head = ["step", *(f"{s}/{'train' if p == 'train' else 'held-out'}" for s, p in shown)]
    body = []
    for r in rows:
        cells = [r["step"]]
        for source, split in shown:
            m = r[f"{source}/{split}"]
            rate = "-" if m["fix_rate"] is None else f"{m['fix_rate']:.3f}"
            cells.append(f"{rate} (t1 {m['acc_t1']:.2f}, Δ {m['delta']:+.3f})")
        body.append(cells)
    return (markdown_table(head, body) + "\n\nEach cell: fix rate P(y2 right | y1 wrong) (-: "
            "undefined, no first attempt wrong), then Acc@t1 of the first attempts used and "
            "Delta(t1,t2).\n")


def mismatch_section(rows: list[dict], out: Path, mixes: dict | None = None) -> str:
    """Draw the fix-rate curves (and, given mixes, the error-mix bars) to `out` (PNG); returns
    the table as Markdown."""
    plot_fix_rates(rows, curves(rows), SPLIT_NAMES, out, mixes)
    return mismatch_table(rows)


def write_mismatch_report(rows: list[dict], out: str | Path) -> None:
    """`analyze-mismatch --out OUT`: OUT.png and OUT.md."""
    out = Path(out)
    text = mismatch_section(rows, out.with_suffix(".png"))
    write_atomic(out.with_suffix(".md"), "## Distribution mismatch (paper Figure 4)\n\n"
                 f"![curves]({out.with_suffix('.png').name})\n\n{text}")
