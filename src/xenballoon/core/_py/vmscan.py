"""The guest's memory model (``csrc/vmscan.c``): page cache, reclaim, swap, the OOM killer.

A page is free, anonymous (the workload model's pages are on the anon list, a LIFO linked
through ``next`` and ended by ``ANON_END``), or page cache (clean file data on a FIFO per
zone, oldest first: the inactive file LRU).  Swapped-out pages have no pfn:
``vm.swap_used`` counts them.  Pressure is resolved in Linux's order: free pages down to
the reserve, then the oldest clean cache (``mm/vmscan.c`` shrink_page_list), then swap,
then the OOM killer (``mm/oom_kill.c`` out_of_memory) kills the largest process.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..abi import ANON_END, GFP_HIGHUSER, NIL, PG_CACHE, PG_FREE, PG_WORKLOAD, VMSTAT_DTYPE
from .guest import Guest, free_page

__all__ = ["direct_reclaim", "guest_array", "mem_available", "read_vmstats", "wmark_low",
           "workload_step", "workloads_step"]


def wmark_low(g: Guest) -> int:
    """C: xb_wmark_low.  The low watermark: 5/6 of the reserve.

    ``__setup_per_zone_wmarks`` (mm/page_alloc.c): low = min + min/4, high = min + min/2,
    and totalreserve_pages is about the high watermark.
    """
    return g.totalreserve_pages * 5 // 6


def mem_available(g: Guest) -> int:
    """C: xb_si_mem_available.  si_mem_available() (mm/show_mem.c): free - reserve + page
    cache - min(cache / 2, low watermark), never negative."""
    cache = g.nr_cache[0] + g.nr_cache[1]
    pagecache = cache - min(cache // 2, wmark_low(g))
    return max(0, g.nr_free[0] + g.nr_free[1] + pagecache - g.totalreserve_pages)


def pop_free(g: Guest, z: int) -> int:
    """C: pop_free.  Take the head of free list z (NIL if empty)."""
    pfn = g.free_head[z]
    if g.nr_free[z] == 0:
        return NIL
    g.free_head[z] = int(g.next[pfn])
    g.next[pfn] = NIL
    g.nr_free[z] -= 1
    g.flags[pfn] &= 0xFF ^ PG_FREE
    return pfn


def _write_data(g: Guest, pfn: int) -> None:
    """C: write_data.  The workload writes its data into the page's frame."""
    d = g.dom
    if pfn < d.nr_gfns and d.p2m[pfn] < d.host.total_pages:
        d.host.tag[d.p2m[pfn]] = d.domid


def cache_evict(g: Guest, z: int) -> int:
    """C: cache_evict.  The oldest page of cache list z goes to the free list (NIL: none)."""
    if g.nr_cache[z] == 0:
        return NIL
    pfn = g.cache_head[z]
    g.cache_head[z] = int(g.next[pfn])
    if g.cache_head[z] == NIL:
        g.cache_tail[z] = NIL
    g.nr_cache[z] -= 1
    free_page(g, pfn)
    return pfn


def shrink_cache(g: Guest, n: int, gfp: int) -> int:
    """C: shrink_cache.  Up to n of the oldest cache pages back to the allocator, highmem
    first (lowmem only for GFP_USER)."""
    done = 0
    for z in ((1, 0) if gfp == GFP_HIGHUSER else (0,)):
        while done < n and cache_evict(g, z) != NIL:
            done += 1
    return done


def direct_reclaim(g: Guest, nr_pages: int, gfp: int) -> int:
    """C: xb_direct_reclaim.  Before allocating nr_pages with gfp, the oldest cache pages go
    back to the allocator so that it need not dip below the reserve; returns how many."""
    free = g.nr_free[0] + g.nr_free[1] if gfp == GFP_HIGHUSER else g.nr_free[0]
    above = max(0, free - g.totalreserve_pages)
    done = shrink_cache(g, nr_pages - above, gfp) if nr_pages > above else 0
    g.vm.balloon_reclaimed += done
    return done


def anon_charge(g: Guest, n: int) -> int:
    """C: anon_charge.  Up to n pages for the workload's anonymous memory: free pages above
    the reserve, then the oldest cache (pgsteal), onto the anon list; returns how many."""
    above = max(0, g.nr_free[0] + g.nr_free[1] - g.totalreserve_pages)
    from_free = min(n, above)
    stolen = shrink_cache(g, n - from_free, GFP_HIGHUSER)
    g.vm.pgsteal += stolen
    got = 0
    while got < from_free + stolen:
        pfn = pop_free(g, 1 if g.nr_free[1] else 0)
        if pfn == NIL:
            break
        g.flags[pfn] |= PG_WORKLOAD
        g.next[pfn] = g.anon_head
        g.anon_head = pfn
        _write_data(g, pfn)
        g.vm.nr_anon += 1
        got += 1
    return got


def anon_release(g: Guest, n: int) -> None:
    """C: anon_release.  The workload frees n of its anonymous pages, the newest first."""
    for _ in range(n):
        if g.anon_head == ANON_END:
            break
        pfn = g.anon_head
        g.anon_head = int(g.next[pfn])
        free_page(g, pfn)
        g.vm.nr_anon -= 1


def cache_fill(g: Guest, n: int) -> None:
    """C: cache_fill.  File pages read into the cache: up to n, from free pages above the
    reserve, each the newest of its zone's cache list."""
    above = max(0, g.nr_free[0] + g.nr_free[1] - g.totalreserve_pages)
    for _ in range(min(n, above)):
        z = 1 if g.nr_free[1] else 0
        pfn = pop_free(g, z)
        if pfn == NIL:
            break
        g.flags[pfn] |= PG_CACHE
        if g.cache_tail[z] == NIL:
            g.cache_head[z] = pfn
        else:
            g.next[g.cache_tail[z]] = pfn
        g.cache_tail[z] = pfn
        g.nr_cache[z] += 1
        _write_data(g, pfn)


def workload_step(g: Guest, anon: int, file: int, dt: float) -> int:
    """C: xb_workload_step.  One step of the workload: anonymous demand and file working
    set (pages) for the next dt seconds; returns the OOM kills.

    The OOM killer's victims stay dead (``vm.killed`` is taken off the demand, and shrinks
    with it); less demand frees swap, then resident pages; more takes free pages above the
    reserve, then reclaimed cache, then swap, then kills the largest process (kill_unit
    pages, or the whole demand) until it fits; with nothing short, swapped pages come back;
    the cache grows toward the file working set and what it lacks counts as refaults.
    """
    vm = g.vm
    kills, stolen = 0, vm.pgsteal
    vm.killed = min(vm.killed, anon)
    want = anon - vm.killed
    have = vm.nr_anon + vm.swap_used
    if want < have:
        drop = have - want
        from_swap = min(drop, vm.swap_used)
        vm.swap_used -= from_swap
        anon_release(g, drop - from_swap)
    grow = max(0, want - (vm.nr_anon + vm.swap_used))
    unmet = grow - anon_charge(g, grow)
    out = min(unmet, max(0, vm.swap_pages - vm.swap_used))
    vm.swap_used += out
    vm.pswpout += out
    unmet -= out
    while unmet > 0 and want > 0:  # out_of_memory: kill the largest process
        victim = min(vm.kill_unit, want) if vm.kill_unit else want
        kills += 1
        vm.oom_killed_pages += victim
        vm.killed += victim
        want -= victim
        part = min(victim, unmet)
        unmet -= part
        victim -= part
        part = min(victim, vm.swap_used)
        vm.swap_used -= part
        anon_release(g, victim - part)
    vm.oom_kills += kills
    if vm.swap_used > 0:
        swapped_in = anon_charge(g, vm.swap_used)
        vm.swap_used -= swapped_in
        vm.pswpin += swapped_in
    cache = g.nr_cache[0] + g.nr_cache[1]
    if file > cache:
        cache_fill(g, file - cache)
        cache = g.nr_cache[0] + g.nr_cache[1]
    refaults = max(0, file - cache)
    vm.refaults += refaults
    vm.anon_demand = anon
    vm.file_ws = file
    vm.steps += 1
    if anon > vm.nr_anon:
        vm.unmet_page_seconds += float(anon - vm.nr_anon) * dt
    if anon > vm.nr_anon or refaults > 0 or vm.pgsteal != stolen:
        vm.pressure_seconds += dt
    return kills


def guest_array(guests: Sequence[Guest]) -> list[Guest]:
    """C: none (the compiled core builds an ``xb_guest *[]``).  The guests for
    workloads_step."""
    return list(guests)


def workloads_step(gs: Sequence[Guest], anon: np.ndarray, file: np.ndarray, dt: float,
                   kills: np.ndarray) -> int:
    """C: xb_workloads_step.  workload_step for each guest; kills[i] per guest, their sum."""
    total = 0
    for i, g in enumerate(gs):
        kills[i] = workload_step(g, int(anon[i]), int(file[i]), dt)
        total += int(kills[i])
    return total


def read_vmstats(gs: Sequence[Guest], vm: np.ndarray, mem: np.ndarray) -> None:
    """C: xb_read_vmstats.  Each guest's xb_vmstat into vm[i] (VMSTAT_DTYPE), and its
    totalram, free, page cache and si_mem_available pages into mem[i]."""
    for i, g in enumerate(gs):
        for name in VMSTAT_DTYPE.names or ():
            vm[name][i] = getattr(g.vm, name)
        mem[i] = (g.totalram_pages, g.nr_free[0] + g.nr_free[1],
                  g.nr_cache[0] + g.nr_cache[1], mem_available(g))
