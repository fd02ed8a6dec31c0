"""The compiled core against its oracle on worlds large enough for runs of 64 pages.

``increase_reservation`` and ``decrease_reservation`` in C take a run of 64 consecutive
pfns (on a free list, in frame_list) at once, and fall back to page by page wherever the
run breaks.  ``test_core_equivalence``'s worlds are too small for such runs; these have
thousands of pages and frame_lists of up to 512, and compare the whole state after every
step (``test_core_equivalence.Pair``).  Corruptions made from Python (a flag flipped, a
frame unmapped behind the guest's back) land inside runs too.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_core_equivalence import Pair, run

from xenballoon.core import _py as pc

GFP = st.sampled_from([pc.GFP_HIGHUSER, pc.GFP_USER])
BIG = st.integers(0, 700)
OPS = st.one_of(
    st.tuples(st.just("decrease"), BIG, GFP),
    st.tuples(st.just("increase"), BIG),
    st.tuples(st.just("turns"), st.integers(-3000, 3000), st.integers(1, 8), st.just(math.inf),
              st.just((0.0, 0.0, 0.0, 0.0, 0.0))),
    st.tuples(st.just("workload_alloc"), st.integers(0, 300)),
    st.tuples(st.just("workload_step"), st.integers(0, 1500), st.integers(0, 600),
              st.just(1.0)),
    st.tuples(st.just("alloc_xb"), st.integers(0, 200)),
    st.tuples(st.just("reclaim"), BIG, GFP),
    st.tuples(st.just("xdecrease_some"), st.just(0), st.lists(st.integers(0, 10**5),
                                                               max_size=3)),
    st.tuples(st.just("flag_xor"), st.integers(0, 10**5),
              st.sampled_from([pc.PG_HIGHMEM, pc.PG_MARK])),
    st.tuples(st.just("scrub"), st.booleans(), st.integers(0, 1)),
    st.tuples(st.just("set_batch"), st.sampled_from([64, 65, 200, 512])),
)


@st.composite
def worlds(draw: st.DrawFn) -> dict:
    memory = draw(st.integers(1000, 3000))
    return dict(total=draw(st.integers(memory + 100, 2 * memory + 500)),
                scrub_freed=draw(st.booleans()), memory=memory, max_extra=draw(st.integers(0, 600)),
                extra_pfns=0, lowmem=draw(st.sampled_from([0, memory // 2, memory])),
                reserve=draw(st.integers(0, 64)), batch=draw(st.sampled_from([64, 100, 512])),
                scrub_pages=draw(st.booleans()), driver=True)


@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(worlds(), st.lists(OPS, min_size=1, max_size=12))
def test_random_sequences_of_large_batches(world: dict, ops: list) -> None:
    """Whatever the steps, both cores end each one in the same state."""
    p = Pair(**world)
    for op in ops:
        run(p, op)


def test_a_full_cycle_in_runs_and_back() -> None:
    """Out and back in frame_lists of 512 over both zones, with data in some frames."""
    p = Pair(8192, False, 4096, 0, 0, 3000, 16, 512, True, True)
    run(p, ("workload_alloc", 700))
    for _ in range(4):
        run(p, ("decrease", 512, pc.GFP_HIGHUSER))
    run(p, ("decrease", 300, pc.GFP_USER))
    assert p.py["g"].stats.balloon_low > 0 and p.py["g"].stats.balloon_high > 0
    while p.py["g"].balloon_head != pc.NIL:
        run(p, ("increase", 512))
    assert p.call("guest_check", "g") is None


def test_a_page_of_the_wrong_zone_inside_a_run() -> None:
    """A free page whose highmem flag was flipped from Python, inside a run taken at once:
    it is appended to the balloon by its flag, as the reference does page by page."""
    p = Pair(4096, True, 2048, 0, 0, 1024, 0, 512, False, True)
    for pfn in (100, 1500):  # one in each zone's free list
        run(p, ("flag_xor", pfn, pc.PG_HIGHMEM))
    for _ in range(4):
        run(p, ("decrease", 512, pc.GFP_HIGHUSER))
    run(p, ("increase", 512))


def test_frames_with_another_domains_data_handed_out_in_a_run_are_leaks() -> None:
    """The pool's frames holding domain 7's data, populated 64 at a time: each is a leak."""
    p = Pair(4096, False, 2048, 0, 0, 2048, 0, 512, False, True)
    for _ in range(2):
        run(p, ("decrease", 512, pc.GFP_HIGHUSER))
    for w in p.w.values():
        h = w["h"]
        for slot in range(h.free_pages - 300, h.free_pages):
            h.tag[int(h.free_stack[slot])] = 7
    run(p, ("increase", 512))
    assert p.py["h"].leaks == 300
