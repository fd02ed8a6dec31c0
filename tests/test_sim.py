"""The simulated clock and Linux delayed-work semantics."""

from __future__ import annotations

import math

import pytest

import xenballoon as xb
from xenballoon.sim import DelayedWork


def test_events_run_in_time_order(sim: xb.Simulation) -> None:
    """Events run by time, whatever order they were scheduled in."""
    seen: list[str] = []
    sim.call_later(2.0, lambda: seen.append("b"))
    sim.call_later(1.0, lambda: seen.append("a"))
    sim.call_at(3.0, lambda: seen.append("c"))
    sim.run()
    assert seen == ["a", "b", "c"]
    assert sim.now == 3.0


def test_same_time_events_run_fifo(sim: xb.Simulation) -> None:
    """Events at the same time run in the order they were scheduled."""
    seen: list[int] = []
    for i in range(10):
        sim.call_at(1.0, lambda i=i: seen.append(i))
    sim.run()
    assert seen == list(range(10))


def test_run_until_includes_the_boundary_and_ends_there(sim: xb.Simulation) -> None:
    """run(until) runs events at exactly `until` and leaves now at `until`."""
    seen: list[float] = []
    for t in (1.0, 2.0, 3.0):
        sim.call_at(t, lambda t=t: seen.append(t))
    sim.run(until=2.0)
    assert seen == [1.0, 2.0]
    assert sim.now == 2.0
    sim.run(until=2.5)
    assert sim.now == 2.5 and seen == [1.0, 2.0]


def test_run_none_leaves_now_at_last_event(sim: xb.Simulation) -> None:
    """run(None) ends at the last event's time; with no events, now is unchanged."""
    sim.run()
    assert sim.now == 0.0
    sim.call_later(5.0, lambda: None)
    sim.run()
    assert sim.now == 5.0


def test_advance_and_jiffies() -> None:
    """advance(s) is run(now + s); jiffies count ticks of 1/hz."""
    sim = xb.Simulation(hz=100)
    sim.advance(1.5)
    assert sim.now == 1.5 and sim.jiffies == 150


def test_cancelled_timer_does_not_run(sim: xb.Simulation) -> None:
    """Timer.cancel() stops the call."""
    seen: list[int] = []
    timer = sim.call_later(1.0, lambda: seen.append(1))
    timer.cancel()
    timer.cancel()
    sim.run()
    assert seen == []


def test_events_scheduled_while_running_are_ordered(sim: xb.Simulation) -> None:
    """An event may schedule more events, including at the current time."""
    seen: list[str] = []
    sim.call_at(1.0, lambda: (seen.append("a"), sim.call_later(0, lambda: seen.append("c"))))
    sim.call_at(1.0, lambda: seen.append("b"))
    sim.run()
    assert seen == ["a", "b", "c"]


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, "1", None, True])
def test_bad_delays_are_refused(sim: xb.Simulation, bad: object) -> None:
    """Negative, non-finite or non-numeric delays raise and schedule nothing."""
    with pytest.raises((ValueError, TypeError)):
        sim.call_later(bad, lambda: None)  # type: ignore[arg-type]
    assert sim.pending == 0


def test_cannot_schedule_or_run_into_the_past(sim: xb.Simulation) -> None:
    """call_at and run refuse times before now."""
    sim.advance(2.0)
    with pytest.raises(ValueError):
        sim.call_at(1.0, lambda: None)
    with pytest.raises(ValueError):
        sim.run(until=1.0)


@pytest.mark.parametrize("hz", [0, -5, 2.5, True])
def test_bad_hz_is_refused(hz: object) -> None:
    """hz must be a positive integer."""
    with pytest.raises(ValueError):
        xb.Simulation(hz=hz)  # type: ignore[arg-type]


def test_scheduling_pending_work_changes_nothing(sim: xb.Simulation) -> None:
    """schedule_delayed_work on a pending item keeps the earlier expiry."""
    runs: list[float] = []
    work = DelayedWork(sim, lambda: runs.append(sim.now))
    assert work.schedule(2 * sim.hz)
    assert not work.schedule(0)
    assert work.expires == 2.0
    sim.run()
    assert runs == [2.0]


def test_work_may_reschedule_itself(sim: xb.Simulation) -> None:
    """A running work item is no longer pending and may queue itself again."""
    runs: list[float] = []

    def fn() -> None:
        runs.append(sim.now)
        assert work.running and not work.pending
        if len(runs) < 3:
            work.schedule(sim.hz)

    work = DelayedWork(sim, fn)
    work.schedule(0)
    sim.run()
    assert runs == [0.0, 1.0, 2.0]
    assert not work.running


def test_work_never_runs_twice_at_once(sim: xb.Simulation) -> None:
    """Queueing the item from inside itself runs it again later, not nested."""
    depth: list[int] = []
    active = [0]

    def fn() -> None:
        active[0] += 1
        depth.append(active[0])
        if len(depth) < 3:
            work.schedule(0)
        active[0] -= 1

    work = DelayedWork(sim, fn)
    work.schedule(0)
    sim.run()
    assert depth == [1, 1, 1]


def test_cancel_delayed_work(sim: xb.Simulation) -> None:
    """cancel() drops a pending item; the next schedule() queues it anew."""
    runs: list[float] = []
    work = DelayedWork(sim, lambda: runs.append(sim.now))
    work.schedule(10 * sim.hz)
    assert work.cancel() and not work.cancel()
    work.schedule(sim.hz)
    sim.run()
    assert runs == [1.0]
