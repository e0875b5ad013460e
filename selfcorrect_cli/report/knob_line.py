"""A 1-D sweep of one world knob: each method's self-correction at a few values of that knob.

The phase map (report/phase_map.py) spans two knobs; a third knob gets its own line rather than
a third grid dimension, since each point is a study tree of its own (docs/built-in-world.md).
The spec (experiments/builtin/sweep.yaml) under `figures: knob_line:`:

    knob: misread m                              # the x axis's name
    points:                                      # knob value: a study tree, as a phase-map cell
      "0": runs/sweep/m0
      "0.3": {runs: results/runs, seeds: [0, 1, 2]}
    methods:                                     # as the phase map's
      SCoRe: "{cell}/seed{seed}/rl/score/eval"

As in the phase map, a method without metrics.json at a point is reported as not run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.report.paths import expand
from selfcorrect_cli.report.phase_map import Result, cell_tree, measure_cell, method_rows, \
    read_methods
from selfcorrect_cli.report.tables import markdown_table

PNG = "knob-line.png"
PANELS = (("Acc@t2 (%)", "acc_t2"), ("Delta(t1,t2) (points)", "delta"))  # (axis, metrics key)


@dataclass
class Point:
    """One value of the knob: its seeds and, per method, one run directory per seed."""
    value: float
    seeds: list[int]
    runs: dict[str, list[str]]


def read_knob_line(value, where: str, root: str, seeds: list[int]) -> dict:
    """figures.knob_line of a spec -> {"knob", "points": [Point] in knob order, "methods"}."""
    where = f"{where}: figures.knob_line"
    if not isinstance(value, dict) or set(value) != {"knob", "points", "methods"}:
        raise UsageError(f"{where} needs exactly knob, points and methods")
    methods = read_methods(value["methods"], where)
    if not isinstance(value["points"], dict) or len(value["points"]) < 2:
        raise UsageError(f"{where}.points must map two or more knob values to study trees")
    points = {}
    for key, tree_spec in value["points"].items():
        try:
            x = float(key)
        except ValueError:
            raise UsageError(f"{where}: point {key!r} is not a number") from None
        if x in points:
            raise UsageError(f"{where}: knob value {x:g} is listed twice")
        tree, point_seeds = cell_tree(tree_spec, f"{where}.points.{key}", root, seeds)
        points[x] = Point(x, point_seeds, {label: expand(t, root, point_seeds, cell=tree)
                                           for label, t in methods.items()})
    return {"knob": str(value["knob"]), "points": [points[x] for x in sorted(points)],
            "methods": list(methods)}


def knob_line_section(spec: dict, out: Path) -> str:
    """Draws PNG at `out` and returns the Markdown under the figure's heading."""
    measured = [(point, measure_cell(point)) for point in spec["points"]]
    plot_knob_line(spec["knob"], measured, spec["methods"], out)
    body = []
    for point, results in measured:
        body += method_rows([f"{point.value:g}"], results, len(point.seeds), spec["methods"])
    head = [spec["knob"], "method", "seeds", "Acc@t1", "Acc@t2", "Delta(t1,t2) [95% CI]",
            "Delta i->c", "Delta c->i", "answer changed"]
    return markdown_table(head, body) + (
        "\n\nPercent of held-out problems, mean over each point's seeds; brackets and error "
        "bars: 95% t-interval across seeds. Every other knob at the default world's value.")


def plot_knob_line(knob: str, measured: list[tuple[Point, dict[str, Result]]],
                   methods: list[str], out: Path) -> None:
    """Two panels (Acc@t2, Delta) against the knob, one line per method with its interval."""
    from selfcorrect_cli.report.figures import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, len(PANELS), figsize=(11, 4.2), layout="constrained")
    spread = max(p.value for p, _ in measured) - min(p.value for p, _ in measured)
    dodge = 0.012 * spread  # neighbouring error bars side by side, not on top of each other
    for ax, (axis, key) in zip(axes, PANELS):
        for i, label in enumerate(methods):
            found = [(p.value, r[label].estimates[key]) for p, r in measured if label in r]
            if not found:
                continue
            x = np.array([v for v, _ in found]) + (i - (len(methods) - 1) / 2) * dodge
            mean = np.array([100 * e.mean for _, e in found])
            low = np.array([100 * (e.low if e.low is not None else e.mean) for _, e in found])
            high = np.array([100 * (e.high if e.high is not None else e.mean) for _, e in found])
            ax.errorbar(x, mean, yerr=[mean - low, high - mean], marker="o", ms=4, capsize=3,
                        color=f"C{i}", label=label)
        if key == "delta":
            ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks([p.value for p, _ in measured])
        ax.set_xlabel(knob)
        ax.set_ylabel(axis)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    fig.suptitle(f"Self-correction against {knob} (mean over seeds, 95% t-interval)")
    save_figure(fig, out)
