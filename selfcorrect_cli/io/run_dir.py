"""Run directories: where a stage writes, and the record of how it was run.

Each run directory holds config.yaml (the resolved config), command.txt (the command line)
and git_commit.txt, so any number in it can be traced back to what produced it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from selfcorrect_cli.config import config_to_dict


def prepare_run_dir(cfg) -> Path:
    run_dir = Path(cfg.run.out_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(run_dir / "config.yaml", yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    write_atomic(run_dir / "command.txt", " ".join(sys.argv) + "\n")
    write_atomic(run_dir / "git_commit.txt", git_commit() + "\n")
    return run_dir


def git_commit() -> str:
    """The commit of the code that ran (with -dirty when the tree had changes), or unknown."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json_atomic(path: Path, data) -> None:
    write_atomic(path, json.dumps(data, indent=2) + "\n")


def append_jsonl(path: Path, rows: list[dict]) -> None:
    """Append whole lines in one write and fsync, so a crash loses at most the last line."""
    if not rows:
        return
    text = "".join(json.dumps(row) + "\n" for row in rows)
    with open(path, "a") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
