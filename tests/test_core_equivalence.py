"""The compiled core against its oracle: the same calls on ``core._py`` and ``core._c``.

Every step compares the return values and then the whole state the two cores expose: host
counters, tags and free-stack order, each physmap, the guest's counters, flags, list links,
the balloon list, and both check() answers.
"""

from __future__ import annotations

import gc
import inspect
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xenballoon.core import _c as cc
from xenballoon.core import _py as pc
from xenballoon.core.abi import VMSTAT_DTYPE

ffi = cc.ffi
STATS = ("current_pages", "target_pages", "target_unpopulated", "balloon_low", "balloon_high",
         "total_pages", "schedule_delay", "max_schedule_delay", "retry_count", "max_retry_count")


def u64(values) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.uint64)


def c_array(ptr, n: int, dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    if n == 0:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(ffi.buffer(ptr, n * dtype.itemsize), dtype=dtype).copy()


def host_state(core, h, doms) -> dict:
    c = core is cc
    stack = (c_array(h.free_stack, h.free_pages, np.uint32) if c
             else h.free_stack[: h.free_pages].copy())
    return {
        "fields": tuple(int(getattr(h, f)) for f in (
            "total_pages", "free_pages", "leaks", "scrub_freed", "fault_increase_calls",
            "fault_increase_max")),
        "stack": stack.tolist(),
        "tags": core.host_tags(h).tolist(),
        "bytes": core.host_state_bytes(h),
        "check": core.host_check(h, doms),
        "doms": [(int(d.domid), int(d.tot_pages), int(d.max_pages), int(d.nr_gfns),
                  core.domain_p2m(d).tolist(), core.domain_state_bytes(d)) for d in doms],
    }


def guest_state(core, g) -> dict:
    c = core is cc
    nxt = c_array(g.next, g.nr_pfns, np.uint32) if c else g.next[: g.nr_pfns].copy()
    return {
        "stats": tuple(int(getattr(g.stats, f)) for f in STATS),
        "fields": tuple(int(getattr(g, f)) for f in (
            "nr_pfns", "lowmem_pages", "totalram_pages", "totalreserve_pages",
            "fail_page_allocs", "scrub_pages", "batch", "balloon_head", "balloon_tail")),
        "free": (int(g.free_head[0]), int(g.free_head[1]), int(g.nr_free[0]),
                 int(g.nr_free[1])),
        "flags": core.guest_flags(g).tolist(),
        "next": nxt.tolist(),
        "ballooned": core.ballooned_pfns(g).tolist(),
        "available": core.mem_available(g),
        "cache": (int(g.anon_head), int(g.cache_head[0]), int(g.cache_head[1]),
                  int(g.cache_tail[0]), int(g.cache_tail[1]), int(g.nr_cache[0]),
                  int(g.nr_cache[1]), core.wmark_low(g)),
        "vm": tuple(getattr(g.vm, f) for f in VMSTAT_DTYPE.names),
        "bytes": core.guest_state_bytes(g),
        "check": core.guest_check(g),
        "dom": int(g.dom.domid),
    }


def same(a, b) -> None:
    """Identical results, including the Python types pycore returns."""
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same(x, y)
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and b.dtype == a.dtype
        assert a.tolist() == b.tolist()
    else:
        assert type(a) is type(b) or (isinstance(a, int) and isinstance(b, int)), (a, b)
        assert a == b


class Pair:
    """One world per core: a host, domains (the guest's first), one guest."""

    def __init__(self, total, scrub_freed, memory, max_extra, extra_pfns, lowmem, reserve,
                 batch, scrub_pages, driver) -> None:
        self.w = {}
        for core in (pc, cc):
            h = core.host_new(total, scrub_freed)
            d = core.domain_new(h, 1, memory, memory + max_extra)
            g = core.guest_new(d, memory + extra_pfns, lowmem, reserve, batch, scrub_pages)
            if driver:  # what balloon_init does; the extra pfns are holes until added
                g.stats.current_pages = g.totalram_pages
                g.stats.total_pages = g.totalram_pages
            self.w[core] = {"h": h, "doms": [d], "g": g}
        self.workload: list[int] = []
        self.handed: list[int] = []
        self.next_domid = 2
        self.compare()

    def call(self, name, *args):
        """Call name(args) on both cores ("h", "g", ("d", i) stand for the objects)."""
        results = []
        for core, w in self.w.items():
            real = [self.resolve(w, a) for a in args]
            results.append(getattr(core, name)(*real))
        same(*results)
        return results[0]

    @staticmethod
    def resolve(w: dict, a):
        if isinstance(a, str):
            return w[a]
        if isinstance(a, tuple):
            return w["doms"][a[1]]
        if isinstance(a, list):
            return [Pair.resolve(w, x) for x in a]
        return a

    def compare(self) -> None:
        (wp, wc) = self.w[pc], self.w[cc]
        assert host_state(pc, wp["h"], wp["doms"]) == host_state(cc, wc["h"], wc["doms"])
        assert guest_state(pc, wp["g"]) == guest_state(cc, wc["g"])

    def set(self, obj, field, value) -> None:
        for w in self.w.values():
            target = w["h"] if obj == "h" else w["g"] if obj == "g" else w["doms"][obj]
            setattr(target, field, value)

    @property
    def py(self):
        return self.w[pc]

    def workload_safe(self) -> bool:
        """pycore's workload_alloc raises if a free page lost its frame behind the guest's back."""
        g = self.py["g"]
        d = g.dom
        free = np.nonzero(g.flags[: g.nr_pfns] & pc.PG_FREE)[0]
        return all(p < d.nr_gfns and d.p2m[p] != pc.NIL for p in free)


def pick(pool: list[int], idxs: list[int]) -> list[int]:
    return [pool[i % len(pool)] for i in idxs] if pool else []


def run(p: Pair, op: tuple) -> None:
    kind = op[0]
    ndoms = len(p.py["doms"])
    if kind == "decrease":
        p.call("decrease_reservation", "g", op[1], op[2])
    elif kind == "increase":
        p.call("increase_reservation", "g", op[1])
    elif kind == "turn":  # the worker's turn, towards current_pages + op[1]
        target = max(0, int(p.py["g"].stats.current_pages) + op[1])
        for w in p.w.values():
            w["g"].stats.target_pages = target
        p.call("balloon_turn", "g")
    elif kind == "turns":  # several turns, priced and cut off by a budget
        target = max(0, int(p.py["g"].stats.current_pages) + op[1])
        for w in p.w.values():
            w["g"].stats.target_pages = target
        p.call("balloon_turns", "g", op[2], op[3], list(op[4]))  # a list: not a domain
    elif kind == "workload_alloc":
        if p.workload_safe():
            out = p.call("workload_alloc", "g", op[1])
            if out is not None:
                p.workload += out.tolist()
    elif kind == "workload_free":
        _, idxs, extra = op
        pfns = list(dict.fromkeys(pick(p.workload, idxs))) + extra
        rc = p.call("workload_free", "g", u64(pfns))
        if rc == len(pfns):
            p.workload = [x for x in p.workload if x not in pfns]
    elif kind == "alloc_xb":
        rc, out = p.call("alloc_xenballooned_pages", "g", op[1])
        if rc == 0:
            p.handed += out.tolist()
    elif kind == "free_xb":
        _, idxs, extra = op
        pfns = list(dict.fromkeys(pick(p.handed, idxs))) + extra
        rc = p.call("free_xenballooned_pages", "g", u64(pfns))
        if rc == len(pfns):
            p.handed = [x for x in p.handed if x not in pfns]
    elif kind == "add_region":
        p.call("balloon_add_region", "g", op[1], op[2])
    elif kind == "retrieve":
        p.call("balloon_retrieve", "g", op[1])
    elif kind == "append":
        g = p.py["g"]
        offline = [int(x) for x in np.nonzero((g.flags[: g.nr_pfns] & pc.PG_STATE) == 0)[0]]
        if offline:
            p.call("balloon_append", "g", offline[op[1] % len(offline)])
    elif kind == "add_memory":
        p.call("add_memory", "g", op[1], op[2])
    elif kind == "online":
        p.call("online_pages", "g", op[1], op[2])
    elif kind == "online_some":  # a run that starts at an offline pfn
        g = p.py["g"]
        offline = np.nonzero(g.flags[: g.nr_pfns] & pc.PG_OFFLINE)[0].tolist()
        if offline:
            p.call("online_pages", "g", pick(offline, [op[1]])[0], op[2])
    elif kind == "set_batch":
        p.call("guest_set_batch", "g", op[1])
    elif kind == "guest_grow":
        p.call("guest_grow", "g", p.py["g"].nr_pfns + op[1])
    elif kind == "domain_grow":
        d = p.py["doms"][op[1] % ndoms]
        p.call("domain_grow", ("d", op[1] % ndoms), d.nr_gfns + op[2])
    elif kind == "domain_new":
        domid = p.next_domid
        p.next_domid += 1
        made = [core.domain_new(w["h"], domid, op[1], op[1] + op[2])
                for core, w in p.w.items()]
        assert (made[0] is None) == (made[1] is None)
        if made[0] is not None:
            for w, d in zip(p.w.values(), made, strict=True):
                w["doms"].append(d)
    elif kind == "domain_release":
        p.call("domain_release", ("d", op[1] % ndoms))
    elif kind == "populate":
        p.call("xenmem_populate_physmap", ("d", op[1] % ndoms), u64(op[2]))
    elif kind == "xdecrease":
        p.call("xenmem_decrease_reservation", ("d", op[1] % ndoms), u64(op[2]))
    elif kind in ("populate_some", "xdecrease_some"):  # gfns that may well succeed
        d = p.py["doms"][op[1] % ndoms]
        mapped = d.p2m[: d.nr_gfns] != pc.NIL
        pool = np.nonzero(mapped if kind == "xdecrease_some" else ~mapped)[0].tolist()
        name = "xenmem_populate_physmap" if kind == "populate_some" else \
            "xenmem_decrease_reservation"
        p.call(name, ("d", op[1] % ndoms), u64(pick(pool, op[2])))
    elif kind == "flag_xor":  # a corrupt zone or a stale mark, set in the core's array
        if len(op) == 3 or op[3] == 0:
            for w in p.w.values():
                n = int(w["g"].nr_pfns)
                if n:
                    w["g"].flags[op[1] % n] ^= op[2]
    elif kind == "fault_increase":
        p.set("h", "fault_increase_calls", op[1])
        p.set("h", "fault_increase_max", op[2])
    elif kind == "fail_allocs":
        p.set("g", "fail_page_allocs", op[1])
    elif kind == "scrub":
        p.set("h" if op[1] else "g", "scrub_freed" if op[1] else "scrub_pages", op[2])
    elif kind == "max_pages":
        p.set(op[1] % ndoms, "max_pages", op[2])
    elif kind == "workload_step":  # the memory model, when the frames are where it expects
        if p.workload_safe():
            p.call("workload_step", "g", op[1], op[2], op[3])
    elif kind == "swap":
        g = p.py["g"]
        for w in p.w.values():
            w["g"].vm.swap_pages = max(op[1], int(g.vm.swap_used))
            w["g"].vm.kill_unit = op[2]
    elif kind == "reclaim":
        p.call("direct_reclaim", "g", op[1], op[2])
    else:  # pragma: no cover
        raise AssertionError(kind)
    p.compare()


small = st.integers(0, 24)
gfn = st.integers(0, 40) | st.integers(0, 300) | st.sampled_from([2**32 - 1, 2**32, 2**40])
idxs = st.lists(st.integers(0, 1000), min_size=1, max_size=8)
bad_pfns = st.just([]) | st.lists(st.integers(0, 300) | st.just(2**33), max_size=2)
OPS = st.one_of(
    st.tuples(st.just("decrease"), small, st.sampled_from([pc.GFP_USER, pc.GFP_HIGHUSER])),
    st.tuples(st.just("increase"), small),
    st.tuples(st.just("turn"), st.integers(-40, 40)),
    st.tuples(st.just("turns"), st.integers(-40, 40), st.integers(1, 6),
              st.sampled_from([0.0, 700.0, 5e4, math.inf]),
              st.sampled_from([(0.0, 0.0, 0.0, 0.0, 0.0), (600.0, 3750.0, 1650.0, 0.0, 1e3),
                               (0.1, 0.3, 0.7, 0.2, 0.9),
                               (1e3, 1e5 / 3, 2e5 / 7, 400.0, 1e4 / 3)])),
    st.tuples(st.just("workload_alloc"), st.integers(0, 40)),
    st.tuples(st.just("workload_free"), idxs, bad_pfns),
    st.tuples(st.just("alloc_xb"), st.integers(0, 40)),
    st.tuples(st.just("free_xb"), idxs, bad_pfns),
    st.tuples(st.just("add_region"), st.integers(0, 300), st.integers(0, 40)),
    st.tuples(st.just("retrieve"), st.booleans()),
    st.tuples(st.just("append"), st.integers(0, 1000)),
    st.tuples(st.just("guest_grow"), st.integers(-4, 24)),
    st.tuples(st.just("set_batch"), st.integers(1, 16)),
    st.tuples(st.just("add_memory"), st.integers(0, 300), st.integers(0, 40)),
    st.tuples(st.just("online"), st.integers(0, 300), st.integers(0, 40)),
    st.tuples(st.just("online_some"), st.integers(0, 1000), st.integers(0, 12)),
    st.tuples(st.just("domain_grow"), st.integers(0, 5), st.integers(-4, 24)),
    st.tuples(st.just("domain_new"), st.integers(0, 48), st.integers(0, 16)),
    st.tuples(st.just("domain_release"), st.integers(0, 5)),
    st.tuples(st.just("populate"), st.integers(0, 5), st.lists(gfn, max_size=12)),
    st.tuples(st.just("xdecrease"), st.integers(0, 5), st.lists(gfn, max_size=12)),
    st.tuples(st.sampled_from(["populate_some", "xdecrease_some"]), st.integers(0, 5), idxs),
    st.tuples(st.just("flag_xor"), st.integers(0, 1000),
              st.sampled_from([pc.PG_HIGHMEM, pc.PG_MARK]), st.integers(0, 5)),  # 1 in 6
    st.tuples(st.just("fault_increase"), st.integers(0, 3), st.integers(0, 8)),
    st.tuples(st.just("fail_allocs"), st.integers(0, 3)),
    st.tuples(st.just("scrub"), st.booleans(), st.integers(0, 1)),
    st.tuples(st.just("max_pages"), st.integers(0, 5), st.integers(0, 300)),
    st.tuples(st.just("workload_step"), st.integers(0, 200), st.integers(0, 120),
              st.sampled_from([0.0, 0.25, 1.0, 3.0])),
    st.tuples(st.just("workload_step"), st.integers(0, 60), st.integers(0, 40),
              st.just(1.0)),
    st.tuples(st.just("swap"), st.integers(0, 48), st.integers(0, 40)),
    st.tuples(st.just("reclaim"), small, st.sampled_from([pc.GFP_USER, pc.GFP_HIGHUSER])),
)


@st.composite
def worlds(draw):
    total = draw(st.integers(64, 256))
    memory = draw(st.integers(0, min(total, 160)))
    extra = draw(st.integers(0, 32))
    return dict(total=total, scrub_freed=draw(st.booleans()), memory=memory,
                max_extra=draw(st.integers(0, 64)), extra_pfns=extra,
                lowmem=draw(st.integers(0, memory + extra)), reserve=draw(st.integers(0, 16)),
                batch=draw(st.integers(1, 16)), scrub_pages=draw(st.booleans()),
                driver=draw(st.booleans()))


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(worlds(), st.lists(OPS, max_size=40))
def test_random_sequences(world, ops):
    p = Pair(**world)
    for op in ops:
        run(p, op)


# --- fixed scenarios -------------------------------------------------------------------------

def make(total=128, memory=96, extra=16, lowmem=40, batch=8, scrub_freed=False,
         scrub_pages=False) -> Pair:
    return Pair(total, scrub_freed, memory, 8, extra, lowmem, 4, batch, scrub_pages, True)


def test_inflate_deflate_both_gfps():
    p = make()
    for gfp in (pc.GFP_HIGHUSER, pc.GFP_USER, pc.GFP_HIGHUSER):
        for _ in range(5):
            run(p, ("decrease", 7, gfp))
    assert p.py["g"].stats.balloon_low > 0 and p.py["g"].stats.balloon_high > 0
    while p.py["g"].balloon_head != pc.NIL:
        assert p.call("increase_reservation", "g", 5) == pc.BP_DONE
        p.compare()
    assert p.call("increase_reservation", "g", 5) == pc.BP_EAGAIN
    assert p.call("guest_check", "g") is None


def test_faults_and_bug_undo():
    p = make(scrub_freed=True, scrub_pages=True)
    run(p, ("fail_allocs", 1))
    assert p.call("decrease_reservation", "g", 4, pc.GFP_USER) == pc.BP_EAGAIN
    assert p.py["g"].stats.balloon_low == 0
    run(p, ("decrease", 4, pc.GFP_HIGHUSER))
    run(p, ("fault_increase", 2, 1))
    assert p.call("increase_reservation", "g", 4) == pc.BP_DONE
    p.compare()
    run(p, ("fault_increase", 1, 0))
    assert p.call("increase_reservation", "g", 4) == pc.BP_EAGAIN
    p.compare()
    # Xen refuses a decrease of a page it does not back: BUG, nothing changes.
    head = int(p.py["g"].free_head[1])
    run(p, ("xdecrease", 0, [head]))
    assert p.call("decrease_reservation", "g", 4, pc.GFP_HIGHUSER) == pc.BUG
    p.compare()
    run(p, ("fail_allocs", 1))
    assert p.call("decrease_reservation", "g", 4, pc.GFP_HIGHUSER) == pc.BP_EAGAIN
    assert p.call("decrease_reservation", "g", 4, pc.GFP_HIGHUSER) == pc.BUG
    assert p.call("decrease_reservation", "g", 4, pc.GFP_USER) == pc.BP_DONE
    p.compare()


def test_xenballooned_pages_and_invalid_inputs():
    p = make()
    run(p, ("decrease", 3, pc.GFP_USER))
    rc, out = p.call("alloc_xenballooned_pages", "g", 10)
    assert rc == 0 and len(out) == 10
    p.compare()
    handed = out.tolist()
    assert p.call("alloc_xenballooned_pages", "g", 10_000) == (pc.ENOMEM, None)
    assert p.call("alloc_xenballooned_pages", "g", 0)[0] == 0
    run(p, ("fail_allocs", 1))
    assert p.call("alloc_xenballooned_pages", "g", 3) == (pc.ENOMEM, None)
    run(p, ("fail_allocs", 0))
    # refused: not handed, duplicate, beyond the guest; nothing changes
    assert p.call("free_xenballooned_pages", "g", u64([handed[0], 0])) == 1
    assert p.call("free_xenballooned_pages", "g", u64([handed[0], handed[0]])) == 1
    assert p.call("free_xenballooned_pages", "g", u64([handed[1], 2**33])) == 1
    p.compare()
    assert p.call("free_xenballooned_pages", "g", u64(handed)) == 10
    assert p.call("free_xenballooned_pages", "g", u64([])) == 0
    p.compare()
    # BUG: the first lowmem free page has lost its frame
    head = int(p.py["g"].free_head[0])
    run(p, ("xdecrease", 0, [head]))
    assert p.call("alloc_xenballooned_pages", "g", 30) == (pc.BUG, None)
    p.compare()


def test_alloc_xenballooned_reclaims_lowmem_cache():
    """Balloon and free lowmem short of the request, lowmem cache enough: handed out.

    The seed refuses only when si_mem_available(), page cache counted, is short (add_ballooned
    _pages, seed lines 566-567); decrease_reservation's alloc_page(GFP_USER) (seed line 448)
    reclaims the clean cache.  The compiled core's binding once refused without the cache.
    """
    p = make(extra=0, lowmem=96)  # one zone: the cache is lowmem
    run(p, ("workload_step", 0, 60, 1.0))
    g = p.py["g"]
    assert (g.nr_free[0], g.nr_cache[0], g.stats.balloon_low) == (36, 60, 0)
    assert p.call("alloc_xenballooned_pages", "g", 97) == (pc.ENOMEM, None)  # free + cache
    p.compare()
    rc, out = p.call("alloc_xenballooned_pages", "g", 40)
    assert rc == 0 and len(out) == 40 and g.vm.balloon_reclaimed > 0
    assert (g.nr_free[0] + g.nr_cache[0], g.stats.target_unpopulated) == (56, 40)
    p.compare()


def test_alloc_xenballooned_after_workload_and_turns_agrees():
    """The sequence that found the binding's refusal (max_examples=1500), step by step."""
    p = Pair(total=174, scrub_freed=True, memory=73, max_extra=35, extra_pfns=2, lowmem=69,
             reserve=7, batch=16, scrub_pages=False, driver=False)
    for op in [("workload_step", 199, 56, 1.0), ("reclaim", 0, pc.GFP_HIGHUSER),
               ("set_batch", 10), ("retrieve", True),
               ("free_xb", [379, 260, 456, 361, 668, 487, 159, 1], []),
               ("turns", 38, 1, 5e4, (0.1, 0.3, 0.7, 0.2, 0.9)),
               ("workload_free", [325, 0, 347, 0, 95, 55, 743, 605], []),
               ("decrease", 13, pc.GFP_USER), ("workload_alloc", 31), ("turn", 9),
               ("max_pages", 0, 258), ("decrease", 23, pc.GFP_HIGHUSER),
               ("workload_step", 57, 25, 1.0)]:
        run(p, op)
    g = p.py["g"]
    assert (g.stats.balloon_low, g.nr_free[0], g.nr_cache[0]) == (10, 7, 52)
    run(p, ("alloc_xb", 25))  # 10 from the balloon, 15 ballooned out of reclaimed cache
    assert len(p.handed) == 25 and g.stats.balloon_low == 0


def test_workload_and_regions():
    p = make()
    out = p.call("workload_alloc", "g", 50)
    assert p.call("workload_alloc", "g", 10_000) is None
    assert p.call("workload_free", "g", u64([out[0], out[0]])) == 1
    assert p.call("workload_free", "g", u64([out[0], 95, 2**40])) == 1
    assert p.call("workload_free", "g", out[::2].copy()) == 25
    p.compare()
    assert p.call("balloon_add_region", "g", 96, 16) == 0
    assert p.call("balloon_add_region", "g", 96, 1) == pc.EINVAL
    assert p.call("balloon_add_region", "g", 100, 2**70) == pc.EINVAL
    assert p.call("guest_grow", "g", 200) == 0
    assert p.call("guest_grow", "g", pc.MAX_GFNS + 1) == pc.EINVAL
    assert p.call("domain_grow", ("d", 0), pc.MAX_GFNS + 1) == pc.EINVAL
    assert p.call("balloon_add_region", "g", 112, 88) == 0
    p.compare()
    while p.call("increase_reservation", "g", 8) == pc.BP_DONE:
        p.compare()
    run(p, ("retrieve", False))
    run(p, ("append", 3))


def test_hotplug_add_online_populate():
    """add_memory makes holes exist offline; online_pages balloons them in pfn order."""
    p = make(extra=0)  # pfns 0..95; lowmem below 40
    assert p.call("add_memory", "g", 128, 16) == 0  # 96..127 stay holes
    for w in p.w.values():
        w["g"].stats.total_pages += 16
    assert p.py["g"].nr_pfns == 144 and p.py["doms"][0].nr_gfns == 144
    assert p.call("guest_check", "g") is None
    assert p.call("add_memory", "g", 120, 16) == pc.EINVAL  # 128.. exist already
    assert p.call("add_memory", "g", pc.MAX_GFNS - 1, 2) == pc.EINVAL
    assert p.call("add_memory", "g", 100, 0) == 0
    assert p.call("online_pages", "g", 126, 4) == pc.EINVAL  # 126, 127 are holes
    assert p.call("online_pages", "g", 140, 8) == pc.EINVAL  # beyond the guest
    assert p.call("online_pages", "g", 128, 8) == 0
    assert p.call("online_pages", "g", 130, 1) == pc.EINVAL  # online already
    assert p.call("ballooned_pfns", "g").tolist() == list(range(128, 136))  # highmem: tail
    p.compare()
    run(p, ("populate", 0, [110]))  # a gfn populated behind the guest's back
    assert p.call("add_memory", "g", 104, 8) == pc.EINVAL
    run(p, ("xdecrease", 0, [110]))
    assert p.call("add_memory", "g", 104, 8) == 0
    for w in p.w.values():
        w["g"].stats.total_pages += 8
    assert p.call("guest_check", "g") is None
    assert p.call("increase_reservation", "g", 5) == pc.BP_DONE
    assert p.call("online_pages", "g", 136, 8) == 0
    assert p.call("guest_check", "g") is None


def test_online_pages_lowmem_ends_up_reversed():
    """Onlined lowmem pages go to the balloon head one by one: the list is reversed."""
    p = make(extra=0, lowmem=200)
    assert p.call("add_memory", "g", 100, 6) == 0
    assert p.call("online_pages", "g", 100, 6) == 0
    assert p.call("ballooned_pfns", "g").tolist() == [105, 104, 103, 102, 101, 100]
    p.compare()


def test_leaks_counted_alike():
    p = make(total=100, memory=60, extra=0, lowmem=60)
    out = p.call("workload_alloc", "g", 40)
    assert p.call("workload_free", "g", out) == 40
    for _ in range(4):
        run(p, ("decrease", 8, pc.GFP_USER))
    run(p, ("domain_new", 32, 0))  # gets the dirty frames back: leaks
    assert p.py["h"].leaks > 0
    run(p, ("domain_release", 1))
    run(p, ("populate", 1, [5, 6, 7, 7]))


def test_check_failures_identical():
    p = make(extra=0)
    run(p, ("decrease", 8, pc.GFP_HIGHUSER))
    # a populated gfn unmapped behind everyone's back
    for w in p.w.values():
        w["doms"][0].p2m[3] = pc.NIL
    p.compare()
    msg_h = p.call("host_check", "h", [("d", 0)])
    msg_g = p.call("guest_check", "g")
    assert msg_h == "domain 1 has tot_pages 88 but 87 populated gfns"
    assert msg_g == f"pfn 3 is not populated but has flags {pc.PG_FREE:#x}"
    for w in p.w.values():
        w["doms"][0].tot_pages -= 1
    msg_h = p.call("host_check", "h", [("d", 0)])
    assert msg_h.startswith("mfn ")
    assert msg_h.endswith(" is lost: pool 40 + domains 87 != total 128")
    for w in p.w.values():
        w["doms"][0].p2m[3] = w["doms"][0].p2m[4]
    assert "held twice" in p.call("host_check", "h", [("d", 0)])
    for w in p.w.values():
        w["doms"][0].p2m[3] = 100_000
    assert "beyond the host's frames" in p.call("host_check", "h", [("d", 0)])
    for w in p.w.values():
        w["g"].flags[5] |= pc.PG_MARK
    assert p.call("guest_check", "g") == "pfn 5 has a stale mark"
    for w in p.w.values():
        w["g"].flags[5] = pc.PG_FREE | pc.PG_BALLOON
    assert p.call("guest_check", "g") == "pfn 5 is in more than one state (flags 0x5)"
    for w in p.w.values():
        w["g"].flags[5] = pc.PG_FREE | pc.PG_HIGHMEM
    assert p.call("guest_check", "g") == "pfn 5 has the wrong highmem flag"


def test_check_counter_failures_identical():
    p = make()
    run(p, ("decrease", 8, pc.GFP_HIGHUSER))
    for w in p.w.values():
        w["g"].stats.balloon_low += 1
    assert "balloon list holds" in p.call("guest_check", "g")
    for w in p.w.values():
        w["g"].stats.balloon_low -= 1
        w["g"].stats.current_pages += 1
    assert p.call("guest_check", "g").startswith("current_pages is ")
    for w in p.w.values():
        w["g"].stats.current_pages -= 1
        w["doms"][0].tot_pages += 1
    assert p.call("host_check", "h", [("d", 0)]).startswith("domain 1 has tot_pages ")
    assert p.call("host_check", "h", []).startswith("mfn 0 is lost: pool ")
    p.set(0, "tot_pages", p.py["doms"][0].tot_pages - 1)
    for w in p.w.values():  # corrupt stats make alloc_xenballooned_pages ask for more
        w["g"].stats.balloon_low = -3
    assert p.call("alloc_xenballooned_pages", "g", 2)[0] == 0
    assert p.call("alloc_xenballooned_pages", "g", 100)[0] == pc.ENOMEM
    p.compare()


def test_pages_on_the_wrong_zone_list():
    """Flags changed through the view: pages reach the balloon by their flag, not their list."""
    p = make(lowmem=48)
    for pfn in (0, 1, 5, 50, 51, 90):
        run(p, ("flag_xor", pfn, pc.PG_HIGHMEM))
    run(p, ("flag_xor", 2, pc.PG_MARK))
    for gfp in (pc.GFP_HIGHUSER, pc.GFP_USER, pc.GFP_HIGHUSER):
        run(p, ("decrease", 8, gfp))
    run(p, ("workload_alloc", 20))
    run(p, ("alloc_xb", 12))
    for _ in range(5):
        run(p, ("increase", 8))
    for gfp in (pc.GFP_USER, pc.GFP_HIGHUSER):
        run(p, ("decrease", 8, gfp))
    assert p.call("guest_check", "g") is not None


def test_memory_model_pressure_paths_alike():
    """Cache, reclaim by the balloon and by the workload, swap, OOM and swap-in agree."""
    p = make(total=160, memory=128, extra=0, lowmem=64, batch=8)
    p.set("g", "fail_page_allocs", 0)
    run(p, ("swap", 16, 10))
    for anon, file, dt in [(20, 40, 1.0), (60, 40, 1.0), (100, 40, 0.5), (140, 10, 1.0),
                           (30, 60, 2.0), (110, 60, 1.0), (0, 0, 1.0)]:
        run(p, ("workload_step", anon, file, dt))
        run(p, ("turn", -12))
        run(p, ("reclaim", 6, pc.GFP_USER))
        run(p, ("alloc_xb", 3))
    assert p.py["g"].vm.oom_kills and p.py["g"].vm.pswpout and p.py["g"].vm.refaults


def test_workloads_step_and_read_vmstats_alike():
    """The batched step and the batched read give what per-guest calls give."""
    out = {}
    for core in (pc, cc):
        h = core.host_new(512, True)
        gs = []
        for i in range(3):
            d = core.domain_new(h, i + 1, 128, 128)
            g = core.guest_new(d, 128, 128, 4, 16, True)
            g.vm.swap_pages = 8 * i
            gs.append(g)
        arr = core.guest_array(gs)
        kills = np.zeros(3, dtype=np.uint64)
        total = [core.workloads_step(arr, u64([10 * t, 60 * t, 130]), u64([50, 20, 0]), 1.0,
                                     kills) for t in range(4)]
        vm = np.zeros(3, dtype=VMSTAT_DTYPE)
        mem = np.zeros((3, 4), dtype=np.uint64)
        core.read_vmstats(arr, vm, mem)
        out[core] = (total, kills.tolist(), vm.tolist(), mem.tolist(),
                     [core.guest_check(g) for g in gs])
    assert out[pc] == out[cc]
    assert out[cc][0][-1] > 0 and out[cc][4] == [None] * 3


def test_same_api():
    """Every public function of the oracle, with the same parameters, and the same constants."""
    funcs = {n: f for n, f in vars(pc).items()
             if inspect.isfunction(f) and f.__module__.startswith(pc.__name__ + ".")
             and not n.startswith("_")}
    for name, f in funcs.items():
        assert list(inspect.signature(getattr(cc, name)).parameters) == \
            list(inspect.signature(f).parameters), name
    consts = {n: v for n, v in vars(pc).items() if n.isupper() and isinstance(v, int)}
    assert consts and all(getattr(cc, n) == v for n, v in consts.items())


# --- the compiled core alone ---------------------------------------------------------------

def test_alloc_xenballooned_gives_up_where_pycore_would_spin():
    h = cc.host_new(64, False)
    d = cc.domain_new(h, 1, 32, 32)
    g = cc.guest_new(d, 32, 32, 0, 0, False)  # batch 0: decrease_reservation does nothing
    assert cc.alloc_xenballooned_pages(g, 4) == (cc.ENOMEM, None)
    assert g.stats.target_unpopulated == 0
    assert cc.guest_check(g) is None and cc.host_check(h, [d]) is None


def test_alloc_xenballooned_undo_returns_the_pages_taken():
    h = cc.host_new(64, False)
    d = cc.domain_new(h, 1, 32, 32)
    g = cc.guest_new(d, 40, 40, 0, 0, False)
    g.stats.current_pages, g.stats.total_pages = 32, 32  # pfns 32..39 are holes
    assert cc.balloon_add_region(g, 32, 2) == 0  # two lowmem pages in the balloon
    assert cc.alloc_xenballooned_pages(g, 4) == (cc.ENOMEM, None)
    assert cc.ballooned_pfns(g).tolist() == [32, 33]
    assert g.stats.balloon_low == 2 and g.stats.target_unpopulated == 0
    assert cc.guest_check(g) is None


def test_children_keep_parents_alive():
    g = cc.guest_new(cc.domain_new(cc.host_new(256, True), 7, 128, 256), 128, 64, 0, 16,
                     False)
    tags = cc.host_tags(g.dom.host)
    gc.collect()  # the host and the domain are referenced only by the guest now
    for _ in range(4):
        assert cc.decrease_reservation(g, 16, cc.GFP_HIGHUSER) == cc.BP_DONE
    out = cc.workload_alloc(g, 10)
    mfns = cc.domain_p2m(g.dom)[out.astype(np.intp)].astype(np.intp)
    assert tags[mfns].tolist() == [0] * 10  # a snapshot: taken before the workload wrote
    assert cc.host_tags(g.dom.host)[mfns].tolist() == [7] * 10
    assert g.dom.host.free_pages == 128 + 64
    flags = cc.guest_flags(g)
    del g
    gc.collect()
    assert len(flags) == 128 and not flags.flags.writeable  # snapshots outlive the objects


def test_arrays_are_checked():
    h = cc.host_new(64, False)
    d = cc.domain_new(h, 1, 32, 32)
    for bad in (np.zeros(4, dtype=np.uint32), np.zeros((2, 2), dtype=np.uint64),
                np.zeros(8, dtype=np.uint64)[::2], [1, 2]):
        with pytest.raises(TypeError):
            cc.xenmem_decrease_reservation(d, bad)
    assert cc.domain_new(h, 2, 33, 64) is None
    with pytest.raises(IndexError):
        cc.balloon_append(cc.guest_new(d, 32, 32, 0, 4, False), 32)
