"""Reading the files stages hand each other: one-line errors that name the file and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from selfcorrect_cli.errors import UsageError


def _text(path: Path, hint: str) -> str:
    if not path.is_file():
        raise UsageError(f"no {path.name} in {path.parent}" + (f" ({hint})" if hint else ""))
    return path.read_text()


def read_json(path: str | Path, hint: str = ""):
    """A JSON file; `hint` says how to produce it when it is missing."""
    path = Path(path)
    try:
        return json.loads(_text(path, hint))
    except json.JSONDecodeError:
        raise UsageError(f"{path} is not valid JSON") from None


def read_jsonl(path: str | Path, hint: str = "") -> list[dict]:
    """A JSON-lines file, blank lines skipped."""
    path = Path(path)
    try:
        return [json.loads(line) for line in _text(path, hint).splitlines() if line.strip()]
    except json.JSONDecodeError:
        raise UsageError(f"{path} has a line that is not valid JSON") from None


def read_spec_yaml(path: str | Path, what: str) -> dict:
    """A spec file's top-level mapping (empty file: empty mapping)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{what} {path} not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: expected a mapping of keys at the top level")
    return raw
