"""Behaviour collapse (SCoRe paper, Figure 3): how much does the second attempt edit the first?

For each model, two-turn rollouts on training problems (the first `sft.analysis_problems` of
the training split, which the SFT runs collected on) and on held-out problems (the test split).
For every pair (y1, y2): the edit-distance ratio (Levenshtein / combined length) and whether
the final answer changed. Writes one PNG of histograms (rows: models, columns: train /
held-out), a Markdown summary (fraction of pairs with ratio < 0.05, fraction of changed
answers) and the raw numbers as JSON.

In the built-in world an attempt is fixed by its guess, so a changed answer rewrites most of the
line (ratio ~0.1-0.2) and an unchanged one is usually a verbatim copy (ratio 0): the histogram
mostly restates the same-answer rate, as FEASIBILITY.md warns.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from selfcorrect_cli.config import ExperimentConfig
from selfcorrect_cli.rollout.generation import rollout
from selfcorrect_cli.measure.metrics import answer_changed, correction_metrics, edit_distance_ratio
from selfcorrect_cli.rollout.models import load_model
from selfcorrect_cli.io.run_dir import prepare_run_dir, write_atomic, write_json_atomic
from selfcorrect_cli.tasks import build_task

SPLITS = (("train", "training problems"), ("test", "held-out problems"))
NEAR_COPY = 0.05


def pair_statistics(trajectories) -> dict:
    """Edit ratios, answer changes and the correction metrics of two-attempt trajectories."""
    first = [t.attempts[0] for t in trajectories]
    second = [t.attempts[1] for t in trajectories]
    ratios = [edit_distance_ratio(a.response, b.response) for a, b in zip(first, second)]
    changed = [answer_changed(a.answer, b.answer) for a, b in zip(first, second)]
    out = correction_metrics([a.reward for a in first], [b.reward for b in second])
    out.update(edit_ratios=ratios, near_copy_frac=float(np.mean(np.array(ratios) < NEAR_COPY)),
               answer_changed_frac=float(np.mean(changed)), edit_ratio_mean=float(np.mean(ratios)))
    return out


def measure_model(cfg: ExperimentConfig, model_path: str, progress: bool) -> dict:
    """pair_statistics on each split for one model."""
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.path = model_path
    model, tokenizer = load_model(model_cfg)
    task = build_task(cfg)
    sampling = copy.deepcopy(cfg.sampling)
    sampling.attempts = 2
    result = {}
    for split, _ in SPLITS:
        problems = task.load(split)[: cfg.sft.analysis_problems]
        generator = torch.Generator().manual_seed(cfg.run.seed)
        result[split] = pair_statistics(rollout(model, tokenizer, task, problems, sampling,
                                                generator, progress=progress))
    return result


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def plot_histograms(results: dict[str, dict], out: Path) -> None:
    plt = _pyplot()
    labels = list(results)
    fig, axes = plt.subplots(len(labels), 2, figsize=(9, 1.9 * len(labels) + 0.8),
                             sharex=True, squeeze=False)
    bins = np.linspace(0, 1, 41)
    for row, label in enumerate(labels):
        for col, (split, title) in enumerate(SPLITS):
            stats = results[label][split]
            ax = axes[row][col]
            weights = np.full(len(stats["edit_ratios"]), 1 / len(stats["edit_ratios"]))
            ax.hist(stats["edit_ratios"], bins=bins, weights=weights, color=f"C{col}")
            ax.set_ylim(0, 1)
            ax.text(0.98, 0.9, f"<{NEAR_COPY}: {stats['near_copy_frac']:.2f}\n"
                    f"answer changed: {stats['answer_changed_frac']:.2f}",
                    transform=ax.transAxes, ha="right", va="top", fontsize=8)
            if row == 0:
                ax.set_title(title)
            if col == 0:
                ax.set_ylabel(f"{label}\nfraction", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("edit-distance ratio between y1 and y2")
    fig.suptitle("Behaviour collapse: how much the second attempt edits the first")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def summary_table(results: dict[str, dict], cfg: ExperimentConfig) -> str:
    lines = ["| model | split | ratio < 0.05 | answer changed | mean ratio | Acc@t1 | Acc@t2 | "
             "i->c | c->i |", "|---|---|---|---|---|---|---|---|---|"]
    for label, by_split in results.items():
        for split, title in SPLITS:
            s = by_split[split]
            lines.append(f"| {label} | {title} | {s['near_copy_frac']:.3f} | "
                         f"{s['answer_changed_frac']:.3f} | {s['edit_ratio_mean']:.3f} | "
                         f"{s['acc_t1']:.3f} | {s['acc_t2']:.3f} | {s['delta_i2c']:.3f} | "
                         f"{s['delta_c2i']:.3f} |")
    temperature = "greedy" if cfg.sampling.temperature <= 0 else f"T={cfg.sampling.temperature}"
    lines.append(f"\n{cfg.sft.analysis_problems} problems per split, {temperature}, one "
                 "trajectory each. Fractions of all pairs.")
    return "\n".join(lines) + "\n"


def analyze_collapse(cfg: ExperimentConfig, models: list[tuple[str, str]], out: Path,
                     progress: bool = True) -> dict:
    """Measure every (label, model path), write <out>.png, <out>.md; returns the numbers."""
    run_dir = prepare_run_dir(cfg)
    results = {label: measure_model(cfg, path, progress) for label, path in models}
    write_json_atomic(run_dir / "collapse.json", results)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_histograms(results, out.with_suffix(".png"))
    write_atomic(out.with_suffix(".md"), "## Behaviour collapse (paper Figure 3)\n\n"
                 f"![histograms]({out.with_suffix('.png').name})\n\n" + summary_table(results, cfg))
    return results
