"""Run-directory templates shared by the study specs (study.yaml, findings.yaml).

A spec names directories with two placeholders, so one spec serves the full study, the quick
study and the test suite's tiny study: `{runs}` is the study's root directory and `{seed}`
expands a path into one path per seed. A spec may also name a method's run folder by the
method's name, `{method: NAME}` (method_registry.py).
"""

from __future__ import annotations

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.method_registry import METHODS, find, run_template


def parse_seeds(text: str | list | None, default: list[int]) -> list[int]:
    """Seeds from `--seeds "0 1 2"` (spaces or commas), a YAML list, or the default.

    >>> parse_seeds("0 1,2", [7])
    [0, 1, 2]
    >>> parse_seeds(None, [7])
    [7]
    """
    if text is None:
        return list(default)
    items = text if isinstance(text, list) else text.replace(",", " ").split()
    try:
        seeds = [int(item) for item in items]
    except (TypeError, ValueError):
        raise UsageError(f"seeds must be integers, got {text!r}") from None
    if not seeds:
        raise UsageError("need at least one seed")
    return seeds


def expand(template: str, runs: str, seeds: list[int], **values) -> list[str]:
    """One path per seed if the template has {seed}, else the single path.

    >>> expand("{runs}/seed{seed}/rl/score", "runs/x", [0, 1])
    ['runs/x/seed0/rl/score', 'runs/x/seed1/rl/score']
    >>> expand("{runs}/eval/base-greedy", "runs/x", [0, 1])
    ['runs/x/eval/base-greedy']
    """
    try:
        if "{seed}" in template:
            return [template.format(runs=runs, seed=seed, **values) for seed in seeds]
        return [template.format(runs=runs, **values)]
    except (KeyError, IndexError, ValueError) as exc:
        raise UsageError(f"bad placeholder in path {template!r} ({exc}); "
                         "known: {runs}, {seed}" + "".join(f", {{{k}}}" for k in values)) from None


def method_run(value: dict, where: str) -> str:
    """The run-folder template that `{method: NAME}` names.

    >>> method_run({"method": "no-shaping"}, "rows.w/o reward shaping")
    '{runs}/seed{seed}/rl/no-shaping'
    """
    name = value.get("method")
    if not isinstance(name, str) or find(name) is None:
        raise UsageError(f"{where}: method {name!r} is not in method_registry.py; known: "
                         f"{', '.join(m.name for m in METHODS)}")
    return run_template(name)
