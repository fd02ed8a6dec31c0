"""The hypervisor's machine frames (``csrc/host.c``): a free stack and a data tag per frame."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..abi import NIL

# `snapshot` is shared with the sibling modules, not part of a core's namespace
__all__ = ["Host", "Physmap", "host_check", "host_new", "host_state_bytes", "host_tags"]


class Host:
    """struct xb_host: the pool of free mfns (a stack) and, per mfn, whose data it holds."""

    def __init__(self, total_pages: int, scrub_freed: bool) -> None:
        self.total_pages = total_pages
        # mfn 0 sits on top of the stack, so frames are handed out in mfn order.
        self.free_stack = np.arange(total_pages - 1, -1, -1, dtype=np.uint32)
        self.free_pages = total_pages
        self.tag = np.zeros(total_pages, dtype=np.uint32)
        self.leaks = 0
        self.scrub_freed = int(scrub_freed)
        self.fault_increase_calls = 0
        self.fault_increase_max = 0


class Physmap(Protocol):
    """What host_check reads of a domain (``domain.Domain``; no import upward)."""

    domid: int
    p2m: np.ndarray
    nr_gfns: int
    tot_pages: int


def host_new(total_pages: int, scrub_freed: bool) -> Host:
    """C: xb_host_new."""
    return Host(total_pages, scrub_freed)


def snapshot(array: np.ndarray, length: int, start: int = 0,
             stop: int | None = None) -> np.ndarray:
    """C: none (the cffi binding copies out of a C array alike).  A read-only copy of
    items [start, stop) of the first `length` (slice rules)."""
    start, stop, _ = slice(start, stop).indices(length)
    out = array[start: max(start, stop)].copy()
    out.flags.writeable = False
    return out


def host_tags(h: Host, start: int = 0, stop: int | None = None) -> np.ndarray:
    """C: a read-only copy of the ``tag`` field of xb_host."""
    return snapshot(h.tag, h.total_pages, start, stop)


def host_state_bytes(h: Host) -> int:
    """C: xb_host_state_bytes."""
    return h.total_pages * (4 + 4)


def host_check(h: Host, doms: list[Physmap]) -> str | None:
    """C: xb_host_check.  Every frame in one place; tot_pages matches the physmap."""
    # NOTE: plain lists instead of numpy scalars, for performance reasons (checks run
    # after every step of the property tests).
    seen = [False] * h.total_pages
    pool = h.free_stack[: h.free_pages].tolist()
    for i in range(h.free_pages):
        mfn = pool[i]
        if mfn >= h.total_pages:
            return f"pool slot {i} holds mfn {mfn}, beyond the host's {h.total_pages} frames"
        if seen[mfn]:
            return f"mfn {mfn} is in the pool twice"
        seen[mfn] = True
    held = 0
    for d in doms:
        populated = 0
        p2m = d.p2m[: d.nr_gfns].tolist()
        for gfn in range(d.nr_gfns):
            mfn = p2m[gfn]
            if mfn == NIL:
                continue
            if mfn >= h.total_pages:
                return f"domain {d.domid} gfn {gfn} maps mfn {mfn}, beyond the host's frames"
            if seen[mfn]:
                return f"mfn {mfn} is held twice (found again at domain {d.domid} gfn {gfn})"
            seen[mfn] = True
            populated += 1
        if populated != d.tot_pages:
            return (f"domain {d.domid} has tot_pages {d.tot_pages} "
                    f"but {populated} populated gfns")
        held += populated
    if h.free_pages + held != h.total_pages:
        for mfn in range(h.total_pages):
            if not seen[mfn]:
                return (f"mfn {mfn} is lost: pool {h.free_pages} + domains {held} "
                        f"!= total {h.total_pages}")
    return None
