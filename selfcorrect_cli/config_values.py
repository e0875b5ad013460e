"""Config values: read onto config.py's dataclasses (YAML, then --set) and checked, the one
place a setting is checked.

Each value alone: its type, its choices (`Literal`) and its range. The range of a field sits in
its metadata beside its default in config.py, written with `at_least`, `above`, `within` or
`matching`; `check_value` applies type, choices and range and raises UsageError with one line
naming the key, the value and what is allowed. Then the values together (`check_config`):
combinations that cannot work, judged on the config as it runs, with train.method's ScoreConfig
settings applied (method_registry.py), so that every command refuses the same configs at load
time, before any stage writes anything. Stages do not check settings again.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from selfcorrect_cli.errors import UsageError
from selfcorrect_cli.method_registry import apply_settings

BUILTIN_SPLITS = ("train", "validation", "test")
"""The only splits the built-in division world generates (see tasks/division.py): validation
is for periodic evaluation and tuning, test only for the final tables."""


@dataclass(frozen=True)
class Range:
    """Allowed numbers: low <= x (low < x when low_open), x <= high; None leaves a side open.
    Floats must also be finite.

    >>> Range(0, 1, low_open=True).allows(1.0), Range(0, 1, low_open=True).allows(0.0)
    (True, False)
    >>> str(Range(0, 1, low_open=True)), str(Range(low=1))
    ('in (0, 1]', '>= 1')
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def allows(self, x) -> bool:
        if isinstance(x, float) and not math.isfinite(x):
            return False
        if self.low is not None and (x <= self.low if self.low_open else x < self.low):
            return False
        return self.high is None or x <= self.high

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low}"
        return f"in {'(' if self.low_open else '['}{self.low}, {self.high}]"


@dataclass(frozen=True)
class Pattern:
    """Allowed strings: a full match of `regex`; `described` says it in words for errors."""

    regex: str
    described: str

    def allows(self, x) -> bool:
        return re.fullmatch(self.regex, x) is not None

    def __str__(self) -> str:
        return self.described


def at_least(low) -> dict:
    """Field metadata: value >= low."""
    return {"check": Range(low=low)}


def above(low) -> dict:
    """Field metadata: value > low."""
    return {"check": Range(low=low, low_open=True)}


def within(low, high, low_open: bool = False) -> dict:
    """Field metadata: low <= value <= high (low < value when low_open)."""
    return {"check": Range(low, high, low_open)}


def matching(regex: str, described: str) -> dict:
    """Field metadata: the string fully matches `regex`."""
    return {"check": Pattern(regex, described)}


@dataclass(frozen=True)
class Names:
    """Allowed: names from `choices`, as a list or as one comma-separated string.

    >>> Names(("none", "tensorboard")).allows("none, tensorboard"), Names(("a",)).allows(["b"])
    (True, False)
    """

    choices: tuple[str, ...]

    def allows(self, x) -> bool:
        return all(name in self.choices for name in split_names(x))

    def __str__(self) -> str:
        return f"a list or comma-separated string of {one_of(self.choices)}"


def names_from(choices: tuple[str, ...]) -> dict:
    """Field metadata: a list or comma-separated string of names from `choices`."""
    return {"check": Names(choices)}


def split_names(value: str | list[str]) -> list[str]:
    """The names in a list or a comma-separated string.

    >>> split_names("tensorboard, wandb"), split_names(["wandb"]), split_names("")
    (['tensorboard', 'wandb'], ['wandb'], [])
    """
    items = value.split(",") if isinstance(value, str) else value
    return [str(item).strip() for item in items if str(item).strip()]


def check_value(f: dataclasses.Field, annotation, value, dotted: str):
    """`value` coerced to the field's type (and choices), then held to its metadata's range."""
    value = _coerce(value, annotation, dotted)
    check = f.metadata.get("check")
    if check is not None and not check.allows(value):
        finite = "finite and " if isinstance(value, float) and not math.isfinite(value) else ""
        raise UsageError(f"{dotted} must be {finite}{check}, got {value!r}")
    return value


def _coerce(value, annotation, dotted: str):
    """Check `value` against a field's type; ints are accepted where floats are expected."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, dotted)
            except UsageError:
                continue
        raise UsageError(f"{dotted}: expected {annotation}, got {value!r}")
    if origin is Literal:
        options = typing.get_args(annotation)
        for option in options:
            if value == option and type(value) is type(option):  # True is not 1
                return option
        raise UsageError(f"{dotted} must be {one_of(options)}, got {value!r}")
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        if not isinstance(value, list):
            raise UsageError(f"{dotted}: expected a list, got {value!r}")
        return [_coerce(v, item_type, dotted) for v in value]
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):
        # PyYAML reads 1e-5 (no dot) as a string; accept any spelling Python reads as a float
        try:
            return float(value)
        except ValueError:
            pass
    if annotation is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if annotation in (int, float, str, bool):
        if isinstance(value, annotation) and not (annotation is int and isinstance(value, bool)):
            return value
        raise UsageError(f"{dotted}: expected {annotation.__name__}, got {value!r}")
    return value


def one_of(options) -> str:
    """Choices in words.

    >>> one_of(("sampler", "hf")), one_of((1, 2, 3))
    ('sampler or hf', '1, 2 or 3')
    """
    words = [str(o) for o in options]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


# ---------------- the whole config: each value, then the combinations --------------------------

def check_config(cfg) -> None:
    """Raise UsageError at the first value outside its field's type, choices or range, or the
    first combination of values that cannot work together."""
    for section in dataclasses.fields(cfg):
        obj = getattr(cfg, section.name)
        hints = typing.get_type_hints(type(obj))
        for f in dataclasses.fields(obj):
            check_value(f, hints[f.name], getattr(obj, f.name), f"{section.name}.{f.name}")
    _check_combinations(_with_method_settings(cfg))


def method_config(cfg):
    """The config as `selfcorrect train` runs it: checked, then a copy with train.method's
    ScoreConfig settings applied (the method wins over the file and --set)."""
    check_config(cfg)
    return _with_method_settings(cfg)


def _with_method_settings(cfg):
    cfg = copy.deepcopy(cfg)
    apply_settings(cfg.score, cfg.train.method)
    return cfg


def _check_combinations(cfg) -> None:
    """`cfg` has its method's settings applied: single-turn-rl sets score.turns=1,
    offline-turn1 score.online_turn1=false, no-stage1 score.stage1_steps=0."""
    if cfg.task.name == "division" and cfg.task.split not in BUILTIN_SPLITS:
        raise UsageError(f"task.split must be {one_of(BUILTIN_SPLITS)} for the built-in "
                         f"division task, got {cfg.task.split!r}")
    if cfg.world.divisor_max < cfg.world.divisor_min:
        raise UsageError(f"world.divisor_max must be >= world.divisor_min "
                         f"({cfg.world.divisor_min}), got {cfg.world.divisor_max}")
    if cfg.pretrain.hidden_size % cfg.pretrain.heads:
        raise UsageError(f"pretrain.hidden_size must be a multiple of pretrain.heads "
                         f"({cfg.pretrain.heads}), got {cfg.pretrain.hidden_size}")
    s, method = cfg.score, cfg.train.method
    if s.turn2_samples > 1 and (s.turns == 1 or not s.online_turn1):
        raise UsageError(f"score.turn2_samples > 1 (tree rollouts) needs two online turns; "
                         f"{method} trains {s.turns} turn(s), online_turn1={s.online_turn1}")
    if s.stage1_steps + s.stage2_steps < 1:
        raise UsageError("score.stage1_steps + score.stage2_steps must be at least 1")
    if s.stage1_from and (s.stage1_steps == 0 or s.stage2_steps == 0):
        raise UsageError(f"score.stage1_from needs both stages; {method} trains "
                         f"{s.stage1_steps} Stage-I and {s.stage2_steps} Stage-II steps")
    if not s.online_turn1 and not cfg.train.traces:
        raise UsageError(f"score.online_turn1=false ({method}) needs train.traces (base-model "
                         "traces from `selfcorrect collect` on the train split)")
    if method == "pair-sft" and not cfg.train.traces:
        raise UsageError("pair-sft needs train.traces (a traces.jsonl from `selfcorrect collect`)")
    if cfg.sft.epochs <= 0 and cfg.sft.max_steps <= 0:
        raise UsageError("set sft.epochs or sft.max_steps above 0")


# ---------------- reading values onto the dataclasses: YAML, then --set -------------------------

def read_yaml(path: str) -> dict:
    """The mapping of sections in an experiment YAML file."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise UsageError(f"invalid YAML in {path}{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: the top level must be a mapping of sections")
    return data


def apply_mapping(obj, mapping: dict, prefix: str = "") -> None:
    """Set each (nested) key of `mapping` on the dataclass `obj`, each value checked."""
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and _is_section(obj, key):
            apply_mapping(getattr(obj, key), value, prefix=f"{dotted}.")
        else:
            _set_field(obj, str(key), value, dotted)


def set_dotted(cfg, dotted: str, value) -> None:
    """Set one `section.key` of `cfg`, checked."""
    *sections, leaf = dotted.split(".")
    obj = cfg
    walked = []
    for name in sections:
        walked.append(name)
        if not _is_section(obj, name):
            raise UsageError(f"unknown config section: {'.'.join(walked)}")
        obj = getattr(obj, name)
    _set_field(obj, leaf, value, dotted)


def _is_section(obj, name) -> bool:
    return dataclasses.is_dataclass(getattr(obj, str(name), None))


def _set_field(obj, name: str, value, dotted: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(obj)}
    if name not in fields:
        known = ", ".join(sorted(fields))
        raise UsageError(f"unknown config key: {dotted} (known here: {known})")
    if _is_section(obj, name):
        raise UsageError(f"{dotted} is a section; set one of its keys, e.g. {dotted}.<key>=...")
    hints = typing.get_type_hints(type(obj))
    setattr(obj, name, check_value(fields[name], hints[name], value, dotted))
