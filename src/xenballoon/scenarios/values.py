"""Values as scenario files write them: sizes and times: ``"4GiB"``, ``512``, ``"30s"``, ``"5m"``.

A size is a whole number of bytes, or a string as ``xl`` reads one (``toolstack.parse_size``:
units B, K/KiB/KB, M/MiB/MB, G/GiB/GB, T/TiB/TB, all powers of 1024); it becomes whole pages,
rounded down as the kernel's shifts do.  A time is a number of seconds, or a string with one
unit ``ms``, ``s``, ``m`` or ``h``.  Both raise `InvalidArgument` (a ``ValueError``) saying what was
expected;
the schema (``spec``) turns that into an error naming the key.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..errors import InvalidArgument
from ..units import PAGE_SIZE, parse_size

__all__ = ["EXPECTED_SIZE", "EXPECTED_TIME", "format_pages", "to_pages", "to_positive_pages",
           "to_positive_seconds", "to_seconds"]

EXPECTED_SIZE = ("a size such as '512MiB' or '4GiB' (units B, KiB, MiB, GiB, TiB; K, M, G, T) "
                 "or a whole number of bytes")
EXPECTED_TIME = "a time in seconds, or a string such as '250ms', '30s', '5m' or '1h'"
_TIME = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+) *(ms|s|m|h)?")
_SECONDS = {None: 1.0, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def to_pages(value: Any) -> int:
    """Whole pages in a size (a str with a unit, or an int of bytes), rounded down."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value // PAGE_SIZE
    if isinstance(value, str):
        try:
            return parse_size(value) // PAGE_SIZE
        except InvalidArgument:
            pass
    raise InvalidArgument(f"expected {EXPECTED_SIZE}, got {_shown(value)}")


def to_seconds(value: Any) -> float:
    """Seconds in a time (a number of seconds, or a str with ms/s/m/h)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _TIME.fullmatch(value.strip()) if isinstance(value, str) else None
        seconds = float(match[1]) * _SECONDS[match[2]] if match else math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidArgument(f"expected {EXPECTED_TIME}, got {_shown(value)}")
    return seconds


def to_positive_pages(value: Any) -> int:
    """A size of at least one page."""
    pages = to_pages(value)
    if pages < 1:
        raise InvalidArgument(f"expected a size of at least one page (4 KiB), got {_shown(value)}")
    return pages


def to_positive_seconds(value: Any) -> float:
    """A time above zero."""
    seconds = to_seconds(value)
    if seconds <= 0:
        raise InvalidArgument(f"expected a time above 0, got {_shown(value)}")
    return seconds


def format_pages(pages: int) -> str:
    """Pages as a short size for people: ``'1.5 GiB'``, ``'512 MiB'``, ``'12 KiB'``."""
    size = pages * PAGE_SIZE
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20)):
        if size >= 1 << shift:
            return f"{size / (1 << shift):.4g} {unit}"
    return f"{size >> 10} KiB"
