"""Units: the page size, KiB/MiB/pages conversions, and sizes written as text.

Every conversion to a coarser unit rounds down, as the kernel's shifts do.

Sizes (`parse_size`): a decimal integer, then optionally (spaces allowed in between) one
unit: ``B``; ``K``, ``KB``, ``KiB``; ``M``, ``MB``, ``MiB``; ``G``, ``GB``, ``GiB``; ``T``,
``TB``, ``TiB``, in any case.  Every unit is a power of 1024 -- ``KB`` means KiB, as it does
to ``xl`` and to the kernel.  A bare number is bytes unless the caller names another unit
(``parse_kb`` reads it as KiB, as ``xl mem-set`` does).  Anything else -- a sign, a fraction
(write ``1536M``, not ``1.5G``), hex, underscores, an unknown unit -- raises
`InvalidArgument` (a ``ValueError``) naming the text.
"""

from __future__ import annotations

import re

from .errors import InvalidArgument, InvalidType

__all__ = ["KIB_PER_PAGE", "MAX_SIZE", "MIB_SHIFT", "PAGES_PER_MIB", "PAGE_SHIFT",
           "PAGE_SHIFT_KB", "PAGE_SIZE", "kb_to_pages", "pages_to_kb", "pages_to_mib",
           "parse_kb", "parse_size", "size_to_kb", "size_to_pages"]

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT            # 4096 bytes
PAGE_SHIFT_KB = PAGE_SHIFT - 10        # KiB -> pages: kib >> PAGE_SHIFT_KB
KIB_PER_PAGE = 1 << PAGE_SHIFT_KB      # 4
MIB_SHIFT = 20
PAGES_PER_MIB = 1 << (MIB_SHIFT - PAGE_SHIFT)  # 256
MAX_SIZE = (1 << 64) - 1  # bytes: what a 64-bit toolstack can name

_UNITS = {"b": 0, "k": 10, "kb": 10, "kib": 10, "m": 20, "mb": 20, "mib": 20,
          "g": 30, "gb": 30, "gib": 30, "t": 40, "tb": 40, "tib": 40}
_SIZE = re.compile(r"([0-9]+) *([A-Za-z]*)")


def kb_to_pages(kib: int) -> int:
    """Whole pages in ``kib`` KiB (rounded down)."""
    return kib >> PAGE_SHIFT_KB


def pages_to_kb(pages: int) -> int:
    """KiB in ``pages`` pages."""
    return pages << PAGE_SHIFT_KB


def pages_to_mib(pages: int) -> int:
    """Whole MiB in ``pages`` pages (rounded down)."""
    return (pages << PAGE_SHIFT) >> MIB_SHIFT


def size_to_kb(nbytes: int) -> int:
    """Whole KiB in ``nbytes`` (rounded down)."""
    return nbytes >> 10


def size_to_pages(nbytes: int) -> int:
    """Whole pages in ``nbytes`` (rounded down)."""
    return nbytes >> PAGE_SHIFT


def parse_size(text: str, *, default_unit: str = "B") -> int:
    """Bytes named by ``text`` such as ``"4GiB"``, ``"512M"``, ``"1024k"`` or ``"4096"``.

    A bare number is in ``default_unit`` (bytes unless given; any unit above).
    """
    if not isinstance(text, str):
        raise InvalidType(f"a size is a str such as '512M', not {type(text).__name__}")
    if default_unit.lower() not in _UNITS:
        raise InvalidArgument(f"unknown default unit {default_unit!r}")
    match = _SIZE.fullmatch(text.strip())
    unit = (match[2] or default_unit).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise InvalidArgument(f"bad size {text!r}: want a whole number and an optional unit "
                              "B, K, M, G or T (KiB, MiB, ... and KB, MB, ... also mean "
                              "powers of 1024), such as '512M' or '4GiB'")
    size = int(match[1]) << _UNITS[unit]
    if size > MAX_SIZE:
        raise InvalidArgument(f"size {text!r} is past 2**64 - 1 bytes")
    return size


def parse_kb(text: str) -> int:
    """KiB as ``xl mem-set`` reads its size: a bare number is KiB; rounded down to KiB."""
    return size_to_kb(parse_size(text, default_unit="K"))
