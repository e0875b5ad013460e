"""Reading benchmark data: local files in their original formats, or a Hugging Face dataset.

Every real task takes `TaskConfig.data`, which is either a local file (.jsonl, .jsonl.gz,
.json holding a list of records) or, when no such file exists and the string looks like a hub
name ("openai/gsm8k"), a dataset on the Hugging Face hub. A bad row is the user's problem and
raises UsageError naming the file and line, never a traceback.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from selfcorrect_cli.errors import UsageError

LOCAL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz")


def looks_local(data: str) -> bool:
    """True when `data` names a file on disk (or is clearly meant to).

    >>> looks_local("data/test.jsonl"), looks_local("openai/gsm8k")
    (True, False)
    """
    return Path(data).exists() or data.endswith(LOCAL_SUFFIXES) or data.startswith((".", "/", "~"))


def refuse_other_split(path: str, split: str) -> None:
    """A local file holds one split: refuse to read it as another when its name says which.

    >>> refuse_other_split("gsm8k/train.jsonl", "train")
    >>> refuse_other_split("gsm8k/test.jsonl", "train")
    Traceback (most recent call last):
    ...
    selfcorrect_cli.errors.UsageError: gsm8k/test.jsonl holds the test split (by its name), not train: name a train file
    """
    named = [name for name in ("train", "test") if name in Path(path).name.lower()]
    if len(named) == 1 and named[0] != split:
        raise UsageError(f"{path} holds the {named[0]} split (by its name), not {split}: "
                         f"name a {split} file")


def read_records(path: str) -> list[tuple[int, dict]]:
    """(line number, record) pairs from a JSONL/JSON file, gzipped or not.

    JSON files holding one list of records report the record's 1-based index as its "line".
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise UsageError(f"data file not found: {path}")
    opener = gzip.open if file.name.endswith(".gz") else open
    try:
        with opener(file, "rt", encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read data file {path}: {exc}") from None
    stem = file.name.removesuffix(".gz")
    if stem.endswith(".json"):
        return _records_from_json(text, path)
    return _records_from_jsonl(text, path)


def _records_from_jsonl(text: str, path: str) -> list[tuple[int, dict]]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise UsageError(f"{path}:{number}: expected a JSON object per line")
        records.append((number, record))
    return records


def _records_from_json(text: str, path: str) -> list[tuple[int, dict]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise UsageError(f"{path}: expected a JSON list of objects")
    return list(enumerate(data, start=1))


def load_hub_records(name: str, split: str) -> list[tuple[int, dict]]:
    """Rows of a hub dataset split, numbered from 1 like file lines (needs network)."""
    import datasets  # heavy and only needed off the offline path

    config = None
    if ":" in name:  # "openai/gsm8k:main" selects a dataset configuration
        name, config = name.split(":", 1)
    try:
        rows = datasets.load_dataset(name, config, split=split)
    except (FileNotFoundError, ValueError, ConnectionError) as exc:
        raise UsageError(f"cannot load hub dataset {name!r} split {split!r}: {exc}") from None
    return [(index, dict(row)) for index, row in enumerate(rows, start=1)]


def require_fields(record: dict, fields: tuple[str, ...], where: str) -> None:
    """Raise UsageError naming `where` ("file:line") when a field is missing or not text.

    >>> require_fields({"question": "q", "answer": "a"}, ("question", "answer"), "f:1")
    >>> require_fields({"question": "q"}, ("question", "answer"), "f:1")
    Traceback (most recent call last):
    ...
    selfcorrect_cli.errors.UsageError: f:1: missing field 'answer'
    """
    for name in fields:
        if name not in record:
            raise UsageError(f"{where}: missing field {name!r}")
        if not isinstance(record[name], (str, int)):
            raise UsageError(f"{where}: field {name!r} should be text, got {type(record[name]).__name__}")

