"""Figures for the study report: accuracy over attempts (paper Figure 8) and the sweep of
self-correction across the base model's copy propensity, both aggregated over seeds.

Pure: numbers in, one PNG out. Across seeds we report the mean and a 95% Student-t interval,
because a study has a handful of seeds (often 3) and a normal interval would be too narrow.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.report.findings import aggregate


def mean_and_ci(values: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): the mean across seeds and its 95% t-interval.

    mean +- t_{0.975, n-1} * sd / sqrt(n), sd with n - 1 in the denominator. For [1, 2, 3]:
    sd = 1, half-width = 4.302653 / sqrt(3) = 2.48414.

    >>> mean, low, high = mean_and_ci([1, 2, 3])
    >>> round(mean, 4), round(low, 4), round(high, 4)
    (2.0, -0.4841, 4.4841)

    One seed has no spread to measure, so its interval is the value itself:

    >>> mean_and_ci([0.5])
    (0.5, 0.5, 0.5)
    """
    if len(values) == 0:
        raise ValueError("mean_and_ci needs at least one value")
    e = aggregate(values)  # the same t-interval the findings use
    return (e.mean, e.mean, e.mean) if e.low is None else (e.mean, e.low, e.high)


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


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out: Path) -> None:
    """Save at dpi 110 to a temporary file beside `out`, then rename, so a reader never sees
    half a PNG; the legends sit outside the axes, hence bbox_inches="tight"."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp: its 0600 mode would survive the rename and hide the PNG from
    # other users; savefig creates the file with the usual umask. The suffix names the format.
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp{out.suffix}")
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
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
