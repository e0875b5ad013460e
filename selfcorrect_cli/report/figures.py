"""Every figure: numbers in, one PNG out (written atomically by `save_figure`).

Accuracy over attempts (paper Figure 8), aggregated over seeds (mean and 95% t-interval,
measure/statistics.py); the phase map's heatmaps and winner map over the world knobs (c, s);
inference-compute scaling (Figure 1, right); per-turn training curves; behaviour collapse
histograms (Figure 3); fix rates during Pair-SFT (Figure 4). Measuring is done below
(measure, analyses); this module only draws.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.measure.metrics import NEAR_COPY_RATIO
from selfcorrect_cli.measure.statistics import mean_and_ci


def plot_accuracy_by_attempt(series: dict[str, list[list[float]]], out: Path) -> None:
    """Paper Figure 8: Accuracy@t for t = 1..T, one line per method, mean over seeds in percent.

    series: method -> one `accuracy_by_attempt` list (fractions) per seed, e.g.
    {"SCoRe": [[0.60, 0.64], [0.62, 0.65]], "STaR": [[0.58, 0.57]]}. Methods with more than
    one seed get error bars (95% t-interval across seeds).
    """
    if not series:
        raise UsageError("accuracy-by-attempt figure: no methods given")
    table = {label: _seed_matrix(label, seeds) * 100 for label, seeds in series.items()}
    attempts = max(m.shape[1] for m in table.values())
    # Error bars of neighbouring methods would sit on top of each other, so shift each
    # method a little along x; the integer ticks still say which attempt it is.
    dodge = 0.04 if any(m.shape[0] > 1 for m in table.values()) else 0.0
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for i, (label, matrix) in enumerate(table.items()):
        stats = np.array([mean_and_ci(list(column)) for column in matrix.T])  # (T, 3)
        x = np.arange(1, matrix.shape[1] + 1) + (i - (len(table) - 1) / 2) * dodge
        yerr = [stats[:, 0] - stats[:, 1], stats[:, 2] - stats[:, 0]] if len(matrix) > 1 else None
        n_seeds = f"{len(matrix)} seed{'s' if len(matrix) > 1 else ''}"
        ax.errorbar(x, stats[:, 0], yerr=yerr, marker="o", ms=5, capsize=3,
                    color=f"C{i}", label=f"{label} ({n_seeds})")
    ax.set_xticks(range(1, attempts + 1))
    ax.set_xlim(0.7, attempts + 0.3)
    ax.set_xlabel("attempt t")
    ax.set_ylabel("Accuracy@t (%)")
    ax.set_title("Accuracy over sequential attempts (paper Figure 8)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    save_figure(fig, out)


def plot_phase_map(grid: tuple[list[float], list[float]], rows: list[tuple[str, bool, dict]],
                   out: Path) -> None:
    """Heatmaps over the (c, s) grid: one row of panels per quantity, one panel per method.

    grid: (c values, s values), the rows and columns of every panel. rows: (quantity, centred,
    {method: {(c, s): (value, mark)}}), e.g. ("Acc@t2, %", False, {"SCoRe": {(0.7, 0.25):
    (61.5, "")}}); each value is written in its cell with its mark after it. A centred quantity
    (Delta) gets a diverging scale around 0; a quantity shares one scale across its methods. A
    (c, s) a method lacks is hatched and says "not run".
    """
    from matplotlib.colors import Normalize

    c_values, s_values = grid
    methods = list(rows[0][2])
    plt = pyplot()
    fig, axes = plt.subplots(len(rows), len(methods), squeeze=False, layout="constrained",
                             figsize=(0.55 * len(s_values) * len(methods) + 2.2,
                                      (0.42 * len(c_values) + 1.2) * len(rows) + 0.4))
    for r, (quantity, centred, by_method) in enumerate(rows):
        values = [v for cells in by_method.values() for v, _ in cells.values()]
        if centred:
            limit = max([abs(v) for v in values] + [1.0])
            norm, cmap = Normalize(-limit, limit), plt.get_cmap("RdBu")
        else:
            low, high = min(values, default=0.0), max(values, default=100.0)
            norm, cmap = Normalize(low - 0.5, max(high, low + 1.0)), plt.get_cmap("viridis")
        for k, method in enumerate(methods):
            ax = axes[r][k]
            matrix = np.full((len(c_values), len(s_values)), np.nan)  # (C, S)
            for (c, s), (value, mark) in by_method[method].items():
                i, j = c_values.index(c), s_values.index(s)
                matrix[i, j] = value
                ax.text(j, i, f"{value:+.1f}{mark}" if centred else f"{value:.1f}{mark}",
                        ha="center", va="center", fontsize=7,
                        color=_ink(cmap(norm(value))))
            image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, norm=norm, origin="lower",
                              aspect="auto")
            _hatch_missing(ax, np.isnan(matrix))
            ax.set_title(f"{method}\n{quantity}", fontsize=8)
            _grid_ticks(ax, grid, xlabel=r == len(rows) - 1, ylabel=k == 0)
        fig.colorbar(image, ax=list(axes[r]), shrink=0.9, pad=0.01).set_label(quantity,
                                                                               fontsize=8)
    fig.suptitle("Phase map: mean over seeds (hatched: not run; *: some seeds missing)",
                 fontsize=10)
    save_figure(fig, out)


def plot_winner_map(grid: tuple[list[float], list[float]],
                    panels: list[tuple[str, dict]], colours: dict[str, str], out: Path) -> None:
    """One labelled grid per panel: in each (c, s) the best method, coloured as `colours` says.

    panels: (title, {(c, s): (winner, text, clear)}); winner picks the colour (None: a tie,
    grey), text is written in the cell, an unclear lead is drawn pale. Absent cells are hatched
    and say "not run".
    """
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Patch, Rectangle

    c_values, s_values = grid
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), squeeze=False, layout="constrained",
                             figsize=(1.3 * len(s_values) * len(panels) + 1.0,
                                      0.85 * len(c_values) + 1.6))
    for ax, (title, cells) in zip(axes[0], panels):
        missing = np.ones((len(c_values), len(s_values)), dtype=bool)  # (C, S)
        for (c, s), (winner, text, clear) in cells.items():
            i, j = c_values.index(c), s_values.index(s)
            missing[i, j] = False
            colour = colours.get(winner, "0.75")
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=colour,
                                   alpha=1.0 if clear else 0.35, edgecolor="white", lw=2))
            ink = _ink(to_rgba(colour)) if clear else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=ink)
        ax.set_xlim(-0.5, len(s_values) - 0.5)
        ax.set_ylim(-0.5, len(c_values) - 0.5)
        _hatch_missing(ax, missing)
        ax.set_title(title, fontsize=9)
        _grid_ticks(ax, grid, xlabel=True, ylabel=ax is axes[0][0])
    handles = [Patch(facecolor=colour, label=label) for label, colour in colours.items()]
    handles.append(Patch(facecolor="0.75", alpha=0.35, label="pale: lead not clear"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 5),
               fontsize=8, frameon=False)
    fig.suptitle("Winner map: best trained method per cell", fontsize=10)
    save_figure(fig, out)


def _grid_ticks(ax, grid: tuple[list[float], list[float]], xlabel: bool, ylabel: bool) -> None:
    """Columns are the check slip s, rows the copy propensity c (growing upwards)."""
    c_values, s_values = grid
    ax.set_xticks(range(len(s_values)), [f"{s:g}" for s in s_values], fontsize=7)
    ax.set_yticks(range(len(c_values)), [f"{c:g}" for c in c_values], fontsize=7)
    ax.tick_params(length=0)
    if xlabel:
        ax.set_xlabel("check slip s", fontsize=8)
    if ylabel:
        ax.set_ylabel("copy propensity c", fontsize=8)


def _hatch_missing(ax, missing: np.ndarray) -> None:
    """Hatch and label the cells where `missing` (C, S) is True."""
    from matplotlib.patches import Rectangle

    for i, j in zip(*np.nonzero(missing)):
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="white", edgecolor="0.65",
                               hatch="////", lw=0))
        ax.text(j, i, "not run", ha="center", va="center", fontsize=6.5, color="0.25",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6})


def _ink(rgba) -> str:
    """Black or white text, whichever reads better on a background colour."""
    red, green, blue = rgba[:3]
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"


def plot_compute_scaling(curves: dict[str, dict], out: Path) -> None:
    """One figure: accuracy against responses per problem, for each labelled `scaling_curves`
    result a solid line (sequential) and a dashed one (parallel) in one colour, CI as bands."""
    if not curves:
        raise UsageError("compute-scaling figure: no curves given")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (label, c) in enumerate(curves.items()):
        x = c["responses"]
        for name, style, what in (("sequential", "-", "K attempts + 1 self-correction each"),
                                  ("parallel", "--", "majority over 2K first attempts")):
            y = 100 * np.asarray(c[name])
            ci = 100 * np.asarray(c[f"{name}_ci"])  # (K, 2)
            ax.plot(x, y, style, marker="o", ms=4, color=f"C{i}", label=f"{label}: {what}")
            ax.fill_between(x, ci[:, 0], ci[:, 1], color=f"C{i}", alpha=0.12, lw=0)
    ticks = sorted({r for c in curves.values() for r in c["responses"]})
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()  # log axes add unlabelled minor ticks between the powers of two
    ax.set_xlabel("responses generated per problem (2K)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Inference-compute scaling (paper Figure 1, right)")
    ax.grid(alpha=0.3)
    # Below the axes: the labels are long and the lines can run anywhere in the plot. Two
    # columns, filled column by column, put each label's pair of lines under each other.
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    save_figure(fig, out)


def plot_training_logs(logs: list[tuple[str, list[dict]]], out: Path) -> None:
    """The RL diagnostics against the step, one line per (label, log rows), smoothed over 10
    steps; greedy evaluations as markers. Panels a log lacks (e.g. turn 2 of single-turn RL,
    a task without mistake labels) stay empty."""
    panels = [("train/reward_t1", "reward, turn 1"), ("train/reward_t2", "reward, turn 2"),
              ("train/i2c", "in-batch i->c"), ("train/c2i", "in-batch c->i"),
              ("train/kl_turn1", "KL to reference, turn 1"), ("train/kl_turn2", "KL, turn 2"),
              ("train/beta_turn1", "KL coefficient, turn 1"),
              ("train/grad_norm", "gradient norm before clipping"),
              ("train/answer_changed", "second attempts that change the answer"),
              ("train/check_right_t1", "first attempts whose check is right"),
              ("eval/acc_t2", "greedy eval Acc@t2"), ("eval/delta", "greedy eval Delta(t1,t2)")]
    plt = pyplot()
    fig, axes = plt.subplots(3, 4, figsize=(19, 11))
    for index, (label, log) in enumerate(logs):
        for ax, (key, name) in zip(axes.flat, panels):
            points = [(row["step"], row[key]) for row in log if key in row]
            if not points:
                continue
            steps, values = zip(*points)
            if not key.startswith("eval/"):
                values = [sum(values[max(0, i - 9):i + 1]) / len(values[max(0, i - 9):i + 1])
                          for i in range(len(values))]
            ax.plot(steps, values, label=label, color=f"C{index}",  # same colour in every panel
                    marker="o" if key.startswith("eval/") else None)
            ax.set_title(name)
            ax.set_xlabel("iteration")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, out, dpi=80)


def plot_collapse(results: dict[str, dict], split_names: dict[str, str], out: Path,
                  kind_fix: dict[str, dict] | None = None) -> None:
    """Paper Figure 3: histograms of the edit-distance ratio between y1 and y2, one row per
    model, one column per split. results: {model: {split: collapse statistics}}, the
    collapse.json of analyze-collapse; split_names: split -> column title. kind_fix adds a
    panel below: the fix rate by kind of wrong first attempt, one bar per method in each
    kind's group, {method: {kind: Estimate (mean, low, high) or None}}."""
    labels = list(results)
    splits = list(results[labels[0]])
    plt = pyplot()
    extra = 2 if kind_fix else 0  # the bar panel takes the height of two histogram rows
    fig = plt.figure(figsize=(9, 1.9 * (len(labels) + extra) + 0.8))
    grid = fig.add_gridspec(len(labels) + extra, len(splits))
    axes = np.empty((len(labels), len(splits)), dtype=object)
    bins = np.linspace(0, 1, 41)
    for row, label in enumerate(labels):
        for col, split in enumerate(splits):
            stats = results[label][split]
            ax = axes[row][col] = fig.add_subplot(grid[row, col], sharex=axes[0][0])
            weights = np.full(len(stats["edit_ratios"]), 1 / len(stats["edit_ratios"]))
            ax.hist(stats["edit_ratios"], bins=bins, weights=weights, color=f"C{col}")
            ax.set_ylim(0, 1)
            ax.text(0.98, 0.9, f"<{NEAR_COPY_RATIO}: {stats['near_copy_frac']:.2f}\n"
                    f"answer changed: {stats['answer_changed_frac']:.2f}",
                    transform=ax.transAxes, ha="right", va="top", fontsize=8)
            if row == 0:
                ax.set_title(split_names.get(split, split))
            if col == 0:
                ax.set_ylabel(f"{label}\nfraction", fontsize=8)
            if row < len(labels) - 1:
                ax.tick_params(labelbottom=False)
    for ax in axes[-1]:
        ax.set_xlabel("edit-distance ratio between y1 and y2")
    if kind_fix:
        ax = fig.add_subplot(grid[len(labels):, :])
        kinds = list(dict.fromkeys(k for fix in kind_fix.values() for k in fix))
        series = {method: [_triple(fix.get(k)) for k in kinds] for method, fix in kind_fix.items()}
        grouped_bars(ax, kinds, series, scale=100)
        ax.set_ylabel("fix rate (%)")
        ax.set_ylim(0, 100)
        ax.set_title("Fix rate by kind of wrong first attempt (held-out eval, mean over seeds)",
                     fontsize=10)
    fig.suptitle("Behaviour collapse: how much the second attempt edits the first")
    fig.tight_layout()
    save_figure(fig, out)


def _triple(estimate) -> tuple[float, float, float] | None:
    """(mean, low, high) of an Estimate; the mean thrice where it has no interval."""
    if estimate is None:
        return None
    low = estimate.mean if estimate.low is None else estimate.low
    high = estimate.mean if estimate.high is None else estimate.high
    return estimate.mean, low, high


def grouped_bars(ax, groups: list[str], series: dict[str, list], scale: float = 1.0) -> None:
    """One group of bars per entry of `groups`, one bar per series in each, coloured by series;
    series: label -> per group (mean, low, high), a bare mean, or None (no bar, "n/a" written).
    Error bars where low < high."""
    from matplotlib.patches import Patch

    width = 0.8 / max(len(series), 1)
    x = np.arange(len(groups))
    for i, (label, values) in enumerate(series.items()):
        offset = x + (i - (len(series) - 1) / 2) * width
        for xi, value in zip(offset, values):
            if value is None:
                ax.text(xi, 0, "n/a", ha="center", va="bottom", fontsize=6, rotation=90,
                        color="0.4")
                continue
            m, low, high = (value, value, value) if np.isscalar(value) else value
            yerr = [[scale * (m - low)], [scale * (high - m)]] if high > low else None
            ax.bar(xi, scale * m, width, yerr=yerr, capsize=2, color=f"C{i}")
    handles = [Patch(facecolor=f"C{i}", label=label) for i, label in enumerate(series)]
    ax.set_xticks(x, groups)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1),
              borderaxespad=0)


def plot_fix_rates(rows: list[dict], curves: list[tuple[str, str]], split_names: dict[str, str],
                   out: Path, mixes: dict[str, dict[str, float]] | None = None) -> None:
    """Paper Figure 4: the fix rate of each (source, split) curve against the Pair-SFT step;
    rows: mismatch.jsonl rows, each {"step", "<source>/<split>": {"fix_rate", ...}}. mixes adds
    a panel on the right: the share of each kind among wrong first attempts, one bar per
    series ({"collector (own)": {"guess": 0.6, ...}, "Pair-SFT (own)": {...}})."""
    plt = pyplot()
    if mixes:
        fig, (ax, right) = plt.subplots(1, 2, figsize=(13.5, 4),
                                        gridspec_kw={"width_ratios": [1, 1.1]})
    else:
        fig, ax = plt.subplots(figsize=(6.5, 4))
    steps = [r["step"] for r in rows]
    styles = {"offline": "-", "own": "--"}
    for source, split in curves:
        rates = [r[f"{source}/{split}"]["fix_rate"] for r in rows]
        ax.plot(steps, [float("nan") if x is None else x for x in rates], styles[source],
                marker="o", ms=3, color="C0" if split == "train" else "C1",
                label=f"{'fixed offline' if source == 'offline' else 'own'} first attempts, "
                      f"{split_names.get(split, split)}")
    ax.set_xlabel("Pair-SFT optimizer step")
    ax.set_ylabel("fix rate: P(y2 right | y1 wrong)")
    ax.set_ylim(0, 1)
    ax.set_title("Distribution mismatch during Pair-SFT")
    ax.legend(fontsize=8)
    if mixes:
        kinds = list(dict.fromkeys(k for mix in mixes.values() for k in mix))
        grouped_bars(right, kinds, {label: [mix.get(k, 0.0) for k in kinds]
                                    for label, mix in mixes.items()}, scale=100)
        right.set_ylabel("% of wrong first attempts")
        right.set_ylim(0, 100)
        right.set_title("Kinds of mistake: collector against learner (T=1)")
    fig.tight_layout()
    save_figure(fig, out)


def plot_stage2_curves(curves: dict[str, dict[str, list[dict[int, float]]]], stage1_end: int,
                       out: Path) -> None:
    """The Stage II study: validation Acc@t2, Delta and Acc@t1 (percent) and the training turn-1
    KL over steps, mean over seeds, one line per variant, the end of Stage I marked.

    curves: variant -> {"acc_t2" | "delta" | "acc_t1" | "kl_turn1": one step->value dict per
    seed}, e.g. {"today": {"acc_t2": [{24: .6, 49: .7}], ...}}.
    """
    panels = [("acc_t2", "validation Acc@t2 (%)", 100), ("delta", "validation Delta (points)", 100),
              ("acc_t1", "validation Acc@t1 (%)", 100), ("kl_turn1", "turn-1 KL (nats, train)", 1)]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    for ax, (key, title, scale) in zip(axes, panels):
        for label, series in curves.items():
            seeds = series[key]
            steps = sorted(set.intersection(*(set(seed) for seed in seeds)))
            ax.plot([s + 1 for s in steps], [scale * np.mean([seed[s] for seed in seeds])
                                             for s in steps], label=label, lw=1.6)
        ax.axvline(stage1_end + 1, color="grey", ls="--", lw=1)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("iteration")
        if key == "kl_turn1":
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle("Stage II study: mean over tuning seeds (dashed: end of Stage I)", fontsize=11)
    fig.tight_layout()
    save_figure(fig, out)


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out: Path, dpi: int = 110) -> None:
    """Save to a temporary file beside `out`, then rename, so a reader never sees half a PNG;
    some legends sit outside the axes, hence bbox_inches="tight"."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp: its 0600 mode would survive the rename and hide the PNG from
    # other users; savefig creates the file with the usual umask. The suffix names the format.
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp{out.suffix}")
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        pyplot().close(fig)


def _seed_matrix(label: str, seeds: list[list[float]]) -> np.ndarray:
    """(S, T) accuracies of one method; every seed must have the same number of attempts."""
    lengths = sorted({len(s) for s in seeds})
    if not seeds or lengths[0] == 0:
        raise UsageError(f"accuracy-by-attempt figure: method {label!r} has no accuracies")
    if len(lengths) > 1:
        raise UsageError(f"accuracy-by-attempt figure: method {label!r} has seeds with "
                         f"different numbers of attempts {lengths}")
    return np.asarray(seeds, dtype=float)
