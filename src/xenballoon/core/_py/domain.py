"""A domain's reservation and the XENMEM hypercalls (``csrc/domain.c``).

The physmap maps gfn -> mfn (NIL: unpopulated); the hypercalls move frames between it
and the host's pool.
"""

from __future__ import annotations

import numpy as np

from ..abi import EINVAL, MAX_GFNS, NIL
from .host import Host, snapshot

__all__ = ["Domain", "domain_grow", "domain_new", "domain_p2m", "domain_release",
           "domain_state_bytes", "xenmem_decrease_reservation", "xenmem_populate_physmap"]


class Domain:
    """struct xb_domain: the physmap (gfn -> mfn) and page counts."""

    def __init__(self, host: Host, domid: int, max_pages: int) -> None:
        self.host = host
        self.domid = domid
        self.p2m = np.zeros(0, dtype=np.uint32)
        self.nr_gfns = 0
        self.tot_pages = 0
        self.max_pages = max_pages


def _release_frame(d: Domain, gfn: int) -> None:
    """C: release_frame.  Unmap gfn and push its frame on the pool (scrubbed if Xen scrubs)."""
    h = d.host
    mfn = int(d.p2m[gfn])
    d.p2m[gfn] = NIL
    d.tot_pages -= 1
    if h.scrub_freed:
        h.tag[mfn] = 0
    h.free_stack[h.free_pages] = mfn
    h.free_pages += 1


def _hand_frame(h: Host, domid: int) -> int:
    """C: hand_frame.  Pop the pool's top frame for domid, counting a leak if it holds
    another domain's data."""
    h.free_pages -= 1
    mfn = int(h.free_stack[h.free_pages])
    tag = int(h.tag[mfn])
    if tag != 0 and tag != domid:
        h.leaks += 1
    return mfn


def domain_new(h: Host, domid: int, memory: int, max_pages: int) -> Domain | None:
    """C: xb_domain_new."""
    if memory > h.free_pages or memory > MAX_GFNS:
        return None
    d = Domain(h, domid, max_pages)
    domain_grow(d, memory)
    for gfn in range(memory):
        d.p2m[gfn] = _hand_frame(h, domid)
    d.tot_pages = memory
    return d


def domain_release(d: Domain) -> None:
    """C: xb_domain_release.  Every frame back to the pool."""
    for gfn in range(d.nr_gfns):
        if d.p2m[gfn] != NIL:
            _release_frame(d, gfn)


def domain_grow(d: Domain, nr_gfns: int) -> int:
    """C: xb_domain_grow."""
    if nr_gfns <= d.nr_gfns:
        return 0
    if nr_gfns > MAX_GFNS:
        return EINVAL
    grown = np.full(nr_gfns, NIL, dtype=np.uint32)
    grown[: d.nr_gfns] = d.p2m[: d.nr_gfns]
    d.p2m = grown
    d.nr_gfns = nr_gfns
    return 0


def domain_p2m(d: Domain, start: int = 0, stop: int | None = None) -> np.ndarray:
    """C: a read-only copy of the ``p2m`` field of xb_domain, gfns [start, stop)."""
    return snapshot(d.p2m, d.nr_gfns, start, stop)


def domain_state_bytes(d: Domain) -> int:
    """C: xb_domain_state_bytes."""
    return d.nr_gfns * 4


def xenmem_populate_physmap(d: Domain, gfns: np.ndarray) -> int:
    """C: xb_xenmem_populate_physmap.  XENMEM_populate_physmap: populate gfns in turn,
    stopping at the first that fails."""
    h = d.host
    limit = len(gfns)
    if h.fault_increase_calls > 0:
        h.fault_increase_calls -= 1
        limit = min(limit, h.fault_increase_max)
    done = 0
    while done < limit:
        gfn = int(gfns[done])
        if gfn >= d.nr_gfns or d.p2m[gfn] != NIL:
            break
        if h.free_pages == 0 or d.tot_pages >= d.max_pages:
            break
        d.p2m[gfn] = _hand_frame(h, d.domid)
        d.tot_pages += 1
        done += 1
    return done


def xenmem_decrease_reservation(d: Domain, gfns: np.ndarray) -> int:
    """C: xb_xenmem_decrease_reservation.  XENMEM_decrease_reservation: release gfns in
    turn, stopping at the first not populated."""
    done = 0
    for gfn in gfns:
        gfn = int(gfn)
        if gfn >= d.nr_gfns or d.p2m[gfn] == NIL:
            break
        _release_frame(d, gfn)
        done += 1
    return done
