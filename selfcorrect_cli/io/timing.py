"""timing.json: what a command cost, written into every run directory it prepared.

The per-stage cost table of the study (report/cost_table.py) is built from these records, so
the cost of a seed is measured on the runs that produced the results, not on a separate
benchmark. Wall seconds count from the process's start (imports included: they are part of
what a stage costs); process seconds are user + system CPU time of this process alone.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

_STARTED = time.time()
_RUN_DIRS: list[Path] = []


def track(run_dir: Path) -> None:
    """Remember the command's run directory, for record_costs at the end. Only the first one a
    process prepares: the later ones are nested stages of the same command (a STaR round's
    collection), whose cost the command's own record already holds."""
    if not _RUN_DIRS:
        _RUN_DIRS.append(run_dir)


def record_costs() -> None:
    """Write timing.json into the tracked run directory (called once the command succeeded)."""
    import torch

    from selfcorrect_cli.io.run_dir import write_json_atomic

    usage = resource.getrusage(resource.RUSAGE_SELF)
    record = {"wall_s": round(time.time() - _STARTED, 2),
              "process_s": round(usage.ru_utime + usage.ru_stime, 2),
              "threads": torch.get_num_threads()}
    for run_dir in _RUN_DIRS:
        if run_dir.is_dir():
            write_json_atomic(run_dir / "timing.json", record)
