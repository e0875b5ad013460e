"""Checking one config value: its type, its choices (`Literal`) and its range.

The range of a field sits in its metadata beside its default in config.py, written with
`at_least`, `above`, `within` or `matching`; `check_value` applies type, choices and range and
raises UsageError with one line naming the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass
from typing import Literal

from selfcorrect_cli.errors import UsageError


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
