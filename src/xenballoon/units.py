"""Units: the page size, KiB/MiB/pages conversions, and sizes written as text.

Every conversion to a coarser unit rounds down, as the kernel's shifts do.

Sizes (`parse_size`): a decimal integer, then optionally (spaces allowed in between) one
unit: ``B``; ``K``, ``KB``, ``KiB``; ``M``, ``MB``, ``MiB``; ``G``, ``GB``, ``GiB``; ``T``,
``TB``, ``TiB``, in any case.  Every unit is a power of 1024 -- ``KB`` means KiB, as it does
to ``xl`` and to the kernel.  A bare number is KiB everywhere (`parse_size`, `parse_kb`, the
toolstack, the CLI), as xl's manual page gives it for ``xl mem-set`` and ``xl mem-max``
(``docs/man/xl.1.pod.in``: "The default unit is kiB", suffixes ``t``/``g``/``m``/``k``/``b``;
note that xl's own parser, ``parse_mem_size_kb`` in ``tools/xl/xl_parse.c``, reads a bare
number as MiB -- write the unit to be unambiguous to both).  A caller may name another
default (``default_unit=``).  Anything else -- a sign, a fraction (write ``1536M``, not
``1.5G``), hex, underscores, an unknown unit, more digits than any 64-bit size has -- raises
`InvalidArgument` (a ``ValueError``) whose message starts "bad size" and names the text.
"""

from __future__ import annotations

import re

from .errors import InvalidArgument, InvalidType

__all__ = ["DEFAULT_UNIT", "KIB_PER_PAGE", "MAX_SIZE", "MIB_SHIFT", "PAGES_PER_MIB", "PAGE_SHIFT",
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


DEFAULT_UNIT = "K"  # a bare number is KiB, as for `xl mem-set` (see the module docstring)
# 2**64 - 1 has 20 digits: anything longer (leading zeros aside) is too big to convert
_MAX_DIGITS = len(str(MAX_SIZE))


def _shown(text: str) -> str:
    """``text`` for an error message: its repr, cut short if it is long."""
    return repr(text) if len(text) <= 40 else f"{text[:24]!r}... ({len(text):,} characters)"


def parse_size(text: str, *, default_unit: str = DEFAULT_UNIT) -> int:
    """Bytes named by ``text`` such as ``"4GiB"``, ``"512M"``, ``"1024k"`` or ``"4096b"``.

    A bare number is in ``default_unit`` (KiB unless given, as xl reads it; any unit above).
    """
    if not isinstance(text, str):
        raise InvalidType(f"a size is a str such as '512M', not {type(text).__name__}")
    if default_unit.lower() not in _UNITS:
        raise InvalidArgument(f"unknown default unit {default_unit!r}")
    match = _SIZE.fullmatch(text.strip())
    unit = (match[2] or default_unit).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise InvalidArgument(f"bad size {_shown(text)}: want a whole number and an optional "
                              "unit B, K, M, G or T (KiB, MiB, ... and KB, MB, ... also mean "
                              "powers of 1024; a bare number is KiB), such as '512M' or "
                              "'4GiB'")
    digits = match[1].lstrip("0") or "0"
    # checked before int(): Python refuses to convert more than 4,300 digits on its own
    size = MAX_SIZE + 1 if len(digits) > _MAX_DIGITS else int(digits) << _UNITS[unit]
    if size > MAX_SIZE:
        raise InvalidArgument(f"bad size {_shown(text)}: past 2**64 - 1 bytes")
    return size


def parse_kb(text: str) -> int:
    """KiB as ``xl mem-set`` reads its size: a bare number is KiB; rounded down to KiB."""
    return size_to_kb(parse_size(text, default_unit="K"))
