"""The seed of each unit of random work: a fixed function of the run's seed and the unit's index.

Collection chunks, Self-Refine's chunks and SCoRe's steps each draw from their own generator,
seeded by (run.seed, index) alone. A resumed run, or any process of a launch, then draws
exactly what an uninterrupted single-process run would have drawn, with no random state saved.
"""

from __future__ import annotations

# A prime larger than any step or chunk count: run seeds s and s + 1 reach the same unit seed
# only a million units apart.
_SEED_STRIDE = 1_000_003


def step_seed(seed: int, index: int) -> int:
    """The seed of unit `index` (a step, a chunk) of a run seeded `seed`.

    >>> step_seed(0, 7), step_seed(1, 0), step_seed(2, 5)
    (7, 1000003, 2000011)
    """
    return seed * _SEED_STRIDE + index
