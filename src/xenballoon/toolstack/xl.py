"""What a host administrator gets from ``xl``: ``xl list`` as data, mem-set and mem-max.

Sizes are text as ``xl`` reads them (`xenballoon.units.parse_size`; ``xl mem-set`` and
``xl mem-max`` read a bare number as KiB, and so do `mem_set` and `mem_max` here).
``domain_list(hv)`` is ``xl list`` as data (one `DomainInfo` per domain, memory in MiB
rounded down); the CLI renders it (`xenballoon.cli.render.domain_table`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidArgument
from ..units import kb_to_pages, pages_to_mib, parse_kb
from ..xen import Domain, Hypervisor
from ..xen.libxl import memory_target_path, static_max_path

__all__ = ["DomainInfo", "domain_list", "mem_max", "mem_set"]

_DOMID = re.compile(r"[0-9]+")


def _domain(hv: Hypervisor, domain: Domain | int | str) -> Domain:
    """A domain by object, domid, or name (all digits: a domid, as xl decides)."""
    if isinstance(domain, str) and not _DOMID.fullmatch(domain):
        found = [d for d in hv.domains.values() if d.name == domain]
        if len(found) != 1:
            raise InvalidArgument(f"{'no' if not found else 'more than one'} domain "
                             f"named {domain!r}")
        return found[0]
    if isinstance(domain, str):
        domain = int(domain)
    return hv.lookup(domain)


def _kb(size: int | str) -> int:
    return parse_kb(size) if isinstance(size, str) else size


def mem_set(hv: Hypervisor, domain: Domain | int | str, size: int | str) -> None:
    """``xl mem-set DOMAIN SIZE``: write the domain's ``memory/target``.

    ``size`` is KiB as an int, or text as xl reads it (``"256m"``; bare numbers are KiB).
    Refused with `InvalidArgument`, as ``libxl_set_memory_target`` (``libxl_mem.c``) refuses
    it, when the target is above the domain's ``memory/static-max``; nothing is written.
    """
    dom, target_kb = _domain(hv, domain), _kb(size)
    static_max = _node_kb(hv, static_max_path(dom))
    if static_max is not None and isinstance(target_kb, int) and target_kb > static_max:
        raise InvalidArgument(f"xl mem-set {dom.name}: cannot set the memory target above "
                              f"static-max ({target_kb} KiB > {static_max} KiB)")
    hv.mem_set(dom.domid, target_kb)


def mem_max(hv: Hypervisor, domain: Domain | int | str, size: int | str) -> None:
    """``xl mem-max DOMAIN SIZE``: set the domain's ``max_pages`` (sizes as for mem_set).

    Refused with `InvalidArgument`, as ``libxl_domain_setmaxmem`` (``libxl_mem.c``) refuses
    it, when the new maximum is below the domain's current ``memory/target``.
    """
    dom, max_kb = _domain(hv, domain), _kb(size)
    target = _node_kb(hv, memory_target_path(dom))
    if target is not None and isinstance(max_kb, int) and max_kb < target:
        raise InvalidArgument(f"xl mem-max {dom.name}: cannot set the maximum below the "
                              f"memory target ({max_kb} KiB < {target} KiB)")
    hv.mem_max(dom.domid, max_kb)


def _node_kb(hv: Hypervisor, path: str) -> int | None:
    """A KiB node of the store, if it is there and parses."""
    try:
        return int(hv.xenstore.read(path))
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


def domain_list(hv: Hypervisor) -> list[DomainInfo]:
    """``xl list``: every live domain, by domid."""
    infos = []
    for domid, dom in sorted(hv.domains.items()):
        target_kb = dom.target_kb
        guest = dom.guest
        balloon = guest.balloon if guest is not None else None
        infos.append(DomainInfo(
            domid, dom.name, pages_to_mib(dom.tot_pages), pages_to_mib(dom.max_pages),
            None if target_kb is None else pages_to_mib(kb_to_pages(target_kb)),
            None if balloon is None else balloon.state.name))
    return infos

