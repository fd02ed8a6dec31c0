"""The event loop against SimPy: a million self-rescheduling timed callbacks.

``timers`` callbacks each reschedule themselves with their own period, a whole number of
jiffies from 1 to 250 (up to a second at HZ = 250, as the driver's and a policy's timers
are), until about a million events have run.  Four ways, side by side in one run:
`Simulation.call_later`, `DelayedWork` (what the balloon worker uses), and SimPy (a test
dependency) with plain callbacks on ``env.timeout`` events and with generator processes.
The first two run on the compiled loop, or on its plain-Python twin under
``XENBALLOON_BACKEND=python``.
Each is timed from the first event to the last, building the timers not included; the
cost is per event.  Under ``--benchmark-disable`` it runs 2,000 events at 10 and 100
timers: a correctness test (every way runs the same events).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pytest
import simpy
from pytest_benchmark.fixture import BenchmarkFixture

import xenballoon as xb
from xenballoon.sim import DelayedWork

HZ = 250
KINDS = ("call_later", "DelayedWork", "simpy callbacks", "simpy processes")


def periods(timers: int) -> list[int]:
    """Each timer's period in jiffies: 1..250, spread evenly and deterministically."""
    return [1 + (i * 7919) % 250 for i in range(timers)]


def events_until(periods: list[int], jiffies: int) -> int:
    """Events run from 0 up to and including ``jiffies``: each timer also runs at 0."""
    return sum(jiffies // p + 1 for p in periods)


def horizon(periods: list[int], events: int) -> int:
    """The fewest whole jiffies by which at least ``events`` events have run."""
    lo, hi = 0, events * max(periods)
    while lo < hi:
        mid = (lo + hi) // 2
        if events_until(periods, mid) >= events:
            hi = mid
        else:
            lo = mid + 1
    return lo


Runner = tuple[Callable[[float], object], list[int]]


def with_call_later(periods: list[int]) -> Runner:
    sim, count = xb.Simulation(HZ), [0]

    def timer(seconds: float) -> Callable[[], None]:
        def tick() -> None:
            count[0] += 1
            call_later(seconds, tick)
        return tick

    call_later = sim.call_later
    for p in periods:
        sim.call_later(0.0, timer(p / HZ))
    return sim.run, count


def with_delayed_work(periods: list[int]) -> Runner:
    sim, count = xb.Simulation(HZ), [0]

    def work(jiffies: int) -> DelayedWork:
        def tick() -> None:
            count[0] += 1
            item.schedule(jiffies)
        item = DelayedWork(sim, tick)
        return item

    with sim.lock:  # DelayedWork's callers hold the world's lock
        for p in periods:
            work(p).schedule(0)
    return sim.run, count


def with_simpy_callbacks(periods: list[int]) -> Runner:
    env, count = simpy.Environment(), [0]

    def timer(seconds: float) -> Callable[[simpy.Event], None]:
        def tick(event: simpy.Event) -> None:
            count[0] += 1
            env.timeout(seconds).callbacks.append(tick)
        return tick

    for p in periods:
        env.timeout(0).callbacks.append(timer(p / HZ))
    return env.run, count


def with_simpy_processes(periods: list[int]) -> Runner:
    env, count = simpy.Environment(), [0]

    def process(seconds: float) -> Generator[simpy.Event, Any, None]:
        while True:
            count[0] += 1
            yield env.timeout(seconds)

    for p in periods:
        env.process(process(p / HZ))
    return env.run, count


BUILD = {"call_later": with_call_later, "DelayedWork": with_delayed_work,
         "simpy callbacks": with_simpy_callbacks, "simpy processes": with_simpy_processes}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("timers", [1000, 10000])
def test_event_loop(benchmark: BenchmarkFixture, small: bool, record: Callable[..., None],
                    kind: str, timers: int) -> None:
    """About 1M timed callbacks (2,000 when small) over `timers` self-rescheduling timers."""
    if small:
        timers //= 100
    ps = periods(timers)
    jiffies = horizon(ps, 2_000 if small else 1_000_000)
    # Half a jiffy past the last instant: every way runs the same events despite float
    # rounding in the times (SimPy's run(until) also stops before events at `until`).
    until = (jiffies + 0.5) / HZ
    counts: list[list[int]] = []

    def setup() -> tuple[tuple[Callable[[float], object]], dict[str, object]]:
        run, count = BUILD[kind](ps)
        counts.append(count)
        return (run,), {}

    benchmark.pedantic(lambda run: run(until), setup=setup, rounds=1 if small else 3)
    events = events_until(ps, jiffies)
    assert all(count == [events] for count in counts)
    record(f"event loop, {timers:,} timers", kind, events, unit="event", timers=timers,
           simulated_seconds=until)
