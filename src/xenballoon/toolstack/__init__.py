"""The toolstack (``tools/xl``): what a host administrator runs, as data.

`xl` holds ``xl mem-set``, ``xl mem-max`` and ``xl list`` (`domain_list`, `DomainInfo`);
sizes as text come from `xenballoon.units`.  ``domain_table`` (``xl list`` as a rich table)
lives with the terminal rendering in `xenballoon.cli.render` and is loaded from there on first
use, so that importing the toolstack does not import rich.
"""

from __future__ import annotations

from typing import Any

from ..units import parse_kb, parse_size, size_to_kb, size_to_pages
from .xl import DomainInfo, domain_list, mem_max, mem_set

__all__ = ["DomainInfo", "domain_list", "domain_table", "mem_max", "mem_set", "parse_kb",
           "parse_size", "size_to_kb", "size_to_pages"]


def __getattr__(name: str) -> Any:
    # The one upward import of the package, kept for compatibility and allowed by name in
    # tests/test_layout.py: `domain_table` moved to the CLI, which owns rich.
    if name == "domain_table":
        from ..cli.render import domain_table

        return domain_table
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
