"""Typed groups of stage settings and the checks they share.

A stage takes related settings as one dataclass argument (``gate``, ``decoding``, ``pac``,
...), which jsonargparse nests as a YAML section: ``model.init_args.gate.min_words``. Each
group checks its own values in ``__post_init__`` and raises :class:`InputError` naming the
full key and the valid range: the CLI turns that into one ``paramem: error:`` line, also
when jsonargparse builds the group while it parses.
"""

from __future__ import annotations

import math
from dataclasses import asdict, is_dataclass
from typing import ClassVar

from paramem.io import InputError

PREFIX = "model.init_args"


def check_number(key: str, value, low: float | None = None, high: float | None = None, *, integer: bool = False,
                 low_open: bool = False, high_open: bool = False, optional: bool = False, finite: bool = False) -> None:
    """``value`` is a number (an int when ``integer``; not inf when ``finite``) in the
    interval, or ``None`` when ``optional``; otherwise one InputError naming ``key`` and the
    interval."""
    if value is None and optional:
        return
    kind = "an integer" if integer else "a finite number" if finite else "a number"
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    ok = ok and not isinstance(value, bool) and (not finite or math.isfinite(value))
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = "" if low is None else f"{'(' if low_open else '['}{low}"
        hi = "" if high is None else f"{high}{')' if high_open else ']'}"
        where = (f"in {lo}, {hi}" if low is not None and high is not None
                 else f"{'>' if low_open else '>='} {low}" if low is not None else f"{'<' if high_open else '<='} {high}")
        raise InputError(f"{key} is {value!r}: it must be {kind} {where}{' or null' if optional else ''}")


def check_choice(key: str, value, choices: tuple) -> None:
    if value not in choices:
        raise InputError(f"{key} is {value!r}: it must be one of {', '.join(map(str, choices))}")


def leaves(name: str, value) -> dict:
    """``{name: value}``, with a settings group (a dataclass, or the dict it was saved as)
    spelt out leaf by leaf as ``name.field``: a resume signature names the leaf that changed."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if not isinstance(value, dict):
        return {name: value}
    out: dict = {}
    for key, sub in value.items():
        out.update(leaves(f"{name}.{key}", sub))
    return out


def as_group(cls: type, value):
    """A settings group from the dataclass itself or from a mapping of its fields (the
    Python API may pass either)."""
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        return cls(**value)
    raise InputError(f"expected {cls.__name__} settings (a mapping of its fields), got {value!r}")


class RangeChecked:
    """A settings group whose fields are checked against ``RANGES`` ({field: keyword
    arguments of :func:`check_number`}) after construction; ``GROUP`` names the section."""

    GROUP: ClassVar[str] = ""
    RANGES: ClassVar[dict[str, dict]] = {}

    def __post_init__(self):
        for name, spec in self.RANGES.items():
            check_number(f"{PREFIX}.{self.GROUP}.{name}", getattr(self, name), **spec)
