"""What a host administrator gets from ``xl``: sizes as text, ``xl list``, mem-set and mem-max.

Sizes (``parse_size``): a decimal integer, then optionally (spaces allowed in between) one
unit: ``B``; ``K``, ``KB``, ``KiB``; ``M``, ``MB``, ``MiB``; ``G``, ``GB``, ``GiB``; ``T``,
``TB``, ``TiB``, in any case.  Every unit is a power of 1024 -- ``KB`` means KiB, as it does
to ``xl`` and to the kernel.  A bare number is bytes unless the caller names another unit:
``xl mem-set`` and ``xl mem-max`` read a bare number as KiB, and so do ``parse_kb``,
``mem_set`` and ``mem_max`` here.  Anything else -- a sign, a fraction (write ``1536M``, not
``1.5G``), hex, underscores, an unknown unit -- raises ``ValueError`` naming the text.
Conversions to KiB and pages round down, as the kernel's shifts do.

``domain_list(hv)`` is ``xl list`` as data (one ``DomainInfo`` per domain, memory in MiB
rounded down) and ``domain_table(...)`` the same as a rich table to print.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rich import box
from rich.table import Table

from .hypervisor import PAGE_SIZE, Domain, Hypervisor

__all__ = ["DomainInfo", "domain_list", "domain_table", "mem_max", "mem_set", "parse_kb",
           "parse_size", "size_to_kb", "size_to_pages"]

MAX_SIZE = (1 << 64) - 1  # bytes: what a 64-bit toolstack can name
_UNITS = {"b": 0, "k": 10, "kb": 10, "kib": 10, "m": 20, "mb": 20, "mib": 20,
          "g": 30, "gb": 30, "gib": 30, "t": 40, "tb": 40, "tib": 40}
_SIZE = re.compile(r"([0-9]+) *([A-Za-z]*)")
_DOMID = re.compile(r"[0-9]+")


def parse_size(text: str, *, default_unit: str = "B") -> int:
    """Bytes named by ``text`` such as ``"4GiB"``, ``"512M"``, ``"1024k"`` or ``"4096"``.

    A bare number is in ``default_unit`` (bytes unless given; any unit above).
    """
    if not isinstance(text, str):
        raise TypeError(f"a size is a str such as '512M', not {type(text).__name__}")
    if default_unit.lower() not in _UNITS:
        raise ValueError(f"unknown default unit {default_unit!r}")
    match = _SIZE.fullmatch(text.strip())
    unit = (match[2] or default_unit).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(f"bad size {text!r}: want a whole number and an optional unit "
                         "B, K, M, G or T (KiB, MiB, ... and KB, MB, ... also mean "
                         "powers of 1024), such as '512M' or '4GiB'")
    size = int(match[1]) << _UNITS[unit]
    if size > MAX_SIZE:
        raise ValueError(f"size {text!r} is past 2**64 - 1 bytes")
    return size


def size_to_kb(nbytes: int) -> int:
    """Whole KiB in ``nbytes`` (rounded down)."""
    return nbytes >> 10


def size_to_pages(nbytes: int) -> int:
    """Whole pages in ``nbytes`` (rounded down)."""
    return nbytes // PAGE_SIZE


def parse_kb(text: str) -> int:
    """KiB as ``xl mem-set`` reads its size: a bare number is KiB; rounded down to KiB."""
    return size_to_kb(parse_size(text, default_unit="K"))


def _domain(hv: Hypervisor, domain: Domain | int | str) -> Domain:
    """A domain by object, domid, or name (all digits: a domid, as xl decides)."""
    if isinstance(domain, str) and not _DOMID.fullmatch(domain):
        found = [d for d in hv.domains.values() if d.name == domain]
        if len(found) != 1:
            raise ValueError(f"{'no' if not found else 'more than one'} domain "
                             f"named {domain!r}")
        return found[0]
    if isinstance(domain, str):
        domain = int(domain)
    return hv._lookup(domain)


def _kb(size: int | str) -> int:
    return parse_kb(size) if isinstance(size, str) else size


def mem_set(hv: Hypervisor, domain: Domain | int | str, size: int | str) -> None:
    """``xl mem-set DOMAIN SIZE``: write the domain's ``memory/target``.

    ``size`` is KiB as an int, or text as xl reads it (``"256m"``; bare numbers are KiB).
    Refused with ``ValueError``, as ``libxl_set_memory_target`` (``libxl_mem.c``) refuses it,
    when the target is above the domain's ``memory/static-max``.
    """
    dom, target_kb = _domain(hv, domain), _kb(size)
    static_max = _node_kb(hv, dom, "static-max")
    if static_max is not None and target_kb > static_max:
        raise ValueError(f"xl mem-set {dom.name}: cannot set the memory target above "
                         f"static-max ({target_kb} KiB > {static_max} KiB)")
    hv.mem_set(dom.domid, target_kb)


def mem_max(hv: Hypervisor, domain: Domain | int | str, size: int | str) -> None:
    """``xl mem-max DOMAIN SIZE``: set the domain's ``max_pages`` (sizes as for mem_set).

    Refused with ``ValueError``, as ``libxl_domain_setmaxmem`` (``libxl_mem.c``) refuses it,
    when the new maximum is below the domain's current ``memory/target``.
    """
    dom, max_kb = _domain(hv, domain), _kb(size)
    target = _node_kb(hv, dom, "target")
    if target is not None and max_kb < target:
        raise ValueError(f"xl mem-max {dom.name}: cannot set the maximum below the memory "
                         f"target ({max_kb} KiB < {target} KiB)")
    hv.mem_max(dom.domid, max_kb)


def _node_kb(hv: Hypervisor, dom: Domain, node: str) -> int | None:
    """``memory/<node>`` of the domain in KiB, if it is there and parses."""
    try:
        return int(hv.xenstore.read(f"{dom.home}/memory/{node}"))
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True)
class DomainInfo:
    """One line of ``xl list``, plus what the balloon driver in the guest is doing."""

    domid: int
    name: str
    mem_mib: int                 # tot_pages
    max_mib: int                 # max_pages
    target_mib: int | None       # memory/target; None if missing or unparsable
    balloon: str | None = None   # the BPState of the guest's balloon, if it runs one


MIB_SHIFT = 20


def _mib(pages: int) -> int:
    return (pages * PAGE_SIZE) >> MIB_SHIFT


def domain_list(hv: Hypervisor) -> list[DomainInfo]:
    """``xl list``: every live domain, by domid."""
    infos = []
    for domid, dom in sorted(hv.domains.items()):
        target_kb = dom.target_kb
        guest = dom.guest
        balloon = guest.balloon if guest is not None else None
        infos.append(DomainInfo(
            domid, dom.name, _mib(dom.tot_pages), _mib(dom.max_pages),
            None if target_kb is None else target_kb >> 10,
            None if balloon is None else balloon.state.name))
    return infos


def domain_table(domains: Hypervisor | Iterable[DomainInfo]) -> Table:
    """``xl list`` as a rich table (MiB), ready for ``Console.print``."""
    infos = domain_list(domains) if isinstance(domains, Hypervisor) else list(domains)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column, justify in (("Name", "left"), ("ID", "right"), ("Mem", "right"),
                            ("Max", "right"), ("Target", "right"), ("Balloon", "left")):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for i in infos:
        table.add_row(i.name, str(i.domid), str(i.mem_mib), str(i.max_mib),
                      "" if i.target_mib is None else str(i.target_mib), i.balloon or "")
    return table
