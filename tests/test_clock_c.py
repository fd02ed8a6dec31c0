"""The compiled event loop survives whatever Python does to it (csrc/sim/clock.c).

Reference counting, the cyclic collector, callbacks that cancel, reschedule, raise and
re-enter, threads scheduling while another runs: no crash, no leak, the events as the
twin's semantics say.  These run on the C loop whatever ``XENBALLOON_BACKEND`` says.
"""

from __future__ import annotations

import gc
import sys
import threading
import weakref

import pytest

import xenballoon as xb
from xenballoon.sim import cloop


class Payload:
    pass


def cyclic_world() -> list[weakref.ref]:
    """A simulation whose timers and delayed work close over it; weak references to it."""
    sim, payload = cloop.Simulation(), Payload()
    work = cloop.DelayedWork(sim, lambda: (sim.now, payload, work))
    with sim.lock:
        work.schedule(5)
    sim.call_later(3.0, lambda: sim.call_later(1.0, lambda: sim))
    sim.call_later(4.0, lambda: work).cancel()
    cycle = sim.call_later(1.0, lambda: cycle)  # the timer refers to itself
    return [weakref.ref(sim), weakref.ref(payload)]


def test_a_dropped_simulation_is_collected_with_its_cycles() -> None:
    """Timers and delayed work whose callbacks close over the simulation: cycles the
    collector must see through the queue."""
    gc.disable()
    try:
        refs = cyclic_world()
        assert refs[0]() is not None  # only the cycles hold it now
    finally:
        gc.enable()
    gc.collect()
    assert [r() for r in refs] == [None, None]


def test_timers_free_their_callbacks_when_run_and_when_cancelled() -> None:
    sim = cloop.Simulation()
    payloads = [Payload() for _ in range(3)]
    refs = [weakref.ref(p) for p in payloads]
    timers = [sim.call_later(float(i), lambda p=p: p) for i, p in enumerate(payloads)]
    del payloads
    timers[2].cancel()
    assert refs[2]() is None and refs[0]() is not None
    sim.run(until=0.0)
    assert refs[0]() is None and refs[1]() is not None
    assert [t.pending for t in timers] == [False, True, False]
    assert repr(timers[0]) == "<Timer at 0s done>" and repr(timers[2]) == "<Timer at 2s cancelled>"


def test_callbacks_that_cancel_themselves_and_others_and_reschedule_are_safe() -> None:
    sim, seen = cloop.Simulation(), []
    timers: list[xb.Timer] = []

    def schedule(delay: float) -> None:
        k = len(timers)
        timers.append(sim.call_later(delay, lambda: chaos(k)))

    def chaos(k: int) -> None:
        seen.append(k)
        timers[k].cancel()  # itself: it runs, so a no-op
        for t in timers[k + 1::7]:
            t.cancel()
        if len(timers) < 400:
            schedule(0.0 if k % 2 else 0.5)
            schedule(0.25)

    for i in range(100):
        schedule(1.0 + i % 3)
    sim.run()
    assert len(seen) == len(set(seen)) > 100  # each event ran once at most
    ran = set(seen)
    assert all(timers[k].cancelled != (k in ran) for k in range(len(timers)))
    assert sim.pending == 0 and sim.queued == 0 and sim.next_event_time() is None


def test_a_delayed_work_that_raises_is_no_longer_running_and_can_be_queued() -> None:
    sim = cloop.Simulation()

    def fail() -> None:
        raise KeyError("x")

    work = cloop.DelayedWork(sim, fail)
    with sim.lock:
        assert work.schedule(0) and not work.schedule(3)
    with pytest.raises(KeyError):
        sim.run()
    assert not work.running and not work.pending
    with sim.lock:
        assert work.schedule(2)
        assert work.cancel() and not work.cancel()
    assert sim.pending == 0


def test_misuse_of_the_low_level_calls_is_refused_not_crashing() -> None:
    sim, other = cloop.Simulation(), cloop.Simulation()
    timer = sim.call_later(1.0, lambda: None)
    with pytest.raises(ValueError):
        sim.requeue(timer, 2.0, print)  # pending: would be queued twice
    with pytest.raises(ValueError):
        other.requeue(cloop.Timer(sim, 0.0), 1.0, print)  # another simulation's
    timer.cancel()
    with pytest.raises(ValueError):
        sim.requeue(timer, 2.0, print)  # cancelled
    with pytest.raises(TypeError):
        sim.requeue(object(), 1.0, print)
    with pytest.raises(TypeError):
        cloop.DelayedWork(object(), print)
    with pytest.raises(TypeError):
        cloop.Timer(object(), 0.0)
    with pytest.raises(ValueError):
        cloop.Timer(sim, 0.0, print)  # a new timer is idle
    with pytest.raises(TypeError):
        sim.call_later(1.0)  # type: ignore[call-arg]
    assert sim.call_later(fn=print, delay=1.0).when == 1.0
    with pytest.raises(TypeError):
        sim.call_at(1.0, print, when=2.0)  # type: ignore[call-arg]
    assert sim.pending == 1


def test_threads_schedule_while_another_thread_runs() -> None:
    """Four threads call_later and cancel while the main thread runs: every event that
    was not cancelled in time runs once."""
    sim, ran, cancelled = cloop.Simulation(), [], set()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)

    def producer(k: int) -> None:
        for i in range(2000):
            timer = sim.call_later((i % 10) * 0.01, lambda k=k, i=i: ran.append((k, i)))
            if i % 4 == 0:
                timer.cancel()  # too late if it ran already (then it is not cancelled)
                if timer.cancelled:
                    cancelled.add((k, i))

    threads = [threading.Thread(target=producer, args=(k,)) for k in range(4)]
    try:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            sim.advance(0.01)
        for t in threads:
            t.join()
        sim.run()
    finally:
        sys.setswitchinterval(interval)
    assert sorted(ran) == [(k, i) for k in range(4) for i in range(2000)
                           if (k, i) not in cancelled]
    assert len(cancelled) > 1000
    assert sim.pending == 0
