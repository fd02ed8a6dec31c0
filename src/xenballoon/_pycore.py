"""The reference core: the functions of ``csrc/`` in plain Python.

This is the oracle the compiled core is tested against, and the baseline its
speed is measured against.  It is written for reading, as the kernel writes it:
a loop per page where ``balloon.c`` loops per page.  State lives in numpy arrays
with the same layout as the C structs (``csrc/xb_api.h``), so both backends
expose their state to Python the same way.  Return conventions are the C ones:
status codes and counts, never exceptions; the layers above raise.
"""

from __future__ import annotations

import numpy as np

NIL = 0xFFFFFFFF
MAX_GFNS = 1 << 28

BP_DONE, BP_WAIT, BP_EAGAIN, BP_ECANCELED = 0, 1, 2, 3
# balloon_turn's answers besides a state: credit is 0; credit > 0 but the balloon is empty.
NO_CREDIT, NEED_RESERVE = 4, 5
BUG, ENOMEM, EINVAL = -1, -12, -22

PG_FREE, PG_WORKLOAD, PG_BALLOON, PG_HANDED, PG_HIGHMEM, PG_OFFLINE, PG_MARK = \
    1, 2, 4, 8, 16, 32, 128
PG_STATE = PG_FREE | PG_WORKLOAD | PG_BALLOON | PG_HANDED | PG_OFFLINE

GFP_USER, GFP_HIGHUSER = 0, 1

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


class Host:
    """The hypervisor's machine frames: a free stack and a data tag per frame."""

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


class Domain:
    """A domain's reservation: its physmap (gfn -> mfn) and page counts."""

    def __init__(self, host: Host, domid: int, max_pages: int) -> None:
        self.host = host
        self.domid = domid
        self.p2m = np.zeros(0, dtype=np.uint32)
        self.nr_gfns = 0
        self.tot_pages = 0
        self.max_pages = max_pages


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


# --- the host pool ---------------------------------------------------------------------------

def host_new(total_pages: int, scrub_freed: bool) -> Host:
    return Host(total_pages, scrub_freed)


def host_tags(h: Host) -> np.ndarray:
    return h.tag


def _pool_pop(h: Host) -> int:
    h.free_pages -= 1
    return int(h.free_stack[h.free_pages])


def _pool_push(h: Host, mfn: int) -> None:
    h.free_stack[h.free_pages] = mfn
    h.free_pages += 1


def _hand_frame(h: Host, domid: int) -> int:
    """Take a frame from the pool for domid, counting a leak if it holds foreign data."""
    mfn = _pool_pop(h)
    tag = int(h.tag[mfn])
    if tag != 0 and tag != domid:
        h.leaks += 1
    return mfn


def _release_frame(d: Domain, gfn: int) -> None:
    h = d.host
    mfn = int(d.p2m[gfn])
    d.p2m[gfn] = NIL
    d.tot_pages -= 1
    if h.scrub_freed:
        h.tag[mfn] = 0
    _pool_push(h, mfn)


def host_check(h: Host, doms: list[Domain]) -> str | None:
    """Every frame in exactly one place; tot_pages matches the physmap; nothing lost."""
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


def host_state_bytes(h: Host) -> int:
    return h.total_pages * (4 + 4)


# --- domains and the XENMEM hypercalls -------------------------------------------------------

def domain_new(h: Host, domid: int, memory: int, max_pages: int) -> Domain | None:
    if memory > h.free_pages or memory > MAX_GFNS:
        return None
    d = Domain(h, domid, max_pages)
    domain_grow(d, memory)
    for gfn in range(memory):
        d.p2m[gfn] = _hand_frame(h, domid)
    d.tot_pages = memory
    return d


def domain_release(d: Domain) -> None:
    for gfn in range(d.nr_gfns):
        if d.p2m[gfn] != NIL:
            _release_frame(d, gfn)


def domain_grow(d: Domain, nr_gfns: int) -> int:
    if nr_gfns <= d.nr_gfns:
        return 0
    if nr_gfns > MAX_GFNS:
        return EINVAL
    grown = np.full(nr_gfns, NIL, dtype=np.uint32)
    grown[: d.nr_gfns] = d.p2m[: d.nr_gfns]
    d.p2m = grown
    d.nr_gfns = nr_gfns
    return 0


def domain_p2m(d: Domain) -> np.ndarray:
    return d.p2m


def domain_state_bytes(d: Domain) -> int:
    return d.nr_gfns * 4


def xenmem_populate_physmap(d: Domain, gfns: np.ndarray) -> int:
    """XENMEM_populate_physmap: populate gfns in turn, stopping at the first that fails."""
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
    """XENMEM_decrease_reservation: release gfns in turn, stopping at the first not populated."""
    done = 0
    for gfn in gfns:
        gfn = int(gfn)
        if gfn >= d.nr_gfns or d.p2m[gfn] == NIL:
            break
        _release_frame(d, gfn)
        done += 1
    return done


# --- the guest and its page allocator --------------------------------------------------------

def guest_new(d: Domain, nr_pfns: int, lowmem_pages: int, reserve_pages: int, batch: int,
              scrub_pages: bool) -> Guest:
    g = Guest(d, nr_pfns, lowmem_pages, reserve_pages, batch, scrub_pages)
    for pfn in range(nr_pfns):
        if pfn >= lowmem_pages:
            g.flags[pfn] = PG_HIGHMEM
    # Pushed in descending order so that the lowest pfn is allocated first.
    for pfn in range(nr_pfns - 1, -1, -1):
        if pfn < d.nr_gfns and d.p2m[pfn] != NIL:
            _free_page(g, pfn)
            g.totalram_pages += 1
    return g


def guest_grow(g: Guest, nr_pfns: int) -> int:
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
    """Resize the frame_list (the driver's batch size)."""
    g.frame_list = np.zeros(batch, dtype=np.uint64)
    g.batch = batch
    return 0


def guest_flags(g: Guest) -> np.ndarray:
    return g.flags


def guest_state_bytes(g: Guest) -> int:
    return g.capacity * (1 + 4) + g.batch * 8


def _zone(g: Guest, pfn: int) -> int:
    return 1 if g.flags[pfn] & PG_HIGHMEM else 0


def _free_page(g: Guest, pfn: int) -> None:
    """Give a page to the allocator (LIFO, per zone)."""
    z = _zone(g, pfn)
    g.next[pfn] = g.free_head[z]
    g.free_head[z] = pfn
    g.nr_free[z] += 1
    g.flags[pfn] = (g.flags[pfn] & (0xFF ^ PG_STATE)) | PG_FREE


def _take_free(g: Guest, z: int) -> int:
    pfn = g.free_head[z]
    g.free_head[z] = int(g.next[pfn])
    g.next[pfn] = NIL
    g.nr_free[z] -= 1
    g.flags[pfn] &= (0xFF ^ PG_FREE)
    return pfn


def _alloc_page(g: Guest, gfp: int) -> int:
    """alloc_page(): GFP_HIGHUSER prefers highmem, GFP_USER takes lowmem only."""
    if g.fail_page_allocs > 0:
        g.fail_page_allocs -= 1
        return NIL
    if gfp == GFP_HIGHUSER and g.nr_free[1]:
        return _take_free(g, 1)
    if g.nr_free[0]:
        return _take_free(g, 0)
    return NIL


def mem_available(g: Guest) -> int:
    """si_mem_available(): free pages above the reserve."""
    return max(0, g.nr_free[0] + g.nr_free[1] - g.totalreserve_pages)


def workload_alloc(g: Guest, n: int) -> np.ndarray | None:
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


def _mark_all(g: Guest, pfns: np.ndarray, state: int) -> int:
    """Mark each pfn if it is in `state` and not yet marked; on failure unmark, return index."""
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
    bad = _mark_all(g, pfns, PG_WORKLOAD)
    if bad != len(pfns):
        return bad
    for pfn in pfns:
        _free_page(g, int(pfn))
    return len(pfns)


# --- balloon.c -------------------------------------------------------------------------------

def balloon_append(g: Guest, pfn: int) -> None:
    """balloon_append: add the given page to the balloon (lowmem at the head)."""
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
    """balloon_retrieve: rescue a page from the balloon head, if it is not empty."""
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
        _free_page(g, pfn)  # free_reserved_page
        g.totalram_pages += 1
    g.stats.current_pages += rc
    return BP_DONE


def decrease_reservation(g: Guest, nr_pages: int, gfp: int) -> int:
    state = BP_DONE
    nr_pages = min(nr_pages, g.batch)
    fail_before = g.fail_page_allocs
    pages: list[int] = []
    for _ in range(nr_pages):
        pfn = _alloc_page(g, gfp)
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
                _free_page(g, undo)
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
    """One turn of balloon_process's loop, up to update_schedule.

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


def alloc_xenballooned_pages(g: Guest, nr_pages: int) -> tuple[int, np.ndarray | None]:
    """alloc_xenballooned_pages, all or nothing: refuses up front where the seed would fail."""
    short = nr_pages - min(nr_pages, g.stats.balloon_low)
    if short > 0:
        if mem_available(g) < short or g.nr_free[0] < short or g.fail_page_allocs > 0:
            return ENOMEM, None
        pfn, d = g.free_head[0], g.dom
        for _ in range(short):
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
    bad = _mark_all(g, pfns, PG_HANDED)
    if bad != len(pfns):
        return bad
    for pfn in pfns:
        pfn = int(pfn)
        g.flags[pfn] &= (0xFF ^ PG_HANDED)
        balloon_append(g, pfn)
    g.stats.target_unpopulated -= len(pfns)
    return len(pfns)


def balloon_add_region(g: Guest, start_pfn: int, n: int) -> int:
    if start_pfn + n > g.nr_pfns:
        return EINVAL
    for pfn in range(start_pfn, start_pfn + n):
        if g.flags[pfn] & PG_STATE:
            return EINVAL
    for pfn in range(start_pfn, start_pfn + n):
        balloon_append(g, pfn)
    g.stats.total_pages += n
    return 0


# --- memory hotplug ----------------------------------------------------------------------------

def add_memory(g: Guest, start_pfn: int, n: int) -> int:
    """add_memory_resource's memmap: pfns start_pfn.. (holes, unpopulated) exist now, offline.

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
    """xen_online_page for pfns start_pfn..: each offline page goes to the balloon, in order.

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


def ballooned_pfns(g: Guest) -> np.ndarray:
    out = np.zeros(g.stats.balloon_low + g.stats.balloon_high, dtype=np.uint64)
    pfn, i = g.balloon_head, 0
    while pfn != NIL and i < len(out):
        out[i] = pfn
        pfn = int(g.next[pfn])
        i += 1
    return out[:i]


def guest_check(g: Guest) -> str | None:
    """Every pfn in one state, lists consistent with flags and counters.

    Also: handed-out pages are lowmem and counted by ``target_unpopulated``; a workload
    page's frame holds the workload's data; the domain holds exactly the populated pfns.
    """
    d = g.dom
    # NOTE: plain lists instead of numpy scalars, for performance reasons (checks run
    # after every step of the property tests).
    flags, nxt, tag = g.flags[: g.nr_pfns].tolist(), g.next.tolist(), d.host.tag
    p2m = d.p2m[: min(d.nr_gfns, g.nr_pfns)].tolist()
    counts = {PG_FREE: 0, PG_WORKLOAD: 0, PG_BALLOON: 0, PG_HANDED: 0, PG_OFFLINE: 0}
    for pfn in range(g.nr_pfns):
        f = flags[pfn]
        if f & PG_MARK:
            return f"pfn {pfn} has a stale mark"
        if bool(f & PG_HIGHMEM) != (pfn >= g.lowmem_pages):
            return f"pfn {pfn} has the wrong highmem flag"
        state = f & PG_STATE
        if state not in (0, PG_FREE, PG_WORKLOAD, PG_BALLOON, PG_HANDED, PG_OFFLINE):
            return f"pfn {pfn} is in more than one state (flags {f:#x})"
        populated = pfn < d.nr_gfns and p2m[pfn] != NIL
        if populated != bool(state & (PG_FREE | PG_WORKLOAD)):
            what = "populated" if populated else "not populated"
            return f"pfn {pfn} is {what} but has flags {f:#x}"
        if state == PG_HANDED and f & PG_HIGHMEM:
            return f"pfn {pfn} is handed out but highmem"
        if state == PG_WORKLOAD and p2m[pfn] >= d.host.total_pages:
            return f"workload pfn {pfn} maps mfn {p2m[pfn]}, beyond the host's frames"
        if state == PG_WORKLOAD and tag[p2m[pfn]] != d.domid:
            return (f"pfn {pfn} belongs to the workload but its frame holds "
                    f"tag {int(tag[p2m[pfn]])}, not {d.domid}")
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
    managed = counts[PG_FREE] + counts[PG_WORKLOAD]
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
