"""The simulated clock and Linux delayed-work semantics."""

from __future__ import annotations

import math
import weakref

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


def test_run_from_an_event_is_refused_and_time_never_goes_back(sim: xb.Simulation) -> None:
    """Issue 16.4: run() re-entered from a callback raised nothing and moved time back.

    Before: the inner run went to 10 s, then the outer run set now back to 5 s.  Now the
    inner call raises ReentrancyError (a RuntimeError and a XenBalloonError) and time
    only moves forward.
    """
    errors: list[BaseException] = []
    seen: list[float] = []

    def reenter() -> None:
        seen.append(sim.now)
        try:
            sim.run(until=10.0)
        except xb.ReentrancyError as exc:
            errors.append(exc)

    sim.call_at(1.0, reenter)
    sim.call_at(8.0, lambda: seen.append(sim.now))
    sim.run(until=5.0)
    assert sim.now == 5.0 and seen == [1.0]
    assert len(errors) == 1
    assert isinstance(errors[0], RuntimeError) and isinstance(errors[0], xb.XenBalloonError)
    sim.run()
    assert seen == [1.0, 8.0] and sim.now == 8.0


def test_run_from_a_listener_is_refused(sim: xb.Simulation) -> None:
    """advance() from an event is run() too: refused, the event's error propagates."""
    sim.call_later(1.0, lambda: sim.advance(5.0))
    with pytest.raises(xb.ReentrancyError):
        sim.run()
    assert sim.now == 1.0
    sim.advance(1.0)  # the loop is usable again
    assert sim.now == 2.0


def test_a_raising_event_leaves_the_later_ones_queued(sim: xb.Simulation) -> None:
    """An exception stops run(); the events after it (same instant too) stay queued."""
    seen: list[str] = []

    def boom() -> None:
        raise KeyError("boom")

    sim.call_at(1.0, lambda: seen.append("a"))
    sim.call_at(1.0, boom)
    sim.call_at(1.0, lambda: seen.append("b"))
    sim.call_at(2.0, lambda: seen.append("c"))
    with pytest.raises(KeyError):
        sim.run()
    assert seen == ["a"] and sim.now == 1.0 and sim.pending == 2
    sim.run()
    assert seen == ["a", "b", "c"]


def test_cancelled_timer_drops_its_callback_at_once(sim: xb.Simulation) -> None:
    """Issue 16.5: a cancelled timer held its callback (and all it refers to) until reached."""
    class Payload:
        pass

    payload = Payload()
    ref = weakref.ref(payload)
    timer = sim.call_later(1000.0, lambda p=payload: p)
    del payload
    assert ref() is not None and timer.pending
    timer.cancel()
    assert ref() is None, "the cancelled timer still holds its callback"
    assert timer.cancelled and not timer.pending and sim.pending == 0
    assert sim.next_event_time() is None


def test_queue_stays_bounded_under_schedule_and_cancel_churn(sim: xb.Simulation) -> None:
    """Cancelled slots are compacted away: the queue never holds more than a few times
    the live timers, whatever the churn."""
    live = [sim.call_later(float(i + 1), lambda: None) for i in range(10)]
    peak = 0
    for i in range(20_000):
        timer = sim.call_later(100.0 + i, lambda: None)  # a fresh time each: new buckets
        timer.cancel()
        peak = max(peak, sim.queued)
    assert peak <= 200
    assert sim.pending == 10
    assert sim.next_event_time() == 1.0
    live[0].cancel()
    sim.run()
    assert sim.now == 10.0  # the last event run, not a cancelled slot after it


def test_cancel_from_an_event_during_compaction_keeps_the_current_instant(
        sim: xb.Simulation) -> None:
    """A compaction triggered from inside an event leaves the running instant intact."""
    seen: list[int] = []
    doomed = [sim.call_later(5.0 + i, lambda: seen.append(-1)) for i in range(300)]

    def cancel_all() -> None:
        seen.append(0)
        for timer in doomed:
            timer.cancel()
        sim.call_later(0.0, lambda: seen.append(2))

    sim.call_at(1.0, cancel_all)
    sim.call_at(1.0, lambda: seen.append(1))
    sim.run()
    assert seen == [0, 1, 2] and sim.now == 1.0 and sim.queued == 0


def test_next_event_time_skips_cancelled_and_sees_this_instant(sim: xb.Simulation) -> None:
    """The earliest pending event's time; None when nothing is pending."""
    assert sim.next_event_time() is None
    first = sim.call_at(1.0, lambda: None)
    sim.call_at(3.0, lambda: None)
    assert sim.next_event_time() == 1.0
    first.cancel()
    assert sim.next_event_time() == 3.0
    seen: list[float | None] = []
    sim.call_at(2.0, lambda: seen.append(sim.next_event_time()))
    sim.call_at(2.0, lambda: seen.append(sim.next_event_time()))
    sim.run()
    assert seen == [2.0, 3.0]
    assert sim.next_event_time() is None


def test_delayed_work_rescheduled_for_this_instant_runs_after_the_others(
        sim: xb.Simulation) -> None:
    """A work item requeued with delay 0 runs again after what is already queued now."""
    seen: list[str] = []

    def fn() -> None:
        seen.append("w")
        if seen.count("w") < 3:
            work.schedule(0)

    work = DelayedWork(sim, fn)
    with sim.lock:
        work.schedule(0)
    sim.call_later(0.0, lambda: seen.append("x"))
    sim.run()
    assert seen == ["w", "x", "w", "w"] and sim.now == 0.0


def test_next_event_time_from_a_work_item_that_requeued_itself(sim: xb.Simulation) -> None:
    """Found by the twin tests: the reference loop answered the current instant, counting
    the slot the running work item had just left, though it was queued for later."""
    seen: list[tuple[float | None, int]] = []

    def fn() -> None:
        if len(seen) < 2:
            work.schedule(1)
        seen.append((sim.next_event_time(), sim.pending))

    work = DelayedWork(sim, fn)
    with sim.lock:
        work.schedule(1)
    sim.run()
    assert seen == [(0.008, 1), (0.012, 1), (None, 0)]


def test_a_pending_or_cancelled_timer_is_not_requeued(sim: xb.Simulation) -> None:
    """requeue is for an idle timer: queueing one twice, or running a cancelled one, is
    refused and changes nothing."""
    timer = sim.call_later(1.0, lambda: None)
    with pytest.raises(xb.InvalidArgument):
        sim.requeue(timer, 2.0, lambda: None)
    timer.cancel()
    with pytest.raises(xb.InvalidArgument):
        sim.requeue(timer, 2.0, lambda: None)
    assert sim.pending == 0 and sim.next_event_time() is None
