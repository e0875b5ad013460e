"""timing.json: what a command cost, written into the run directory it prepared (beside its
output file, as <stem>.timing.json, for a command that writes one file).

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
    """Remember the command's run directory (or, for a command that writes one file and no run
    directory, that file), for record_costs at the end. Only the first one a process prepares:
    the later ones are nested stages of the same command (a STaR round's collection), whose
    cost the command's own record already holds."""
    if not _RUN_DIRS:
        _RUN_DIRS.append(Path(run_dir))


def record_path(target: Path) -> Path:
    """Where the record of `target` goes: timing.json inside a run directory, <stem>.timing.json
    beside an output file.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> record_path(folder).name, record_path(folder / "own.json").name
    ('timing.json', 'own.timing.json')
    """
    return target / "timing.json" if target.is_dir() else target.parent / f"{target.stem}.timing.json"


def record_costs() -> None:
    """Write timing.json into the tracked run directory (called once the command succeeded)."""
    import torch

    from selfcorrect_cli.io.run_dir import write_json_atomic

    usage = resource.getrusage(resource.RUSAGE_SELF)
    record = {"wall_s": round(time.time() - _STARTED, 2),
              "process_s": round(usage.ru_utime + usage.ru_stime, 2),
              "threads": torch.get_num_threads()}
    for target in _RUN_DIRS:
        if target.parent.is_dir():
            write_json_atomic(record_path(target), record)
