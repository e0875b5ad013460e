"""Run directories: where a stage writes, and the record of how it was run.

Each run directory holds config.yaml (the resolved config), command.txt (the command line),
git_commit.txt and environment.json (library versions, torch threads, processor), so any
number in it can be traced back to what produced it; timing.json (io/timing.py) records what
the command cost once it succeeds.
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
from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.timing import track


def prepare_run_dir(cfg) -> Path:
    run_dir = Path(cfg.run.out_dir)
    refuse_file_in_path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. no permission: a one-line error, not a traceback
        raise UsageError(f"cannot create run.out_dir {run_dir}: {exc.strerror}") from None
    write_atomic(run_dir / "config.yaml", yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    write_atomic(run_dir / "command.txt", " ".join(sys.argv) + "\n")
    write_atomic(run_dir / "git_commit.txt", git_commit() + "\n")
    write_json_atomic(run_dir / "environment.json", environment())
    track(run_dir)  # timing.json when the command ends (io/timing.py)
    return run_dir


def refuse_file_in_path(run_dir: Path) -> None:
    """Refuse a run directory that is, or lies under, an existing file: mkdir would fail there.

    >>> import tempfile
    >>> file = Path(tempfile.mkdtemp()) / "notes.txt"
    >>> _ = file.write_text("x")
    >>> refuse_file_in_path(file / "run")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    selfcorrect_cli.errors.UsageError: run.out_dir .../notes.txt/run lies under .../notes.txt, which is a file, not a folder; choose another run.out_dir
    """
    for folder in (run_dir, *run_dir.parents):
        if folder.exists():  # the nearest existing one decides; the rest mkdir creates
            if not folder.is_dir():
                where = "is" if folder == run_dir else f"lies under {folder}, which is"
                raise UsageError(f"run.out_dir {run_dir} {where} a file, not a folder; "
                                 f"choose another run.out_dir")
            return


def environment() -> dict:
    """What decides the numbers besides config and code: library versions, threads, processor.

    Runs are bitwise reproducible only with all of these equal (README, "Determinism")."""
    import importlib.metadata
    import platform

    import torch

    versions = {}
    for package in ("torch", "transformers", "trl", "accelerate", "tokenizers", "numpy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {"python": platform.python_version(), "packages": versions,
            "torch_threads": torch.get_num_threads(), "cpu": _cpu_model(),
            "machine": platform.machine(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def refuse_changed_config(cfg, marker: Path, sections: tuple[str, ...] | None = None) -> None:
    """Refuse to continue a run whose saved config.yaml differs from `cfg`.

    `marker` is the file whose presence means there is work to continue (traces, a checkpoint);
    `sections` limits the comparison to the config sections that define that work (all by
    default). Continuing under other settings would mix two experiments in one directory.
    """
    run_dir = Path(cfg.run.out_dir)
    saved = run_dir / "config.yaml"
    if not Path(marker).exists() or not saved.exists():
        return
    old = yaml.safe_load(saved.read_text()) or {}
    new = config_to_dict(cfg)
    changed = [name for name in (sections or tuple(new)) if old.get(name) != new[name]]
    if changed:
        raise UsageError(f"{run_dir} holds a run made with other {', '.join(changed)} settings; "
                         f"rerun with those settings, use a new run.out_dir, or delete {marker}")


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


def log_lines_before(path: Path, step: int) -> str:
    """The lines of JSONL training log `path` whose "step" is below `step`: what a run that
    continues at `step` keeps (a resume, or Stage II from a shared Stage I). A line cut short by
    a crash is dropped with the steps after it.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "train_log.jsonl"
    >>> _ = path.write_text('{"step": 0}\\n{"step": 1}\\n{"step": 2')
    >>> log_lines_before(path, 2)
    '{"step": 0}\\n{"step": 1}\\n'
    """
    kept = []
    for line in Path(path).read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row["step"] < step:
            kept.append(line + "\n")
    return "".join(kept)


def ends_in_cut_line(path: Path) -> bool:
    """Whether JSONL file `path` ends in a line cut short (no newline, not JSON): an append
    interrupted by a crash, which readers skip. Callers name it when it explains missing rows.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "traces.jsonl"
    >>> _ = path.write_text('{"step": 0}\\n{"step": 1')
    >>> ends_in_cut_line(path)
    True
    >>> _ = path.write_text('{"step": 0}\\n')
    >>> ends_in_cut_line(path)
    False
    """
    last = Path(path).read_bytes().rsplit(b"\n", 1)[-1]
    if not last.strip():
        return False
    try:
        json.loads(last)
    except json.JSONDecodeError:
        return True
    return False


def append_jsonl(path: Path, rows: list[dict]) -> None:
    """Append whole lines in one write and fsync, so a crash loses at most the last line."""
    if not rows:
        return
    text = "".join(json.dumps(row) + "\n" for row in rows)
    with open(path, "a") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
