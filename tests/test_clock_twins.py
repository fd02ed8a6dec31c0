"""The compiled event loop and its plain-Python twin run the same programs the same way.

Random programs (hypothesis) of scheduling, cancelling, raising, delayed work, peeking at
the next event and re-entering `run`, from outside and from inside events, run through
``xenballoon.sim.cloop`` (C) and ``xenballoon.sim.pyloop`` (the reference) whatever
``XENBALLOON_BACKEND`` says; the traces (which event ran when, what each call returned or
raised, the queue's state between runs) must be equal.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xenballoon.sim import cloop, pyloop, pywork

TWINS = {"c": cloop, "python": pyloop}
DELAYS = [0.0, 0.0, 0.004, 0.25, 1.0, 2.5]   # repeats: many events share an instant
EVENT_LIMIT = 120                             # no action after this many events: runs end


class Boom(Exception):
    pass


ACTION = st.one_of(
    st.tuples(st.just("later"), st.sampled_from(DELAYS)),
    st.tuples(st.just("at"), st.sampled_from(DELAYS)),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("raise")),
    st.tuples(st.just("work"), st.integers(0, 2), st.sampled_from([0, 0, 1, 3, 250])),
    st.tuples(st.just("work_cancel"), st.integers(0, 2)),
    st.tuples(st.just("peek")),
    st.tuples(st.just("reenter")),
    st.tuples(st.just("bulk"), st.integers(1, 80), st.sampled_from([0.0, -0.0, 0.004, 0.01])),
    st.tuples(st.just("cancel_many"), st.integers(1, 3)),
)
STEP = st.one_of(
    st.tuples(st.just("later"), st.sampled_from(DELAYS)),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("work"), st.integers(0, 2), st.sampled_from([0, 1, 3, 250])),
    st.tuples(st.just("work_cancel"), st.integers(0, 2)),
    st.tuples(st.just("run_until"), st.sampled_from([0.0, 0.004, 0.5, 1.0, 3.0])),
    st.tuples(st.just("run")),
    st.tuples(st.just("advance"), st.sampled_from([0.0, 0.004, 1.0])),
    st.tuples(st.just("bulk"), st.integers(1, 200), st.sampled_from([0.0, 0.004, 0.01])),
    st.tuples(st.just("cancel_many"), st.integers(1, 3)),
)
PROGRAM = st.tuples(st.lists(st.lists(ACTION, max_size=4), min_size=1, max_size=12),
                    st.lists(STEP, min_size=1, max_size=25))


def work_class(twin: ModuleType) -> Any:
    return twin.DelayedWork if twin is cloop else pywork.DelayedWork


class World:
    """One run of a program on one twin; `trace` is what must match."""

    def __init__(self, twin: ModuleType, scripts: list[list[tuple]]) -> None:
        self.sim = twin.Simulation(hz=250)
        self.scripts = scripts
        self.trace: list[object] = []
        self.timers: list[Any] = []
        self.events = 0
        work = work_class(twin)
        self.works = [work(self.sim, self.event(f"w{i}")) for i in range(3)]

    def event(self, name: str) -> Callable[[], None]:
        def run() -> None:
            self.events += 1
            self.trace.append(("ran", name, self.sim.now))
            if self.events > EVENT_LIMIT:
                return
            for action in self.scripts[self.events % len(self.scripts)]:
                self.act(action, inside=True)
        return run

    def act(self, action: tuple, inside: bool) -> None:
        sim, kind = self.sim, action[0]
        if kind in ("later", "at"):
            name = f"e{len(self.timers)}"
            if kind == "later":
                timer = sim.call_later(action[1], self.event(name))
            else:
                timer = sim.call_at(sim.now + action[1], self.event(name))
            self.timers.append(timer)
            self.trace.append(("queued", name, timer.when))
        elif kind == "bulk":  # many timers: at one instant (spread 0) or at many
            for i in range(action[1]):
                self.act(("later", abs(action[2]) * i if action[2] else action[2]), inside)
        elif kind == "cancel_many":  # enough cancels to compact the queue
            for timer in self.timers[::action[1]]:
                timer.cancel()
            self.trace.append(("cancel_many", sum(t.cancelled for t in self.timers)))
        elif kind == "cancel" and self.timers:
            timer = self.timers[action[1] % len(self.timers)]
            timer.cancel()
            self.trace.append(("cancel", action[1], timer.pending, timer.cancelled))
        elif kind == "raise":
            raise Boom(sim.now)
        elif kind == "work":
            with sim.lock:
                done = self.works[action[1]].schedule(action[2])
            self.trace.append(("work", action[1], done, self.works[action[1]].expires))
        elif kind == "work_cancel":
            with sim.lock:
                self.trace.append(("work_cancel", action[1], self.works[action[1]].cancel()))
        elif kind == "peek":
            self.trace.append(("peek", sim.next_event_time()))
        elif kind == "reenter":
            with pytest.raises(Exception) as error:
                sim.run()
            self.trace.append(("reenter", type(error.value).__name__, str(error.value)))
        elif kind in ("run_until", "run", "advance"):
            try:
                if kind == "run":
                    sim.run()
                elif kind == "run_until":
                    sim.run(until=sim.now + action[1])
                else:
                    sim.advance(action[1])
            except Boom as exc:
                self.trace.append(("boom", exc.args[0]))
            self.trace.append(("state", sim.now, sim.pending, sim.next_event_time(),
                               [(t.pending, t.cancelled, repr(t)) for t in self.timers],
                               [(w.pending, w.expires, w.running) for w in self.works]))


def run_program(twin: ModuleType, scripts: list[list[tuple]], steps: list[tuple]
                ) -> list[object]:
    world = World(twin, scripts)
    for step in steps:
        world.act(step, inside=False)
    world.act(("run",), inside=False)
    return world.trace


@settings(max_examples=300, deadline=None)
@given(PROGRAM)
def test_random_programs_run_the_same_events_on_both_twins(
        program: tuple[list[list[tuple]], list[tuple]]) -> None:
    """Same events, same order, same times, same answers and errors, same queue states."""
    scripts, steps = program
    assert run_program(cloop, scripts, steps) == run_program(pyloop, scripts, steps)


BAD_CALLS: list[tuple[str, Callable[[Any], object]]] = [
    ("negative delay", lambda s: s.call_later(-1.0, print)),
    ("nan delay", lambda s: s.call_later(math.nan, print)),
    ("inf delay", lambda s: s.call_later(math.inf, print)),
    ("int negative delay", lambda s: s.call_later(-3, print)),
    ("str delay", lambda s: s.call_later("1", print)),
    ("None delay", lambda s: s.call_later(None, print)),
    ("bool delay", lambda s: s.call_later(True, print)),
    ("huge int delay", lambda s: s.call_later(10**400, print)),
    ("not callable", lambda s: s.call_later(1.0, 42)),
    ("past when", lambda s: s.call_at(0.5, print)),
    ("nan when", lambda s: s.call_at(math.nan, print)),
    ("-inf when", lambda s: s.call_at(-math.inf, print)),
    ("str when", lambda s: s.call_at("2", print)),
    ("when not callable", lambda s: s.call_at(2.0, None)),
    ("run into the past", lambda s: s.run(until=0.5)),
    ("run until nan", lambda s: s.run(until=math.nan)),
    ("run until a str", lambda s: s.run(until="5")),
    ("advance negative", lambda s: s.advance(-1.0)),
    ("advance a list", lambda s: s.advance([])),
]


@pytest.mark.parametrize("call", [c for _, c in BAD_CALLS], ids=[n for n, _ in BAD_CALLS])
def test_bad_arguments_raise_the_same_error_on_both_twins(call: Callable[[Any], object]
                                                          ) -> None:
    """Same exception type and message, and nothing changes."""
    errors = []
    for twin in (cloop, pyloop):
        sim = twin.Simulation()
        sim.advance(1.0)
        with pytest.raises(Exception) as error:
            call(sim)
        errors.append((type(error.value), str(error.value), sim.now, sim.pending))
    assert errors[0] == errors[1]
    assert issubclass(errors[0][0], (ValueError, TypeError, OverflowError))


@pytest.mark.parametrize("hz", [0, -5, 2.5, True, "250", None])
def test_bad_hz_raises_the_same_error_on_both_twins(hz: object) -> None:
    errors = []
    for twin in (cloop, pyloop):
        with pytest.raises(ValueError) as error:
            twin.Simulation(hz=hz)
        errors.append((type(error.value), str(error.value)))
    assert errors[0] == errors[1]


def test_jiffies_and_delayed_work_expiry_agree_on_awkward_times() -> None:
    """Float rounding of now * hz (the 1e-6 epsilon) gives the same ticks on both."""
    for hz in (100, 250, 1000, 1024):
        results = []
        for twin in (cloop, pyloop):
            sim = twin.Simulation(hz=hz)
            work = work_class(twin)(sim, lambda: None)
            seen = []
            for step in (0.1, 0.3, 1 / 3, 0.7, 1e-7, 12345.678):
                sim.advance(step)
                with sim.lock:
                    work.cancel()
                    work.schedule(7)
                seen.append((sim.now, sim.jiffies, work.expires))
            results.append(seen)
        assert results[0] == results[1]


def churn(twin: ModuleType) -> list[object]:
    """Hundreds of cancels, from outside and from events, so both twins compact."""
    sim, trace = twin.Simulation(), []
    timers = [sim.call_later(0.5 + (i % 7) * 0.25, lambda i=i: trace.append((i, sim.now)))
              for i in range(400)]

    def purge(start: int) -> None:
        trace.append(("purge", start, sim.now, sim.next_event_time()))
        for timer in timers[start::3]:
            timer.cancel()
        timers.extend(sim.call_later(0.0, lambda k=k: trace.append(("now", k, sim.now)))
                      for k in range(3))

    sim.call_at(0.5, lambda: purge(0))
    sim.call_at(0.75, lambda: purge(1))
    for timer in timers[2:200:3]:
        timer.cancel()
    trace.append(("before", sim.pending, sim.next_event_time()))
    sim.run(until=1.0)
    trace.append(("mid", sim.now, sim.pending, sim.next_event_time()))
    sim.run()
    trace.append(("end", sim.now, sim.pending, sim.next_event_time()))
    return trace


def test_compaction_under_churn_changes_no_event_on_either_twin() -> None:
    assert churn(cloop) == churn(pyloop)
