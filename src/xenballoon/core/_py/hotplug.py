"""Memory hotplug's part of the core (``csrc/hotplug.c``): new sections' pages appear
offline, and onlining gives them to the balloon (xen_online_page)."""

from __future__ import annotations

from ..abi import EINVAL, MAX_GFNS, NIL, PG_OFFLINE, PG_STATE
from .balloon import balloon_append
from .domain import domain_grow
from .guest import Guest, guest_grow

__all__ = ["add_memory", "online_pages"]


def add_memory(g: Guest, start_pfn: int, n: int) -> int:
    """C: xb_add_memory.  add_memory_resource's memmap: pfns start_pfn.. (holes,
    unpopulated) exist now, offline.

    The guest's arrays and the domain's physmap grow to cover them; their p2m entries are
    invalid (unpopulated).  EINVAL, with nothing changed, if a pfn already exists or its gfn
    is populated.
    """
    end = start_pfn + n
    if end > MAX_GFNS:
        return EINVAL
    if n == 0:
        return 0
    d = g.dom
    for pfn in range(start_pfn, end):
        if pfn < g.nr_pfns and g.flags[pfn] & PG_STATE:
            return EINVAL
        if pfn < d.nr_gfns and d.p2m[pfn] != NIL:
            return EINVAL
    guest_grow(g, end)
    domain_grow(d, end)
    for pfn in range(start_pfn, end):
        g.flags[pfn] |= PG_OFFLINE
    return 0


def online_pages(g: Guest, start_pfn: int, n: int) -> int:
    """C: xb_online_pages.  xen_online_page for pfns start_pfn..: each offline page goes to
    the balloon, in order.

    EINVAL, with nothing changed, unless every pfn is offline.
    """
    if start_pfn + n > g.nr_pfns:
        return EINVAL
    for pfn in range(start_pfn, start_pfn + n):
        if g.flags[pfn] & PG_STATE != PG_OFFLINE:
            return EINVAL
    for pfn in range(start_pfn, start_pfn + n):
        balloon_append(g, pfn)  # clears PG_OFFLINE with the other state bits
    return 0
