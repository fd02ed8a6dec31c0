"""A guest's pages and its page allocator (``csrc/guest.c``).

Per pfn a byte of flags and a list link; one LIFO free list per zone (lowmem, highmem);
the workload takes pages from it, highmem first.
"""

from __future__ import annotations

import numpy as np

from ..abi import (
    ANON_END,
    EINVAL,
    GFP_HIGHUSER,
    MAX_GFNS,
    NIL,
    PG_BALLOON,
    PG_CACHE,
    PG_FREE,
    PG_HANDED,
    PG_HIGHMEM,
    PG_MARK,
    PG_OFFLINE,
    PG_STATE,
    PG_WORKLOAD,
)
from .domain import Domain
from .host import snapshot

__all__ = ["Guest", "Stats", "VmStat", "count_flags", "guest_check", "guest_flags", "guest_grow",
           "guest_new",
           "guest_set_batch", "guest_state_bytes", "workload_alloc", "workload_free"]


class Stats:
    """struct balloon_stats."""

    __slots__ = ("current_pages", "target_pages", "target_unpopulated", "balloon_low",
                 "balloon_high", "total_pages", "schedule_delay", "max_schedule_delay",
                 "retry_count", "max_retry_count")

    def __init__(self) -> None:
        self.current_pages = 0
        self.target_pages = 0
        self.target_unpopulated = 0
        self.balloon_low = 0
        self.balloon_high = 0
        self.total_pages = 0
        self.schedule_delay = 0
        self.max_schedule_delay = 0
        self.retry_count = 0
        self.max_retry_count = 0


class VmStat:
    """struct xb_vmstat: the memory model's demand and counters (pages; seconds)."""

    __slots__ = ("nr_anon", "anon_demand", "killed", "file_ws", "kill_unit", "swap_pages",
                 "swap_used", "pswpout", "pswpin", "refaults", "pgsteal", "balloon_reclaimed",
                 "oom_kills", "oom_killed_pages", "steps", "unmet_page_seconds",
                 "pressure_seconds")

    def __init__(self) -> None:
        self.nr_anon = self.anon_demand = self.killed = self.file_ws = 0
        self.kill_unit = self.swap_pages = self.swap_used = 0
        self.pswpout = self.pswpin = self.refaults = self.pgsteal = 0
        self.balloon_reclaimed = self.oom_kills = self.oom_killed_pages = self.steps = 0
        self.unmet_page_seconds = 0.0
        self.pressure_seconds = 0.0


class Guest:
    """A guest's pages: flags and one list link per pfn, the free lists, the balloon."""

    def __init__(self, dom: Domain, nr_pfns: int, lowmem_pages: int, reserve: int, batch: int,
                 scrub_pages: bool) -> None:
        self.dom = dom
        self.flags = np.zeros(nr_pfns, dtype=np.uint8)
        self.next = np.full(nr_pfns, NIL, dtype=np.uint32)
        self.nr_pfns = nr_pfns
        self.capacity = nr_pfns
        self.lowmem_pages = lowmem_pages
        self.balloon_head = NIL
        self.balloon_tail = NIL
        self.free_head = [NIL, NIL]
        self.nr_free = [0, 0]
        self.totalram_pages = 0
        self.totalreserve_pages = reserve
        self.fail_page_allocs = 0
        self.scrub_pages = int(scrub_pages)
        self.batch = batch
        self.frame_list = np.zeros(batch, dtype=np.uint64)
        self.stats = Stats()
        self.anon_head = ANON_END
        self.cache_head = [NIL, NIL]
        self.cache_tail = [NIL, NIL]
        self.nr_cache = [0, 0]
        self.vm = VmStat()


def _zone(g: Guest, pfn: int) -> int:
    """C: zone_of.  1 for highmem: the free list the page belongs on."""
    return 1 if g.flags[pfn] & PG_HIGHMEM else 0


def free_page(g: Guest, pfn: int) -> None:
    """C: xb_free_page (xb_impl.h).  Give a page to the allocator (LIFO, per zone)."""
    z = _zone(g, pfn)
    g.next[pfn] = g.free_head[z]
    g.free_head[z] = pfn
    g.nr_free[z] += 1
    g.flags[pfn] = (g.flags[pfn] & (0xFF ^ PG_STATE)) | PG_FREE


def guest_new(d: Domain, nr_pfns: int, lowmem_pages: int, reserve_pages: int, batch: int,
              scrub_pages: bool) -> Guest:
    """C: xb_guest_new."""
    g = Guest(d, nr_pfns, lowmem_pages, reserve_pages, batch, scrub_pages)
    for pfn in range(nr_pfns):
        if pfn >= lowmem_pages:
            g.flags[pfn] = PG_HIGHMEM
    # Pushed in descending order so that the lowest pfn is allocated first.
    for pfn in range(nr_pfns - 1, -1, -1):
        if pfn < d.nr_gfns and d.p2m[pfn] != NIL:
            free_page(g, pfn)
            g.totalram_pages += 1
    return g


def guest_grow(g: Guest, nr_pfns: int) -> int:
    """C: xb_guest_grow."""
    if nr_pfns <= g.nr_pfns:
        return 0
    if nr_pfns > MAX_GFNS:
        return EINVAL
    old = g.nr_pfns
    flags = np.zeros(nr_pfns, dtype=np.uint8)
    flags[:old] = g.flags[:old]
    for pfn in range(old, nr_pfns):
        if pfn >= g.lowmem_pages:
            flags[pfn] = PG_HIGHMEM
    nxt = np.full(nr_pfns, NIL, dtype=np.uint32)
    nxt[:old] = g.next[:old]
    g.flags, g.next = flags, nxt
    g.nr_pfns = g.capacity = nr_pfns
    return 0


def guest_set_batch(g: Guest, batch: int) -> int:
    """C: xb_guest_set_batch.  Resize the frame_list (the driver's batch size)."""
    g.frame_list = np.zeros(batch, dtype=np.uint64)
    g.batch = batch
    return 0


def guest_flags(g: Guest, start: int = 0, stop: int | None = None) -> np.ndarray:
    """C: a read-only copy of the ``flags`` field of xb_guest, pfns [start, stop)."""
    return snapshot(g.flags, g.nr_pfns, start, stop)


def guest_state_bytes(g: Guest) -> int:
    """C: xb_guest_state_bytes."""
    return g.capacity * (1 + 4) + g.batch * 8


def _take_free(g: Guest, z: int) -> int:
    """C: the free-list pop inlined in take_for_workload and decrease (balloon.c)."""
    pfn = g.free_head[z]
    g.free_head[z] = int(g.next[pfn])
    g.next[pfn] = NIL
    g.nr_free[z] -= 1
    g.flags[pfn] &= (0xFF ^ PG_FREE)
    return pfn


def alloc_page(g: Guest, gfp: int) -> int:
    """C: the free-list walk in balloon.c's decrease.  alloc_page(): GFP_HIGHUSER prefers
    highmem, GFP_USER takes lowmem only."""
    if g.fail_page_allocs > 0:
        g.fail_page_allocs -= 1
        return NIL
    if gfp == GFP_HIGHUSER and g.nr_free[1]:
        return _take_free(g, 1)
    if g.nr_free[0]:
        return _take_free(g, 0)
    return NIL


def workload_alloc(g: Guest, n: int) -> np.ndarray | None:
    """C: xb_workload_alloc (take_for_workload, highmem first)."""
    if n > g.nr_free[0] + g.nr_free[1]:
        return None
    h, domid = g.dom.host, g.dom.domid
    out = np.zeros(n, dtype=np.uint64)
    for i in range(n):
        z = 1 if g.nr_free[1] else 0
        pfn = _take_free(g, z)
        g.flags[pfn] |= PG_WORKLOAD
        mfn = int(g.dom.p2m[pfn]) if pfn < g.dom.nr_gfns else NIL
        if mfn < h.total_pages:  # a free page can lose its frame to a stray hypercall
            h.tag[mfn] = domid
        out[i] = pfn
    return out


def mark_all(g: Guest, pfns: np.ndarray, state: int) -> int:
    """C: xb_mark_all (xb_impl.h).  Mark each pfn if it is in `state` and not yet marked;
    on failure unmark, return index."""
    for i, pfn in enumerate(pfns):
        pfn = int(pfn)
        if pfn >= g.nr_pfns or not g.flags[pfn] & state or g.flags[pfn] & PG_MARK:
            for j in range(i):
                g.flags[int(pfns[j])] &= (0xFF ^ PG_MARK)
            return i
        g.flags[pfn] |= PG_MARK
    for pfn in pfns:
        g.flags[int(pfn)] &= (0xFF ^ PG_MARK)
    return len(pfns)


def workload_free(g: Guest, pfns: np.ndarray) -> int:
    """C: xb_workload_free.  The user's pages only: the memory model frees its own (those
    linked on its anon list)."""
    users = len(pfns)
    for i, pfn in enumerate(pfns):
        if int(pfn) < g.nr_pfns and g.next[int(pfn)] != NIL:
            users = i
            break
    bad = mark_all(g, pfns[:users], PG_WORKLOAD)
    if bad != users or users != len(pfns):
        return bad
    for pfn in pfns:
        free_page(g, int(pfn))
    return len(pfns)


def guest_check(g: Guest) -> str | None:
    """C: xb_guest_check.  Every pfn in one state, lists consistent with flags and counters.

    Also: handed-out pages are lowmem and counted by ``target_unpopulated``; a workload
    page's frame holds the workload's data; the domain holds exactly the populated pfns.
    """
    d = g.dom
    # NOTE: plain lists instead of numpy scalars, for performance reasons (checks run
    # after every step of the property tests).
    flags, nxt, tag = g.flags[: g.nr_pfns].tolist(), g.next.tolist(), d.host.tag
    p2m = d.p2m[: min(d.nr_gfns, g.nr_pfns)].tolist()
    counts = {PG_FREE: 0, PG_WORKLOAD: 0, PG_BALLOON: 0, PG_HANDED: 0, PG_OFFLINE: 0,
              PG_CACHE: 0}
    linked = 0
    for pfn in range(g.nr_pfns):
        f = flags[pfn]
        if f & PG_MARK:
            return f"pfn {pfn} has a stale mark"
        if bool(f & PG_HIGHMEM) != (pfn >= g.lowmem_pages):
            return f"pfn {pfn} has the wrong highmem flag"
        state = f & PG_STATE
        if state not in (0, PG_FREE, PG_WORKLOAD, PG_BALLOON, PG_HANDED, PG_OFFLINE, PG_CACHE):
            return f"pfn {pfn} is in more than one state (flags {f:#x})"
        populated = pfn < d.nr_gfns and p2m[pfn] != NIL
        if populated != bool(state & (PG_FREE | PG_WORKLOAD | PG_CACHE)):
            what = "populated" if populated else "not populated"
            return f"pfn {pfn} is {what} but has flags {f:#x}"
        if state == PG_HANDED and f & PG_HIGHMEM:
            return f"pfn {pfn} is handed out but highmem"
        data = state in (PG_WORKLOAD, PG_CACHE)
        if data and p2m[pfn] >= d.host.total_pages:
            return f"workload pfn {pfn} maps mfn {p2m[pfn]}, beyond the host's frames"
        if data and tag[p2m[pfn]] != d.domid:
            return (f"pfn {pfn} belongs to the workload but its frame holds "
                    f"tag {int(tag[p2m[pfn]])}, not {d.domid}")
        if state == PG_WORKLOAD and nxt[pfn] != NIL:
            linked += 1
        if state:
            counts[state] += 1
    for z in (0, 1):
        n, pfn = 0, g.free_head[z]
        while pfn != NIL:
            if (n >= g.nr_pfns or pfn >= g.nr_pfns or not flags[pfn] & PG_FREE
                    or bool(flags[pfn] & PG_HIGHMEM) != bool(z)):
                return f"free list {z} is corrupt at pfn {pfn}"
            n += 1
            pfn = nxt[pfn]
        if n != g.nr_free[z]:
            return f"free list {z} holds {n} pages but nr_free is {g.nr_free[z]}"
    if counts[PG_FREE] != g.nr_free[0] + g.nr_free[1]:
        return f"{counts[PG_FREE]} pages are flagged free but the free lists hold fewer"
    for z in (0, 1):
        n, pfn, last = 0, g.cache_head[z], NIL
        while pfn != NIL:
            if (n >= g.nr_pfns or pfn >= g.nr_pfns or not flags[pfn] & PG_CACHE
                    or bool(flags[pfn] & PG_HIGHMEM) != bool(z)):
                return f"page cache list {z} is corrupt at pfn {pfn}"
            n += 1
            last, pfn = pfn, nxt[pfn]
        if last != g.cache_tail[z]:
            return f"page cache list {z} ends at {last} but its tail is {g.cache_tail[z]}"
        if n != g.nr_cache[z]:
            return f"page cache list {z} holds {n} pages but nr_cache is {g.nr_cache[z]}"
    if counts[PG_CACHE] != g.nr_cache[0] + g.nr_cache[1]:
        return f"{counts[PG_CACHE]} pages are flagged page cache but the cache lists hold fewer"
    n, pfn = 0, g.anon_head
    while pfn != ANON_END:
        if n >= g.nr_pfns or pfn >= g.nr_pfns or not flags[pfn] & PG_WORKLOAD:
            return f"anon list is corrupt at pfn {pfn}"
        n += 1
        pfn = nxt[pfn]
    if n != g.vm.nr_anon or linked != n:
        return f"anon list holds {n} pages, {linked} are linked, but nr_anon is {g.vm.nr_anon}"
    if g.vm.swap_used > g.vm.swap_pages:
        return f"swap holds {g.vm.swap_used} pages of {g.vm.swap_pages}"
    low = high = 0
    pfn, last = g.balloon_head, NIL
    while pfn != NIL:
        if low + high >= g.nr_pfns or pfn >= g.nr_pfns or not flags[pfn] & PG_BALLOON:
            return f"balloon list is corrupt at pfn {pfn}"
        if flags[pfn] & PG_HIGHMEM:
            high += 1
        elif high:
            return f"lowmem pfn {pfn} follows highmem in the balloon list"
        else:
            low += 1
        last, pfn = pfn, nxt[pfn]
    s = g.stats
    if last != g.balloon_tail:
        return f"balloon tail is {g.balloon_tail} but the list ends at {last}"
    if low != s.balloon_low or high != s.balloon_high:
        return (f"balloon list holds {low} low + {high} high pages but stats say "
                f"{s.balloon_low} + {s.balloon_high}")
    if counts[PG_BALLOON] != low + high:
        return f"{counts[PG_BALLOON]} pages are flagged ballooned but the list holds {low + high}"
    managed = counts[PG_FREE] + counts[PG_WORKLOAD] + counts[PG_CACHE]
    if g.totalram_pages != managed:
        return f"totalram_pages is {g.totalram_pages} but {managed} pages are managed"
    if d.tot_pages != managed:
        return f"domain {d.domid} holds {d.tot_pages} frames but {managed} pfns are populated"
    if counts[PG_HANDED] != s.target_unpopulated:
        return (f"{counts[PG_HANDED]} pages are handed out but target_unpopulated is "
                f"{s.target_unpopulated}")
    if s.total_pages:  # the balloon driver is initialised
        if s.current_pages != managed:
            return f"current_pages is {s.current_pages} but {managed} pfns are populated"
        exist = sum(counts.values())  # holes (no state bit) do not exist
        if s.total_pages != exist:
            return f"total_pages is {s.total_pages} but {exist} pfns exist"
    return None


def count_flags(g: Guest, start: int, stop: int, mask: int) -> int:
    """C: xb_count_flags.  pfns in [start, stop) whose flags have a bit of ``mask`` set."""
    return int(np.count_nonzero(g.flags[start: min(stop, g.nr_pfns)] & mask))
