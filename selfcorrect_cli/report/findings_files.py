"""The files behind `selfcorrect findings`: the spec, the metrics and logs it names, the report.

Paths in the spec are relative to the working directory, like every run directory in the
experiment YAMLs. A file that is not there yet makes its role absent (the finding reports
MISSING); a spec that cannot be read, or a file that is there but malformed, is a UsageError.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.io.read import read_json, read_jsonl, read_spec_yaml
from selfcorrect_cli.io.run_dir import write_atomic, write_json_atomic
from selfcorrect_cli.report.findings import (
    EVAL_ROLES,
    TRAIN_ROLES,
    Inputs,
    criteria,
    evaluate_findings,
    findings_table,
)
from selfcorrect_cli.report.paths import expand, parse_seeds

METRICS, TRAIN_LOG, MISMATCH_LOG = "metrics.json", "train_log.jsonl", "mismatch.jsonl"


def read_spec(path: str | Path, runs: str | None = None, seeds: str | None = None) -> dict:
    """The spec as {"eval": {role: [dir]}, "train": {role: [dir]}, "mismatch": [file]}.

    Paths may hold {runs} and {seed} (report/paths.py): `runs` and `seeds` override the spec's
    own `runs:` and `seeds:` defaults.
    """
    raw = read_spec_yaml(path, "findings spec")
    if set(raw) - {"eval", "train", "mismatch", "runs", "seeds"}:
        raise UsageError(f"{path}: top-level keys must be among eval, train, mismatch, runs, seeds")
    root = runs or str(raw.get("runs", "runs/builtin"))
    seed_list = parse_seeds(seeds if seeds is not None else raw.get("seeds"), [0])

    def paths(value, where):
        return [p for t in _paths(value, where) for p in expand(t, root, seed_list)]

    spec = {"eval": _roles(raw.get("eval"), EVAL_ROLES, f"{path}: eval", paths),
            "train": _roles(raw.get("train"), TRAIN_ROLES, f"{path}: train", paths)}
    spec["mismatch"] = paths(raw.get("mismatch") or [], f"{path}: mismatch")
    return spec


def _roles(section, allowed, where, paths) -> dict[str, list[str]]:
    section = section or {}
    if not isinstance(section, dict):
        raise UsageError(f"{where} must map roles to lists of directories")
    unknown = set(section) - set(allowed)
    if unknown:
        raise UsageError(f"{where}: unknown role(s) {sorted(unknown)}; known: {list(allowed)}")
    return {role: paths(value, f"{where}.{role}") for role, value in section.items()}


def _paths(value, where) -> list[str]:
    value = [value] if isinstance(value, str) else value  # one seed may be written bare
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UsageError(f"{where} must be a path or a list of paths")
    return value


def load_inputs(spec: dict) -> Inputs:
    """Read every file the spec names; absent files are recorded, malformed ones refused."""
    found = Inputs()
    for role, dirs in spec["eval"].items():
        runs = _read_all(found, role, [Path(d) / METRICS for d in dirs], read_json)
        if runs is not None:
            found.evals[role] = runs
    for role, dirs in spec["train"].items():
        logs = _read_all(found, f"train.{role}", [Path(d) / TRAIN_LOG for d in dirs], read_jsonl)
        if logs is not None:
            found.train_logs[role] = logs
    # A mismatch entry may name the analysis run directory or its mismatch.jsonl.
    files = [p / MISMATCH_LOG if p.is_dir() else p for p in map(Path, spec["mismatch"])]
    found.mismatch = _read_all(found, "mismatch", files, read_jsonl)
    return found


def _read_all(found: Inputs, name: str, files: list[Path], read) -> list | None:
    """One parsed file per seed, or None (and the absent files noted) unless all are there."""
    absent = [str(f) for f in files if not f.is_file()]
    if absent:
        found.missing[name] = absent
        return None
    return [read(f) for f in files] if files else None


def refuse_all_missing(spec: dict, inputs: Inputs, spec_path) -> None:
    """A spec none of whose runs exist is an error, not a table of MISSING: a check whose
    inputs are all absent must not look like success. While any is there (one seed of
    several, say), the absent ones stay MISSING per finding.

    >>> spec = {"eval": {"base": ["runs/b"]}, "train": {}, "mismatch": ["runs/m/mismatch.jsonl"]}
    >>> refuse_all_missing(spec, Inputs(missing={"base": ["runs/b/metrics.json"],
    ...                                          "mismatch": ["runs/m/mismatch.jsonl"]}), "f.yaml")
    Traceback (most recent call last):
    ...
    selfcorrect_cli.errors.UsageError: none of the 2 runs that f.yaml names is there: runs/b, runs/m/mismatch.jsonl (run the study first, or point --runs at its root)
    """
    named = [*(d for dirs in spec["eval"].values() for d in dirs),
             *(d for dirs in spec["train"].values() for d in dirs), *spec["mismatch"]]
    absent = [f for files in inputs.missing.values() for f in files]
    if not named or len(absent) < len(named):
        return
    raise UsageError(f"none of the {len(named)} runs that {spec_path} names is there: "
                     f"{', '.join(named)} (run the study first, or point --runs at its root)")


def report_findings(spec_path: str | Path, out: str | Path | None = None,
                    runs: str | None = None, seeds: str | None = None) -> str:
    """Evaluate F1-F6 for a spec; write <out> (Markdown) and <out>.json when out is given."""
    spec = read_spec(spec_path, runs, seeds)
    if out is not None and Path(out).suffix == ".json":
        raise UsageError("--out names the Markdown file; the JSON is written beside it")
    inputs = load_inputs(spec)
    refuse_all_missing(spec, inputs, spec_path)
    found = evaluate_findings(inputs)
    text = findings_table(found, inputs)
    if out is not None:
        out = Path(out)
        write_atomic(out, text)
        write_json_atomic(out.with_suffix(".json"), {
            "spec": str(spec_path), "criteria": criteria(), "inputs": spec,
            "missing": inputs.missing, "findings": [asdict(f) for f in found]})
    return text
