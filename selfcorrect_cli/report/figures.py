"""Every figure: numbers in, one PNG out (written atomically by `save_figure`).

Accuracy over attempts (paper Figure 8) and the copy-propensity sweep, aggregated over seeds
(mean and 95% t-interval, measure/statistics.py); inference-compute scaling (Figure 1, right);
per-turn training curves; behaviour collapse histograms (Figure 3); fix rates during Pair-SFT
(Figure 4). Measuring is done below (measure, analyses); this module only draws.
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


def plot_sweep(points: dict[str, list[tuple[float, float, float, float]]], out: Path,
               xlabel: str = "base model copy propensity") -> None:
    """Self-correction Delta(t1, t2) of each method as the base model's copy propensity varies.

    points: method -> [(x, delta, ci_low, ci_high), ...], delta and CI in percentage points,
    e.g. {"SCoRe": [(0.1, 4.0, 2.5, 5.5), (0.5, 3.0, 1.0, 5.0)]}. Points are drawn in order
    of x whatever order they come in.
    """
    if not points:
        raise UsageError("copy-propensity sweep figure: no methods given")
    for label, rows in points.items():
        if not rows:
            raise UsageError(f"copy-propensity sweep figure: method {label!r} has no points")
    xs = [row[0] for rows in points.values() for row in rows]
    # As in Figure 8, shift each method a little along x (1% of the range) so that error bars
    # at the same propensity do not hide each other.
    dodge = 0.01 * ((max(xs) - min(xs)) or 1.0)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    ax.axhline(0.0, color="0.4", lw=0.8, ls="--", zorder=0)
    for i, (label, rows) in enumerate(points.items()):
        x, delta, low, high = (np.array(col, dtype=float) for col in zip(*sorted(rows)))
        x = x + (i - (len(points) - 1) / 2) * dodge
        # A percentile bootstrap CI need not contain its point estimate; matplotlib rejects
        # negative error lengths, so such a side is drawn with zero length.
        yerr = [np.maximum(delta - low, 0), np.maximum(high - delta, 0)]
        ax.errorbar(x, delta, yerr=yerr, marker="o", ms=5, capsize=3, color=f"C{i}", label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Delta(t1, t2) (points)")
    ax.set_title("Self-correction across the base model's copy propensity")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    save_figure(fig, out)


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
    """Per-turn training reward, per-turn KL and the answer-change rate against the step,
    one line per (label, log rows), smoothed over 10 steps; greedy eval Delta as markers."""
    panels = [("train/reward_t1", "reward, turn 1"), ("train/reward_t2", "reward, turn 2"),
              ("train/kl_turn1", "KL to reference, turn 1"), ("train/kl_turn2", "KL, turn 2"),
              ("train/answer_changed", "second attempts that change the answer"),
              ("eval/delta", "greedy eval Delta(t1,t2)")]
    plt = pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
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


def plot_collapse(results: dict[str, dict], split_names: dict[str, str], out: Path) -> None:
    """Paper Figure 3: histograms of the edit-distance ratio between y1 and y2, one row per
    model, one column per split. results: {model: {split: collapse statistics}}, the
    collapse.json of analyze-collapse; split_names: split -> column title."""
    labels = list(results)
    splits = list(results[labels[0]])
    plt = pyplot()
    fig, axes = plt.subplots(len(labels), len(splits), figsize=(9, 1.9 * len(labels) + 0.8),
                             sharex=True, squeeze=False)
    bins = np.linspace(0, 1, 41)
    for row, label in enumerate(labels):
        for col, split in enumerate(splits):
            stats = results[label][split]
            ax = axes[row][col]
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
    for ax in axes[-1]:
        ax.set_xlabel("edit-distance ratio between y1 and y2")
    fig.suptitle("Behaviour collapse: how much the second attempt edits the first")
    fig.tight_layout()
    save_figure(fig, out)


def plot_fix_rates(rows: list[dict], curves: list[tuple[str, str]], split_names: dict[str, str],
                   out: Path) -> None:
    """Paper Figure 4: the fix rate of each (source, split) curve against the Pair-SFT step;
    rows: mismatch.jsonl rows, each {"step", "<source>/<split>": {"fix_rate", ...}}."""
    plt = pyplot()
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
