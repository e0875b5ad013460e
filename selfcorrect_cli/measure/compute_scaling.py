"""Inference-compute scaling, as in the SCoRe paper Figure 1 (right).

With a budget of 2K responses per problem, is it better to sample 2K first attempts in
parallel and take a majority vote, or to sample K first attempts, let each self-correct once,
and take a majority vote over the K second attempts? Both spend 2K responses, so the curves
share the x axis "responses generated per problem".

Input is the trace records of `selfcorrect collect` (traces.py), at least 2 * max(K) two-turn
samples per problem. The voted answer is right if some record in the vote gave that answer
with reward 1 in that turn: the reward is a function of the answer, so one is enough.
Computes only; report/figures.py draws the curves.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.measure.statistics import bootstrap_ci


def majority_vote(answers: list[str | None]) -> str | None:
    """The most common non-null answer; a tie goes to the answer seen first; None if none.

    >>> majority_vote(["7", "8", "8", None])
    '8'
    >>> majority_vote(["8", "7", "7", "8"])  # 2 against 2: "8" came first
    '8'
    >>> majority_vote([None, None, "3"])  # unparsable outputs cast no vote
    '3'
    >>> majority_vote([None, None]) is None
    True
    """
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    # most_common keeps first-seen order among equal counts, which is the tie rule we want.
    return counts.most_common(1)[0][0]


def vote_is_correct(attempts: list[dict]) -> bool:
    """Whether the majority answer over these turns ({"answer", "reward"}) is right.

    >>> vote_is_correct([{"answer": "5", "reward": 0.0}, {"answer": "7", "reward": 1.0},
    ...                  {"answer": "7", "reward": 1.0}])
    True
    >>> vote_is_correct([{"answer": None, "reward": 0.0}])
    False
    """
    voted = majority_vote([a["answer"] for a in attempts])
    return voted is not None and any(a["answer"] == voted and a["reward"] == 1 for a in attempts)


def scaling_curves(records: list[dict], ks: tuple[int, ...] = (1, 2, 4, 8, 16),
                   bootstrap_samples: int = 1000, seed: int = 0) -> dict:
    """Parallel and sequential majority-vote accuracy for each K, over all problems.

    For each K and problem, with samples ordered by sample_index:
      parallel   = vote over the turn-1 answers of the first 2K samples;
      sequential = vote over the turn-2 answers of the first K samples.
    Returns {"k": [1, 2], "responses": [2, 4], "parallel": [0.5, 0.0],
    "parallel_ci": [[0.0, 1.0], [0.0, 0.0]], "sequential": [...], "sequential_ci": [...],
    "n_problems": 2}: accuracies are fractions, CIs are 95% percentile bootstraps over
    problems (the same resampled problems for every K and both methods).
    """
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1:
        raise UsageError(f"compute scaling needs K values of at least 1, got {ks}")
    problems = _samples_by_problem(records, needed=2 * max(ks))
    parallel = np.zeros((len(problems), len(ks)))  # (P, K)
    sequential = np.zeros((len(problems), len(ks)))  # (P, K)
    for p, samples in enumerate(problems):
        for j, k in enumerate(ks):
            parallel[p, j] = vote_is_correct([s["turns"][0] for s in samples[: 2 * k]])
            sequential[p, j] = vote_is_correct([s["turns"][1] for s in samples[:k]])
    out = {"k": ks, "responses": [2 * k for k in ks]}
    for name, correct in (("parallel", parallel), ("sequential", sequential)):
        out[name] = [float(x) for x in correct.mean(axis=0)]
        out[f"{name}_ci"] = [list(bootstrap_ci(correct[:, j], np.mean, bootstrap_samples, seed))
                             for j in range(len(ks))]
    out["n_problems"] = len(problems)
    return out


def _samples_by_problem(records: list[dict], needed: int) -> list[list[dict]]:
    """The two-turn records of each problem (problems in sorted id order, samples by
    sample_index); every problem must have at least `needed` of them."""
    by_problem: dict[str, list[dict]] = {}
    for r in records:
        # Created before the turn check: a problem with no two-turn sample must still fail.
        samples = by_problem.setdefault(str(r["problem_id"]), [])
        if len(r.get("turns", [])) >= 2:
            samples.append(r)
    if not by_problem:
        raise UsageError(f"compute scaling needs {needed} two-turn samples per problem; "
                         f"no traces were given")
    problems = []
    for problem_id in sorted(by_problem):
        samples = sorted(by_problem[problem_id], key=lambda r: r["sample_index"])
        if len(samples) < needed:
            raise UsageError(f"compute scaling needs {needed} two-turn samples per problem; "
                             f"problem {problem_id} has {len(samples)}")
        problems.append(samples)
    return problems
