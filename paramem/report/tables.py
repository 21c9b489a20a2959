"""What the report's text tables, dose-response rows and figures share: the family and the
swept parameter of a method name, and the layout of a plain-text table."""

from __future__ import annotations

import re
from typing import Sequence

# "<family><sep><k=>?<number>%?" -- the number is the swept parameter (mink_0.2, mink++_k=0.5).
_SWEPT = re.compile(r"^(?P<family>.+?)[_\-@:= ]?(?:k=?)?(?P<parameter>\d+(?:\.\d+)?|\.\d+)%?$")


def method_family(name: str) -> str:
    """``name`` without its trailing numeric parameter (``mink_0.2`` -> ``mink``)."""
    m = _SWEPT.match(name)
    return m.group("family") if m else name


def parameter(name: str) -> float | None:
    """The swept parameter of ``name`` (``mink_0.2`` -> 0.2), None when it has none."""
    m = _SWEPT.match(name)
    return float(m.group("parameter")) if m else None


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> tuple[list[str], list[int]]:
    """(lines, column widths): the header, a rule, then the rows, columns left-aligned two
    spaces apart (rows without trailing blanks)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return lines, widths
