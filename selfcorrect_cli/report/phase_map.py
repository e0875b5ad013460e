"""The phase map: each method's self-correction over a grid of two world knobs.

Rows are the base model's copy propensity c, columns its check slip s (docs/built-in-world.md).
Every cell is a study tree of its own, built by the Makefile's `sweep-c<c>-s<s>` with the same
methods and settings. The spec (experiments/builtin/sweep.yaml) under `figures: phase_map:`:

    cells:                        # every (c, s) of the grid, keyed "c,s"
      "0.5,0": runs/sweep/c0.5-s0                        # the spec's seeds (or --seeds)
      "0.7,0.25": {runs: "{runs}", seeds: [0, 1, 2]}     # a tree with seeds of its own
    methods:                      # label: run directory; {cell} is the cell's tree
      SCoRe: "{cell}/seed{seed}/rl/score/eval"
    winner_among: [STaR on D+, SCoRe]     # the methods the winner map compares

The sweep is built over several sessions, so a method without metrics.json in a cell is
reported as not run, and one with fewer seeds than its cell names is reported with the seeds
it has; neither is an error. A metrics.json that exists but cannot be read still is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.measure.statistics import Estimate
from selfcorrect_cli.report.paths import expand, parse_seeds
from selfcorrect_cli.report.study_tables import row_estimates
from selfcorrect_cli.report.tables import load_metrics, markdown_table, percent_cell

PNGS = ("phase-map.png", "phase-map-winners.png")  # the heatmaps, then the winner map
GridPoint = tuple[float, float]  # (c, s)
WINNER_METRICS = (("Acc@t2", "acc_t2"), ("Delta(t1,t2)", "delta"))  # (name, metrics.json key)


@dataclass
class Cell:
    """One (c, s) of the grid: its seeds and, per method, one run directory per seed."""
    c: float
    s: float
    seeds: list[int]
    runs: dict[str, list[str]]


@dataclass(frozen=True)
class Result:
    """One method in one cell, over the seeds that have a metrics.json."""
    estimates: dict[str, Estimate]  # study_tables.row_estimates: acc_t1, ..., answer_changed_frac
    seeds: int
    named: int  # the seeds the cell names

    @property
    def seeds_text(self) -> str:
        return str(self.seeds) if self.seeds == self.named else f"{self.seeds} of {self.named}"


@dataclass(frozen=True)
class Verdict:
    """The best method of a cell on one metric, and whether its lead is clear (see pick_best)."""
    best: str
    mean: float
    runner_up: str | None
    lead: float | None
    clear: bool
    tie: bool = False


# --- the spec ---------------------------------------------------------------------------------
def read_phase_map(value, where: str, root: str, seeds: list[int]) -> dict:
    """figures.phase_map of a spec: {"c": rows, "s": columns, "cells": [Cell], "methods",
    "winner_among"}. Cells without seeds of their own take `seeds` (the spec's, or --seeds)."""
    where = f"{where}: figures.phase_map"
    if not isinstance(value, dict) or set(value) != {"cells", "methods", "winner_among"}:
        raise UsageError(f"{where} needs exactly cells, methods and winner_among")
    methods = read_methods(value["methods"], where)
    among = value["winner_among"]
    if not isinstance(among, list) or len(among) < 2 \
            or not all(isinstance(label, str) and label in methods for label in among):
        raise UsageError(f"{where}.winner_among must list two or more of the methods' labels")
    if not isinstance(value["cells"], dict) or not value["cells"]:
        raise UsageError(f"{where}.cells must map \"c,s\" to a study tree")
    cells = {}
    for key, cell in value["cells"].items():
        c, s = _grid_point(key, where)
        if (c, s) in cells:
            raise UsageError(f"{where}: cell ({c:g}, {s:g}) is listed twice")
        tree, cell_seeds = cell_tree(cell, f"{where}.cells.{key}", root, seeds)
        runs = {label: expand(t, root, cell_seeds, cell=tree) for label, t in methods.items()}
        cells[c, s] = Cell(c, s, cell_seeds, runs)
    rows, columns = sorted({c for c, _ in cells}), sorted({s for _, s in cells})
    absent = [f"({c:g}, {s:g})" for c in rows for s in columns if (c, s) not in cells]
    if absent:
        raise UsageError(f"{where}: cells do not fill the grid c x s; missing {', '.join(absent)}")
    return {"c": rows, "s": columns, "cells": [cells[c, s] for c in rows for s in columns],
            "methods": list(methods), "winner_among": among}


def _grid_point(key, where: str) -> GridPoint:
    try:
        c, s = (float(part) for part in str(key).split(","))
    except ValueError:
        raise UsageError(f"{where}: cell {key!r} is not \"c,s\" (two numbers)") from None
    return c, s


def read_methods(methods, where: str) -> dict[str, str]:
    """A spec's `methods`: label -> run directory template containing {cell} (and {seed})."""
    if not isinstance(methods, dict) or not methods:
        raise UsageError(f"{where}.methods must map each method's label to its run directory")
    for label, template in methods.items():
        if not isinstance(template, str) or "{cell}" not in template:
            raise UsageError(f"{where}.methods.{label} must be a path containing {{cell}}")
    return methods


def cell_tree(cell, where: str, root: str, seeds: list[int]) -> tuple[str, list[int]]:
    """A cell is a path or {runs: path, seeds: [...]}; {runs} in it is the study root."""
    if isinstance(cell, dict) and set(cell) == {"runs", "seeds"} \
            and isinstance(cell["seeds"], (list, str)):
        try:
            tree, seeds = cell["runs"], parse_seeds(cell["seeds"], seeds)
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None
    elif isinstance(cell, str):
        tree = cell
    else:
        raise UsageError(f"{where}: a cell is a path or {{runs: <path>, seeds: [<seed>, ...]}}")
    try:
        return str(tree).format(runs=root), seeds
    except (KeyError, IndexError, ValueError):
        raise UsageError(f"{where}: bad placeholder in {tree!r}; known: {{runs}}") from None


# --- measuring --------------------------------------------------------------------------------
def measure_cell(cell: Cell) -> dict[str, Result]:
    """Per method that has any seed's metrics.json, its estimates over those seeds."""
    results = {}
    for label, dirs in cell.runs.items():
        found = [load_metrics(d) for d in dirs if (Path(d) / "metrics.json").is_file()]
        if found:
            results[label] = Result(row_estimates(found), len(found), len(dirs))
    return results


def pick_best(estimates: dict[str, Estimate]) -> Verdict | None:
    """The method with the highest mean; its lead is clear when the low end of its 95% interval
    lies above the runner-up's mean. Equal means (to aggregate's 5 decimals) are a tie, never
    clear; a method alone has no runner-up and no clear lead.

    >>> e = Estimate
    >>> pick_best({"STaR": e(0.60, 0.58, 0.62, 2), "SCoRe": e(0.65, 0.61, 0.69, 2)})
    Verdict(best='SCoRe', mean=0.65, runner_up='STaR', lead=0.05, clear=True, tie=False)
    >>> pick_best({"STaR": e(0.60, 0.58, 0.62, 2), "SCoRe": e(0.65, 0.55, 0.75, 2)}).clear
    False
    >>> pick_best({"STaR": e(0.6, 0.6, 0.6, 2), "SCoRe": e(0.6, 0.6, 0.6, 2)}).best
    'STaR = SCoRe'
    """
    ranked = sorted(estimates.items(), key=lambda item: -item[1].mean)  # stable: spec order
    if not ranked:
        return None
    best, top = ranked[0]
    if len(ranked) == 1:
        return Verdict(best, top.mean, None, None, False)
    tied = [label for label, e in ranked if e.mean == top.mean]
    if len(tied) > 1:
        return Verdict(" = ".join(tied), top.mean, None, 0.0, False, tie=True)
    runner_up, second = ranked[1]
    clear = top.low is not None and top.low > second.mean
    return Verdict(best, top.mean, runner_up, round(top.mean - second.mean, 5), clear)


def verdicts(spec: dict, measured: dict[GridPoint, dict[str, Result]], key: str) -> dict:
    """(c, s) -> pick_best over the spec's winner_among on metric `key`, for cells with any."""
    out = {}
    for point, results in measured.items():
        verdict = pick_best({label: results[label].estimates[key]
                             for label in spec["winner_among"] if label in results})
        if verdict is not None:
            out[point] = verdict
    return out


# --- the section of report.md -----------------------------------------------------------------
def phase_map_section(spec: dict, out: Path) -> str:
    """Draws PNGS beside `out` (the first of them) and returns the Markdown under the heading."""
    from selfcorrect_cli.report.figures import plot_phase_map, plot_winner_map

    measured = {(cell.c, cell.s): measure_cell(cell) for cell in spec["cells"]}
    grid = (spec["c"], spec["s"])
    rows = []
    for name, key, centred in (("Delta(t1,t2) (points)", "delta", True),
                               ("Acc@t2 (%)", "acc_t2", False)):
        by_method = {label: {point: (100 * results[label].estimates[key].mean,
                                     "" if results[label].seeds == results[label].named else "*")
                             for point, results in measured.items() if label in results}
                     for label in spec["methods"]}
        rows.append((name, centred, by_method))
    plot_phase_map(grid, rows, out)
    colours = {label: f"C{i}" for i, label in enumerate(spec["winner_among"])}
    by_metric = {name: verdicts(spec, measured, key) for name, key in WINNER_METRICS}
    plot_winner_map(grid, [(f"best {name} among trained methods",
                            {p: (None if v.tie else v.best, _verdict_text(v), v.clear)
                             for p, v in found.items()}) for name, found in by_metric.items()],
                    colours, out.with_name(PNGS[1]))
    caption = ("Mean over each cell's seeds; rows: copy propensity c, columns: check slip s. "
               "Hatched: not run; *: fewer seeds than the cell names.")
    return "\n".join([*_status_lines(spec, measured), "", caption, "",
                      results_table(spec, measured), "",
                      f"### Winner map\n\n![winner map]({PNGS[1]})\n",
                      winner_table(spec, by_metric), "", _winner_rule(spec)])


def results_table(spec: dict, measured: dict[GridPoint, dict[str, Result]]) -> str:
    """One row per cell and method (one row for a cell with nothing run)."""
    head = ["c", "s", "method", "seeds", "Acc@t1", "Acc@t2", "Delta(t1,t2) [95% CI]",
            "Delta i->c", "Delta c->i", "answer changed"]
    body = []
    for cell in spec["cells"]:
        body += method_rows([f"{cell.c:g}", f"{cell.s:g}"], measured[cell.c, cell.s],
                            len(cell.seeds), spec["methods"])
    return markdown_table(head, body) + (
        "\n\nPercent of held-out problems, mean over the seeds a cell has (seeds: k of n where "
        "only k of its n have finished). Brackets: 95% t-interval across seeds; for one seed, "
        "that run's bootstrap CI over problems.")


def method_rows(where: list[str], results: dict[str, Result], named: int,
                methods: list[str]) -> list[list[str]]:
    """A cell's rows of a results table, after its `where` columns: one per method (seeds,
    Acc@t1, Acc@t2, Delta with its interval, i->c, c->i, answer changed); one row when nothing
    has run."""
    if not results:
        return [[*where, "all", f"0 of {named}", "not run", *["-"] * 5]]
    body = []
    for label in methods:
        if label not in results:
            body.append([*where, label, f"0 of {named}", "not run", *["-"] * 5])
            continue
        e = results[label].estimates
        body.append([*where, label, results[label].seeds_text,
                     percent_cell(e["acc_t1"].mean), percent_cell(e["acc_t2"].mean),
                     percent_cell(e["delta"].mean, e["delta"].low, e["delta"].high, True),
                     percent_cell(e["delta_i2c"].mean), percent_cell(e["delta_c2i"].mean),
                     percent_cell(e["answer_changed_frac"].mean)])
    return body


def winner_table(spec: dict, by_metric: dict[str, dict[GridPoint, Verdict]]) -> str:
    """Per cell, the best method on each of WINNER_METRICS, its lead and whether it is clear."""
    head = ["c", "s"]
    for name in by_metric:
        head += [f"best {name}", "lead over runner-up", "clear"]
    body = []
    for cell in spec["cells"]:
        row = [f"{cell.c:g}", f"{cell.s:g}"]
        for name, found in by_metric.items():
            v = found.get((cell.c, cell.s))
            if v is None:
                row += ["not run", "-", "-"]
                continue
            value = percent_cell(v.mean, signed=name.startswith("Delta"))
            if v.tie:
                row += [f"tie: {v.best}: {value}", "+0.0", "no"]
            elif v.runner_up is None:
                row += [f"{v.best}: {value}", "no runner-up run", "no"]
            else:
                row += [f"{v.best}: {value}", f"{100 * v.lead:+.1f} over {v.runner_up}",
                        "yes" if v.clear else "no"]
        body.append(row)
    return markdown_table(head, body)


def _winner_rule(spec: dict) -> str:
    return ("Best: the method with the highest mean over seeds among "
            f"{', '.join(spec['winner_among'])} (the base models are not candidates). Its lead "
            "is **clear** when the low end of its 95% interval (t-interval across seeds; one "
            "seed: its bootstrap CI over problems) lies above the runner-up's mean. Equal means "
            "are a tie, never clear. With few seeds the interval is wide (t(0.975, 2) = 4.3 at "
            "three seeds, 12.7 at two), so only seeds that agree closely make a lead clear. Lead in points. In a partial cell the best is "
            "chosen among the methods that have run.")


def _verdict_text(v: Verdict) -> str:
    """A winner-map cell's label: who, by how much, and whether the lead is clear."""
    if v.tie:
        return "tie\n" + "\n= ".join(v.best.split(" = "))
    if v.runner_up is None:
        return f"{v.best}\nno runner-up"
    return f"{v.best}\nlead {100 * v.lead:+.1f}\n{'clear' if v.clear else 'not clear'}"


def _status_lines(spec: dict, measured: dict[GridPoint, dict[str, Result]]) -> list[str]:
    """Which cells are not run yet and what a partial cell lacks; nothing when all is there."""
    not_run, partial = [], []
    for cell in spec["cells"]:
        results = measured[cell.c, cell.s]
        if not results:
            not_run.append(f"({cell.c:g}, {cell.s:g})")
            continue
        absent = [label for label in spec["methods"] if label not in results]
        short = [f"{label} has {r.seeds_text} seeds" for label, r in results.items()
                 if r.seeds < r.named]
        lacks = ([f"{', '.join(absent)} not run"] if absent else []) + short
        if lacks:
            partial.append(f"({cell.c:g}, {cell.s:g}): {', '.join(lacks)}")
    lines = []
    if not_run:
        lines.append(f"**Not run yet** (c, s): {', '.join(not_run)}.")
    if partial:
        lines.append(f"**Partial**: {'; '.join(partial)}.")
    return lines or [f"All {len(spec['cells'])} cells complete."]
