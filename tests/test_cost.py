"""Time (issue 10): the cost model, worker runs that span simulated time, jiffies."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import pytest

import xenballoon as xb
from xenballoon.core import _c as cc
from xenballoon.core import _py as pc
from xenballoon.sim import DelayedWork

# A turn of 512 pages out costs 1,000 + 512 x 1,000 ns: 0.513 ms; in, 1,000 + 512 x 500 ns.
SIMPLE = xb.CostModel(hypercall_ns=1000, alloc_page_ns=100, release_ns=900, populate_ns=400,
                      free_page_ns=100)
TURN_OUT = 513_000
TURN_IN = 257_000


def timed(memory: int = 4096, cost: xb.CostModel = SIMPLE, host: int = 16384,
          **guest_kw: object) -> xb.Balloon:
    hv = xb.Hypervisor(xb.Simulation(), host, cost=cost)
    domain = hv.create_domain(memory, maxmem=guest_kw.pop("maxmem", None))  # type: ignore[arg-type]
    return xb.Balloon(xb.Guest(domain, **guest_kw))  # type: ignore[arg-type]


def record_runs(balloon: xb.Balloon) -> list[tuple[float, str]]:
    runs: list[tuple[float, str]] = []
    balloon.add_listener(lambda b: runs.append((b.guest.sim.now, b.state.name)))
    return runs


def at(sim: xb.Simulation, when: float, fn: Callable[[], object]) -> list[object]:
    """Call fn at `when` and keep what it returned."""
    seen: list[object] = []
    sim.call_at(when, lambda: seen.append(fn()))
    return seen


# --- the model ------------------------------------------------------------------------------

def test_cost_model_fields_are_validated_naming_the_field() -> None:
    """Negative, infinite or non-numeric costs are refused with the field's name."""
    with pytest.raises(xb.InvalidArgument, match="release_ns"):
        xb.CostModel(release_ns=-1)
    with pytest.raises(xb.InvalidArgument, match="wakeup_ns"):
        xb.CostModel(wakeup_ns=math.inf)
    with pytest.raises(xb.InvalidType, match="hypercall_ns"):
        xb.CostModel(hypercall_ns="600")  # type: ignore[arg-type]
    with pytest.raises(xb.InvalidType, match="scrub_ns"):
        xb.CostModel(scrub_ns=True)
    with pytest.raises(xb.InvalidArgument, match="no field 'bogus'"):
        SIMPLE.with_changes(bogus=1)
    with pytest.raises(xb.InvalidArgument, match="populate_ns"):
        SIMPLE.with_changes(populate_ns=-5)


def test_cost_model_is_frozen_and_in_nanoseconds() -> None:
    model = xb.CostModel(hypercall_ns=600)
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.hypercall_ns = 1.0  # type: ignore[misc]
    assert model.hypercall_ns == 600.0 and model.release_ns == 0.0
    assert all(f.name.endswith("_ns") for f in dataclasses.fields(model))


def test_default_cost_model_is_the_documented_profile() -> None:
    """The numbers of the README's table (each with its source there)."""
    assert xb.CostModel.default() == xb.CostModel(
        hypercall_ns=600, populate_ns=1500, release_ns=400, scrub_ns=1600, xen_scrub_ns=1600,
        alloc_page_ns=150, free_page_ns=150, reclaim_ns=1000, wakeup_ns=10_000,
        update_va_mapping_ns=400)


def test_from_rates_gives_each_direction_its_rate() -> None:
    """MiB/s become ns per page (256 pages per MiB); everything else is 0."""
    model = xb.CostModel.from_rates(256, 512)
    assert model.release_ns == 1e9 / (256 * 256) and model.populate_ns == 1e9 / (512 * 256)
    assert model.rates_mib_s() == pytest.approx((256, 512))
    assert model.hypercall_ns == model.scrub_ns == model.wakeup_ns == 0


@pytest.mark.parametrize("rates", [(0, 1), (1, -2), (math.nan, 1), (1, math.inf)])
def test_from_rates_refuses_rates_that_are_not_positive(rates: tuple[float, float]) -> None:
    with pytest.raises(xb.InvalidArgument, match="mib_s"):
        xb.CostModel.from_rates(*rates)


def test_turn_cost_counts_scrubbing_and_pv() -> None:
    """Out: allocator + guest scrub + release + Xen scrub; in: populate + allocator."""
    model = xb.CostModel.default()
    assert model.turn_cost(scrub_pages=True, scrub_freed=True, pv=False) == (
        600, 150 + 1600 + 400 + 1600, 1500 + 150, 0)
    assert model.turn_cost(scrub_pages=False, scrub_freed=False, pv=True) == (
        600, 150 + 400, 1650, 400)


def test_hypervisor_takes_a_cost_model_or_none() -> None:
    sim = xb.Simulation()
    assert xb.Hypervisor(sim, 16).cost is None
    assert xb.Hypervisor(sim, 16, cost=SIMPLE).cost is SIMPLE
    with pytest.raises(xb.InvalidType, match="CostModel"):
        xb.Hypervisor(sim, 16, cost={"hypercall_ns": 1})  # type: ignore[arg-type]


# --- a run spans time -----------------------------------------------------------------------

def test_three_turns_end_at_the_exact_time() -> None:
    """Wake-up, then 3 turns of 512 pages: the run ends at the sum of their costs."""
    b = timed(cost=SIMPLE.with_changes(wakeup_ns=2000))
    runs = record_runs(b)
    b.set_target(4096 - 3 * 512)
    b.guest.sim.run()
    assert runs == [((2000 + 3 * TURN_OUT) / 1e9, "DONE")]
    assert runs[0][0] == 0.001541
    b.set_target(4096)
    b.guest.sim.run()
    assert runs[1][0] == pytest.approx(0.001541 + (2000 + 3 * TURN_IN) / 1e9, abs=1e-15)
    assert b.stats.current_pages == 4096


def test_counters_show_mid_run() -> None:
    """run(until) inside a run sees the turns begun by then, in stats and sysfs alike."""
    b = timed()
    sim = b.guest.sim
    b.set_target(4096 - 3 * 512)
    sim.run(until=0.0006)  # the second turn began at 0.513 ms
    assert b.stats.current_pages == 4096 - 1024 and b.work_running
    assert b.sysfs.read("info/current_kb") == f"{(4096 - 1024) * 4}\n"
    assert b.state is xb.BPState.DONE and not b.work_pending
    sim.run()
    assert b.stats.current_pages == 4096 - 1536 and not b.work_running
    assert sim.now == 3 * TURN_OUT / 1e9


def test_instantaneous_model_takes_no_time() -> None:
    """cost=None: a run of many turns ends at the time it started."""
    b = timed(cost=None)  # type: ignore[arg-type]
    runs = record_runs(b)
    b.guest.sim.call_at(0.3, lambda: b.set_target(1000))
    b.guest.sim.run()
    assert runs == [(0.0, "DONE"), (0.3, "DONE")]  # the watch's first firing, then this
    assert b.stats.current_pages == 1000


def test_target_rewritten_mid_run_changes_direction_at_the_next_turn() -> None:
    """A target written during turn 2 of an inflate: turn 3 reads the new credit."""
    b = timed()
    sim, hv = b.guest.sim, b.guest.domain.hypervisor
    runs = record_runs(b)
    b.set_target(4096 - 4 * 512)
    seen = at(sim, 0.0007, lambda: hv.mem_set(b.guest.domain.domid, 4096 * 4))
    low = at(sim, 0.00103, lambda: b.stats.current_pages)  # turn 3 began at 1.026 ms
    sim.run()
    assert seen == [None] and low == [4096 - 1024 + 512]
    # out, out, in, in, then credit 0; the queued run finds nothing to do
    end = (2 * TURN_OUT + 2 * TURN_IN) / 1e9
    assert runs == [(end, "DONE"), (end, "DONE")]
    assert b.stats.current_pages == 4096 and b.guest.domain.tot_pages == 4096


def test_work_queued_while_running_runs_once_after_it() -> None:
    """schedule_delayed_work on a running item queues one more run, however often called."""
    b = timed()
    sim = b.guest.sim
    runs = record_runs(b)
    b.set_target(4096 - 2 * 512)
    pending = at(sim, 0.0001, lambda: (b.set_target(4096 - 1024), b.work_pending))
    at(sim, 0.0002, lambda: b.set_target(4096 - 1024))
    at(sim, 0.0003, lambda: b.set_target(4096 - 1024))
    sim.run()
    assert pending == [(None, True)]
    assert runs == [(2 * TURN_OUT / 1e9, "DONE")] * 2
    assert not b.work_pending and not b.work_running


def test_alloc_ballooned_pages_between_two_turns() -> None:
    """alloc_xenballooned_pages between turns takes pages the first turn ballooned."""
    b = timed()
    sim = b.guest.sim
    b.set_target(4096 - 3 * 512)
    got = at(sim, 0.0003, lambda: b.alloc_ballooned_pages(16))
    sim.run()
    (pfns,) = got
    assert len(pfns) == 16  # type: ignore[arg-type]
    s = b.stats
    assert s.current_pages == 4096 - 1536 and s.target_unpopulated == 16
    assert s.balloon_low == 1536 - 16
    b.free_ballooned_pages(pfns)
    sim.run()
    assert b.stats.balloon_low == 1536


def test_backoff_timer_lands_on_the_jiffy() -> None:
    """A run ending EAGAIN at 0.0013 s with a 2 s backoff retries at 2.000 s, not 2.0013."""
    b = timed(cost=xb.CostModel(hypercall_ns=1_300_000), maxmem=8192, pv=True)
    sim, hv = b.guest.sim, b.guest.domain.hypervisor
    runs = record_runs(b)
    hv.inject_increase_fault(calls=1, max_frames=0)
    b.set_target(4096 + 512)
    sim.run(until=0.0014)
    assert runs == [(0.0013, "EAGAIN")] and b.stats.schedule_delay == 2
    assert sim.next_event_time() == 2.0
    sim.run()
    assert runs[1] == (2.0 + 0.0013, "DONE")
    assert b.stats.current_pages == 4096 + 512


def test_domain_destroyed_mid_run_stops_the_worker() -> None:
    b = timed()
    sim, hv = b.guest.sim, b.guest.domain.hypervisor
    runs = record_runs(b)
    b.set_target(1024)
    at(sim, 0.0006, lambda: hv.destroy_domain(b.guest.domain))
    sim.run()
    assert runs == [] and not b.work_running and sim.now == 0.0006
    hv.check()


def test_a_bug_mid_run_raises_when_its_turn_comes_and_the_worker_runs_again() -> None:
    """BUG() in turn 2 raises at the end of turn 1's time; the run is over, not stuck."""
    b = timed()
    sim, hv, domid = b.guest.sim, b.guest.domain.hypervisor, b.guest.domain.domid
    assert hv.decrease_reservation(domid, [600]) == 1  # behind the guest's back
    b.set_target(4096 - 1024)
    with pytest.raises(xb.InvariantError, match="BUG"):
        sim.run()
    assert sim.now == TURN_OUT / 1e9 and not b.work_running and not b.work_pending
    assert b.stats.current_pages == 4096 - 512
    hv.increase_reservation(domid, [600])  # repaired
    b.set_target(4096 - 1024)
    sim.run()
    assert b.stats.current_pages == 4096 - 1024 and b.state is xb.BPState.DONE
    hv.check(guests=True)


def test_a_default_model_gives_back_a_gib_in_about_a_second() -> None:
    """The default profile: 1 GiB out at ~1 GiB/s; the run is many turns yet one wake-up."""
    b = timed(memory=1 << 19, cost=xb.CostModel.default(), host=1 << 20)
    runs = record_runs(b)
    b.set_target((1 << 19) - (1 << 18))
    b.guest.sim.run()
    turn = 600 + 512 * (150 + 1600 + 400 + 1600)
    assert runs == [pytest.approx(((10_000 + 512 * turn) / 1e9, "DONE"))]
    assert runs[0][0] == pytest.approx(0.9834, abs=1e-4)


# --- jiffies --------------------------------------------------------------------------------

def test_delayed_work_expires_on_a_jiffy() -> None:
    """expires = floor(now * hz) + delay; a delay of 0 runs now."""
    sim = xb.Simulation(hz=250)
    runs: list[float] = []
    work = DelayedWork(sim, lambda: runs.append(sim.now))
    sim.run(until=0.0013)
    work.schedule(500)
    assert work.expires == 2.0
    sim.run()
    work.schedule(0)
    assert work.expires == 2.0
    sim.call_at(2.0061, lambda: work.schedule(1))  # tick 501 ended at 2.004: next is 2.008
    sim.run()
    assert runs == [2.0, 2.0, 2.008]


def test_next_event_time_skips_cancelled_events() -> None:
    sim = xb.Simulation()
    assert sim.next_event_time() is None
    first = sim.call_at(1.0, lambda: None)
    sim.call_at(2.0, lambda: None)
    assert sim.next_event_time() == 1.0
    first.cancel()
    assert sim.next_event_time() == 2.0


# --- the core call ----------------------------------------------------------------------------

@pytest.mark.parametrize("core", [pytest.param(pc, id="python"), pytest.param(cc, id="c")])
def test_balloon_turns_stops_on_the_budget_after_the_turn_crossing_it(core) -> None:
    """Turns run while their cost is below the budget; the one crossing it is the last."""
    h = core.host_new(256, True)
    d = core.domain_new(h, 1, 128, 128)
    g = core.guest_new(d, 128, pc.MAX_GFNS, 4, 8, True)
    g.stats.current_pages = g.stats.total_pages = 128
    g.stats.target_pages = 64
    cost = (100.0, 10.0, 5.0, 0.0)  # 180 ns per turn of 8 pages out
    assert core.balloon_turns(g, 100, 400.0, cost) == (pc.BP_DONE, 3, 540.0)
    assert g.stats.current_pages == 128 - 24
    assert core.balloon_turns(g, 2, math.inf, cost) == (pc.BP_DONE, 2, 360.0)
    assert core.balloon_turns(g, 100, 0.0, cost) == (pc.BP_DONE, 1, 180.0)
    assert core.balloon_turns(g, 100, math.inf, cost) == (pc.NO_CREDIT, 3, 360.0)
    g.stats.target_pages = 80
    assert core.balloon_turns(g, 100, math.inf, cost) == (pc.NO_CREDIT, 3, 280.0)
