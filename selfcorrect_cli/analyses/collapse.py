"""Behaviour collapse (SCoRe paper, Figure 3): how much does the second attempt edit the first?

For each model, two-turn rollouts on training problems (the first `sft.analysis_problems` of
the training split, which the SFT runs collected on) and on held-out problems (the test split).
For every pair (y1, y2): the edit-distance ratio (metrics.edit_distance_ratio) and whether
the final answer changed. Writes the numbers as collapse.json in the run directory; the
histograms and the summary table are drawn by report/analyses.py.

In the built-in world an attempt is fixed by its guess, so a changed answer rewrites a large
part of the line and an unchanged one is usually a verbatim copy (ratio 0): the histogram
mostly restates the same-answer rate (docs/built-in-world.md, "Attempts are thin").
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from selfcorrect_cli.config import ExperimentConfig
from selfcorrect_cli.io.run_dir import prepare_run_dir, write_json_atomic
from selfcorrect_cli.measure.metrics import (
    answer_changed_rate,
    correction_metrics,
    edit_distance_ratio,
    near_copy_fraction,
)
from selfcorrect_cli.rollout.generation import rollout
from selfcorrect_cli.rollout.models import load_model
from selfcorrect_cli.tasks import build_task

SPLITS = ("train", "test")  # the problems the SFT runs collected on, and held-out ones


def pair_statistics(trajectories) -> dict:
    """Edit ratios, answer changes and the correction metrics of two-attempt trajectories."""
    first = [t.attempts[0] for t in trajectories]
    second = [t.attempts[1] for t in trajectories]
    ratios = [edit_distance_ratio(a.response, b.response) for a, b in zip(first, second)]
    out = correction_metrics([a.reward for a in first], [b.reward for b in second])
    out.update(edit_ratios=ratios, near_copy_frac=near_copy_fraction(ratios),
               answer_changed_frac=answer_changed_rate([a.answer for a in first],
                                                       [b.answer for b in second]),
               edit_ratio_mean=float(np.mean(ratios)))
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
    for split in SPLITS:
        problems = task.load(split)[: cfg.sft.analysis_problems]
        generator = torch.Generator().manual_seed(cfg.run.seed)
        result[split] = pair_statistics(rollout(model, tokenizer, task, problems, sampling,
                                                generator, progress=progress))
    return result


def analyze_collapse(cfg: ExperimentConfig, models: list[tuple[str, str]],
                     progress: bool = True) -> dict:
    """Measure every (label, model path); writes and returns {label: {split: statistics}}."""
    run_dir = prepare_run_dir(cfg)
    results = {label: measure_model(cfg, path, progress) for label, path in models}
    write_json_atomic(run_dir / "collapse.json", results)
    return results
