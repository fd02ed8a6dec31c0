"""The checks on guests large enough for runs: both cores name the same first breach.

The compiled checks take shortcuts the reference core does not: a block of 64 frames that
is a run of consecutive mfns is marked in one go, the guest's per-pfn rules are scanned in
byte lanes, and a list walk takes 64 linked pages at once when they are a run.  The small
worlds of ``test_core_equivalence`` seldom hold such runs.  Here guests of thousands of
pages are ballooned, loaded and handed out on both cores, then broken behind their backs
(the same way on both): a frame mapped twice, a run of the pool overlapping a physmap, a
link that skips a page, closes a loop or leaves the list, a flag gone wrong.  Each check
must answer exactly as the reference does, and a state that is merely shuffled (frames
swapped between gfns, which breaks runs but no rule) must still pass.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xenballoon.core import _c as cc
from xenballoon.core import _py as pc

NIL = pc.NIL
CORES = (pc, cc)


class Twins:
    """The same host, domain and guest on both cores, driven the same way."""

    def __init__(self, total: int, memory: int, lowmem: int, batch: int) -> None:
        self.w: dict[Any, dict[str, Any]] = {}
        for core in CORES:
            h = core.host_new(total, True)
            d = core.domain_new(h, 1, memory, memory)
            g = core.guest_new(d, memory, lowmem, 8, batch, True)
            g.stats.current_pages = g.stats.total_pages = g.totalram_pages
            self.w[core] = {"h": h, "d": d, "g": g}

    def call(self, name: str, *args: Any) -> Any:
        """name(guest, *args) on both cores; the same answer from each."""
        answers = [getattr(core, name)(w["g"], *args) for core, w in self.w.items()]
        if isinstance(answers[0], tuple):  # (rc, array or None)
            answers = [(rc, None if out is None else out.tolist()) for rc, out in answers]
        elif hasattr(answers[0], "tolist"):
            answers = [a.tolist() for a in answers]
        assert answers[0] == answers[1]
        return answers[0]

    def checks(self) -> tuple[str | None, str | None]:
        """(host check, guest check) of the reference, after asserting the compiled agree."""
        answers = [(core.host_check(w["h"], [w["d"]]), core.guest_check(w["g"]))
                   for core, w in self.w.items()]
        assert answers[0] == answers[1]
        return answers[0]

    def get(self, obj: str, field: str, i: int) -> int:
        return int(getattr(self.w[pc][obj], field)[i])

    def put(self, obj: str, field: str, i: int, value: int) -> None:
        """Write one element of a core array (p2m, free_stack, flags, next) on both cores."""
        for w in self.w.values():
            getattr(w[obj], field)[i] = value

    @property
    def py(self) -> dict[str, Any]:
        return self.w[pc]


@st.composite
def loaded(draw: st.DrawFn) -> Twins:
    """A guest with long runs on every list: ballooned, with workload, cache and handed out."""
    memory = draw(st.integers(1200, 3000))
    t = Twins(total=draw(st.integers(memory + 200, 2 * memory)), memory=memory,
              lowmem=draw(st.sampled_from([0, memory // 3, memory])),
              batch=draw(st.sampled_from([64, 200, 512])))
    for _ in range(draw(st.integers(0, 4))):
        t.call("decrease_reservation", draw(st.integers(0, 512)),
               draw(st.sampled_from([pc.GFP_HIGHUSER, pc.GFP_USER])))
    t.call("increase_reservation", draw(st.integers(0, 300)))
    if draw(st.booleans()):
        t.call("workload_alloc", draw(st.integers(0, 200)))
    if draw(st.booleans()):
        t.call("workload_step", draw(st.integers(0, 400)), draw(st.integers(0, 400)), 1.0)
    if draw(st.booleans()):
        t.call("alloc_xenballooned_pages", draw(st.integers(0, 100)))
    assert t.checks() == (None, None)
    return t


def lists(t: Twins) -> dict[str, int]:
    """Each non-empty list's head (the reference core's), by name."""
    g = t.py["g"]
    heads = {"free0": g.free_head[0], "free1": g.free_head[1], "cache0": g.cache_head[0],
             "cache1": g.cache_head[1], "balloon": g.balloon_head, "anon": g.anon_head}
    return {name: int(pfn) for name, pfn in heads.items() if int(pfn) < g.nr_pfns}


def walk(t: Twins, head: int, steps: int) -> int:
    """The pfn `steps` links down the list from head (the last one if it ends first)."""
    g = t.py["g"]
    pfn = head
    for _ in range(steps):
        link = int(g.next[pfn])
        if link >= g.nr_pfns:
            break
        pfn = link
    return pfn


def break_host(t: Twins, kind: str, at: int, other: int) -> None:
    h, d = t.py["h"], t.py["d"]
    gfns = [i for i in range(d.nr_gfns) if int(d.p2m[i]) != NIL]
    if kind == "pool_run" and h.free_pages >= 64:
        # 64 pool entries become a run down from a frame the physmap holds, or up
        i = at % (h.free_pages - 63)
        base = int(d.p2m[gfns[other % len(gfns)]]) if gfns else other % h.total_pages
        step = 1 if other % 2 else -1
        for k in range(64):
            t.put("h", "free_stack", i + k, (base + step * k) % h.total_pages)
    elif kind == "dup" and gfns:
        t.put("d", "p2m", gfns[at % len(gfns)], int(d.p2m[gfns[other % len(gfns)]]))
    elif kind == "swap" and gfns:  # no rule broken: a run broken up
        a, b = gfns[at % len(gfns)], gfns[other % len(gfns)]
        ma, mb = int(d.p2m[a]), int(d.p2m[b])
        t.put("d", "p2m", a, mb)
        t.put("d", "p2m", b, ma)
    elif kind == "beyond" and gfns:
        t.put("d", "p2m", gfns[at % len(gfns)], h.total_pages + other % 3)
    elif kind == "unmap" and gfns:
        t.put("d", "p2m", gfns[at % len(gfns)], NIL)
    elif kind == "pool_dup" and h.free_pages:
        t.put("h", "free_stack", at % h.free_pages,
              int(h.free_stack[other % h.free_pages]))


def break_guest(t: Twins, kind: str, at: int, other: int) -> None:
    g = t.py["g"]
    heads = lists(t)
    if not heads:
        return
    name = sorted(heads)[other % len(heads)]
    pfn = walk(t, heads[name], at % 4000)
    nxt = int(g.next[pfn])
    if kind == "skip":          # the link jumps over a page
        t.put("g", "next", pfn, walk(t, pfn, 2))
    elif kind == "loop":        # the link goes back up the list: a cycle
        t.put("g", "next", pfn, walk(t, heads[name], other % (at % 4000 + 1)))
    elif kind == "leave":       # the link goes to a page of another list, or nowhere
        t.put("g", "next", pfn, (nxt + 1 + other) % (g.nr_pfns + 2))
    elif kind == "end":         # the list ends early
        t.put("g", "next", pfn, pc.ANON_END if name == "anon" else NIL)
    elif kind == "flag":        # a page of the list loses its state or gains another
        t.put("g", "flags", pfn, int(g.flags[pfn]) ^ (1 << (other % 8)))
    elif kind == "zone":
        t.put("g", "flags", pfn, int(g.flags[pfn]) ^ pc.PG_HIGHMEM)


BREAKS = st.tuples(st.sampled_from(["host", "guest"]), st.integers(0, 10**6),
                   st.integers(0, 10**6))
HOST_KINDS = ("pool_run", "dup", "swap", "beyond", "unmap", "pool_dup")
GUEST_KINDS = ("skip", "loop", "leave", "end", "flag", "zone")


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(loaded(), st.lists(st.tuples(st.sampled_from(HOST_KINDS + GUEST_KINDS),
                                    st.integers(0, 10**6), st.integers(0, 10**6)),
                          min_size=1, max_size=3))
def test_both_cores_name_the_same_breach_in_runs(t: Twins, breaks: list) -> None:
    """Whatever is broken, and wherever in a run, the compiled checks answer as the reference."""
    for kind, at, other in breaks:
        if kind in HOST_KINDS:
            break_host(t, kind, at, other)
        else:
            break_guest(t, kind, at, other)
        t.checks()


def test_a_shuffled_physmap_still_checks_out() -> None:
    """Frames swapped between gfns break the runs, not the rules."""
    t = Twins(total=8192, memory=4096, lowmem=4096, batch=512)
    for a, b in ((5, 4000), (64, 65), (127, 3000), (1000, 1001)):
        break_host(t, "swap", a, b)
    assert t.checks() == (None, None)


def test_a_pool_run_over_held_frames_is_a_frame_held_twice() -> None:
    """64 pool slots made a run of frames gfns 100.. hold: the first gfn is named."""
    t = Twins(total=4096, memory=1024, lowmem=1024, batch=512)
    first = t.get("d", "p2m", 100)
    for k in range(64):
        t.put("h", "free_stack", 128 + k, first + k)
    host, _ = t.checks()
    assert host == f"mfn {first} is held twice (found again at domain 1 gfn 100)"


def test_a_loop_in_a_long_free_list_is_named_where_the_walk_gives_up() -> None:
    """A link back to the list's head: the walk stops after nr_pfns pages, at the same pfn."""
    t = Twins(total=4096, memory=2048, lowmem=2048, batch=512)
    head = int(t.py["g"].free_head[0])
    tail = walk(t, head, 5000)
    t.put("g", "next", tail, head)
    _, guest = t.checks()
    assert guest is not None and guest.startswith("free list 0 is corrupt at pfn ")


def test_a_link_that_skips_a_page_leaves_it_off_the_list() -> None:
    """A free page skipped in the middle of a run: the list is one page short."""
    t = Twins(total=4096, memory=2048, lowmem=2048, batch=512)
    pfn = walk(t, int(t.py["g"].free_head[0]), 1000)
    t.put("g", "next", pfn, walk(t, pfn, 2))
    _, guest = t.checks()
    assert guest == "free list 0 holds 2047 pages but nr_free is 2048"


def test_a_ballooned_run_with_a_lowmem_page_after_highmem_is_named() -> None:
    """The balloon list holds lowmem before highmem, in runs; a lowmem page after is named."""
    t = Twins(total=8192, memory=4096, lowmem=1024, batch=512)
    for _ in range(7):
        t.call("decrease_reservation", 512, pc.GFP_HIGHUSER)
    g = t.py["g"]
    assert g.stats.balloon_low > 0 and g.stats.balloon_high > 0
    tail, low = int(g.balloon_tail), int(g.balloon_head)
    t.put("g", "next", tail, low)                  # back to the lowmem head: after highmem
    _, guest = t.checks()
    assert guest == f"lowmem pfn {low} follows highmem in the balloon list"
