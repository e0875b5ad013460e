"""Training methods: STaR and Pair-SFT (sft, correction_data), SCoRe and its ablations (score,
losses), and the Self-Refine prompting baseline (self_refine).

May import: config, errors, io, tasks, rollout, world, measure. Never analyses or report.
"""
