"""The balloon driver's core (``csrc/balloon.c``): the balloon list and the reservations.

The balloon list holds PageOffline pages, lowmem at the head and highmem at the tail; the
steps here move pages between it, the page allocator and the hypervisor.
"""

from __future__ import annotations

import numpy as np

from ..abi import (
    BP_DONE,
    BP_EAGAIN,
    BUG,
    EINVAL,
    ENOMEM,
    GFP_HIGHUSER,
    GFP_USER,
    NEED_RESERVE,
    NIL,
    NO_CREDIT,
    PG_BALLOON,
    PG_HANDED,
    PG_HIGHMEM,
    PG_STATE,
)
from .domain import xenmem_decrease_reservation, xenmem_populate_physmap
from .guest import Guest, alloc_page, free_page, mark_all
from .vmscan import direct_reclaim, mem_available

__all__ = ["alloc_xenballooned_pages", "balloon_add_region", "balloon_append",
           "balloon_retrieve", "balloon_turn", "balloon_turns", "ballooned_pfns",
           "decrease_reservation", "free_xenballooned_pages", "increase_reservation"]


def balloon_append(g: Guest, pfn: int) -> None:
    """C: xb_balloon_append (xb_append_page).  Add the page to the balloon (lowmem at the head)."""
    s = g.stats
    g.flags[pfn] = (g.flags[pfn] & (0xFF ^ PG_STATE)) | PG_BALLOON
    if g.flags[pfn] & PG_HIGHMEM:
        g.next[pfn] = NIL
        if g.balloon_tail == NIL:
            g.balloon_head = pfn
        else:
            g.next[g.balloon_tail] = pfn
        g.balloon_tail = pfn
        s.balloon_high += 1
    else:
        g.next[pfn] = g.balloon_head
        g.balloon_head = pfn
        if g.balloon_tail == NIL:
            g.balloon_tail = pfn
        s.balloon_low += 1


def balloon_retrieve(g: Guest, require_lowmem: bool) -> int:
    """C: xb_balloon_retrieve.  Rescue a page from the balloon head, if it is not empty."""
    pfn = g.balloon_head
    if pfn == NIL:
        return NIL
    if require_lowmem and g.flags[pfn] & PG_HIGHMEM:
        return NIL
    g.balloon_head = int(g.next[pfn])
    if g.balloon_head == NIL:
        g.balloon_tail = NIL
    g.next[pfn] = NIL
    if g.flags[pfn] & PG_HIGHMEM:
        g.stats.balloon_high -= 1
    else:
        g.stats.balloon_low -= 1
    g.flags[pfn] &= (0xFF ^ PG_BALLOON)
    return pfn


def increase_reservation(g: Guest, nr_pages: int) -> int:
    """C: xb_increase_reservation."""
    nr_pages = min(nr_pages, g.batch)
    pfn = g.balloon_head
    for i in range(nr_pages):
        if pfn == NIL:
            nr_pages = i
            break
        g.frame_list[i] = pfn
        pfn = int(g.next[pfn])
    rc = xenmem_populate_physmap(g.dom, g.frame_list[:nr_pages])
    if rc <= 0:
        return BP_EAGAIN
    for _ in range(rc):
        pfn = balloon_retrieve(g, False)
        free_page(g, pfn)  # free_reserved_page
        g.totalram_pages += 1
    g.stats.current_pages += rc
    return BP_DONE


def decrease_reservation(g: Guest, nr_pages: int, gfp: int) -> int:
    """C: xb_decrease_reservation (decrease)."""
    state = BP_DONE
    nr_pages = min(nr_pages, g.batch)
    fail_before = g.fail_page_allocs
    if nr_pages and not fail_before:  # the allocation's slow path: reclaim clean cache
        direct_reclaim(g, nr_pages, gfp)
    pages: list[int] = []
    for _ in range(nr_pages):
        pfn = alloc_page(g, gfp)
        if pfn == NIL:
            state = BP_EAGAIN
            break
        pages.append(pfn)
    nr_pages = len(pages)
    d = g.dom
    # Xen must take back every frame (BUG_ON otherwise): check before changing anything.
    for pfn in pages:
        if pfn >= d.nr_gfns or d.p2m[pfn] == NIL:
            for undo in reversed(pages):
                free_page(g, undo)
            g.fail_page_allocs = fail_before
            return BUG
    # list_add() reversed the pages: the last allocated goes first.
    for i, pfn in enumerate(reversed(pages)):
        g.totalram_pages -= 1  # adjust_managed_page_count(page, -1)
        if g.scrub_pages:
            d.host.tag[d.p2m[pfn]] = 0
        g.frame_list[i] = pfn
        balloon_append(g, pfn)
    xenmem_decrease_reservation(d, g.frame_list[:nr_pages])
    g.stats.current_pages -= nr_pages
    return state


def balloon_turn(g: Guest) -> int:
    """C: xb_balloon_turn.  One turn of balloon_process's loop, up to update_schedule.

    current_credit(); credit > 0: one frame_list of increase_reservation, if the balloon has
    pages (else NEED_RESERVE: reserve_additional_memory's turn, nothing done); credit < 0:
    one of decrease_reservation for min(-credit, si_mem_available()) pages with GFP_BALLOON,
    EAGAIN if that cap is below both -credit and the reserve; credit 0: NO_CREDIT.
    """
    s = g.stats
    credit = s.target_pages - s.current_pages
    if credit > 0:
        if s.balloon_low or s.balloon_high:
            return increase_reservation(g, credit)
        return NEED_RESERVE
    if credit < 0:
        n_pages = min(-credit, mem_available(g))
        state = decrease_reservation(g, n_pages, GFP_HIGHUSER)
        if state == BP_DONE and n_pages != -credit and n_pages < g.totalreserve_pages:
            state = BP_EAGAIN
        return state
    return NO_CREDIT


def balloon_turns(g: Guest, max_turns: int, budget_ns: float,
                  cost: tuple[float, float, float, float]) -> tuple[int, int, float]:
    """C: xb_balloon_turns.  Turn after turn while each ends BP_DONE, up to ``max_turns`` and
    while their cost stays below ``budget_ns``; the first always runs.

    ``cost`` is xb_turn_cost: (hypercall, page_out, page_in, lowmem_page) in ns.  Returns the
    last turn's answer (BP_DONE when it stopped on max_turns or the budget), the turns run and
    their cost.
    """
    hypercall, page_out, page_in, lowmem_page = cost
    s = g.stats
    done, ns = 0, 0.0
    while True:
        cur0, high0 = s.current_pages, s.balloon_high
        state = balloon_turn(g)
        done += 1
        if state in (NO_CREDIT, NEED_RESERVE, BUG):
            break  # nothing moved: no hypercall was made
        if s.current_pages >= cur0:
            moved, high, page = s.current_pages - cur0, high0 - s.balloon_high, page_in
        else:
            moved, high, page = cur0 - s.current_pages, s.balloon_high - high0, page_out
        c = hypercall
        c += float(moved) * page
        c += float(moved - high) * lowmem_page
        ns += c
        if state != BP_DONE or done >= max_turns or not ns < budget_ns:
            break
    return state, done, ns


def alloc_xenballooned_pages(g: Guest, nr_pages: int) -> tuple[int, np.ndarray | None]:
    """C: xb_alloc_xenballooned_pages.  All or nothing: refuses up front where the seed
    would fail."""
    short = nr_pages - min(nr_pages, g.stats.balloon_low)
    if short > 0:
        # lowmem cache is reclaimed for it (GFP_USER)
        if (mem_available(g) < short or g.nr_free[0] + g.nr_cache[0] < short
                or g.fail_page_allocs > 0):
            return ENOMEM, None
        pfn, d = g.free_head[0], g.dom
        for _ in range(min(short, g.nr_free[0])):
            if pfn >= d.nr_gfns or d.p2m[pfn] == NIL:
                return BUG, None
            pfn = int(g.next[pfn])
    g.stats.target_unpopulated += nr_pages
    out = np.zeros(nr_pages, dtype=np.uint64)
    pgno = 0
    while pgno < nr_pages:
        pfn = balloon_retrieve(g, True)
        if pfn != NIL:
            g.flags[pfn] |= PG_HANDED
            out[pgno] = pfn
            pgno += 1
        else:
            # add_ballooned_pages; the checks above make it succeed, but never spin.
            before = (g.stats.current_pages, g.fail_page_allocs)
            rc = decrease_reservation(g, nr_pages - pgno, GFP_USER)
            if rc == BUG or (g.stats.current_pages, g.fail_page_allocs) == before:
                for p in out[:pgno]:  # out_undo
                    g.flags[int(p)] &= 0xFF ^ PG_HANDED
                    balloon_append(g, int(p))
                g.stats.target_unpopulated -= nr_pages
                return (BUG if rc == BUG else ENOMEM), None
    return 0, out


def free_xenballooned_pages(g: Guest, pfns: np.ndarray) -> int:
    """C: xb_free_xenballooned_pages."""
    bad = mark_all(g, pfns, PG_HANDED)
    if bad != len(pfns):
        return bad
    for pfn in pfns:
        pfn = int(pfn)
        g.flags[pfn] &= (0xFF ^ PG_HANDED)
        balloon_append(g, pfn)
    g.stats.target_unpopulated -= len(pfns)
    return len(pfns)


def balloon_add_region(g: Guest, start_pfn: int, n: int) -> int:
    """C: xb_balloon_add_region.  Unpopulated, stateless pfns go to the balloon."""
    if start_pfn + n > g.nr_pfns:
        return EINVAL
    for pfn in range(start_pfn, start_pfn + n):
        if g.flags[pfn] & PG_STATE:
            return EINVAL
    for pfn in range(start_pfn, start_pfn + n):
        balloon_append(g, pfn)
    g.stats.total_pages += n
    return 0


def ballooned_pfns(g: Guest) -> np.ndarray:
    """C: xb_ballooned_pfns."""
    out = np.zeros(g.stats.balloon_low + g.stats.balloon_high, dtype=np.uint64)
    pfn, i = g.balloon_head, 0
    while pfn != NIL and i < len(out):
        out[i] = pfn
        pfn = int(g.next[pfn])
        i += 1
    return out[:i]
