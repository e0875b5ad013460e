"""Measurement: collect traces, evaluate over attempts, and the numbers computed from them.

Owns: collect and eval (collect), the paper's metrics (metrics), bootstrap and t-intervals
and the fix rate (statistics), inference-compute scaling curves (compute_scaling). Computes
only; drawing is report's job.
May import: config, errors, io, tasks, rollout. Never methods or report.
"""
