"""``run_scenario``: check a scenario, build its world, run it while recording, summarise.

The clock runs from one sample time to the next (``sim.run(until=t)``, events at ``t``
included), and the recorder copies the state into the next row of its arrays; sampling adds
no event to the simulation.  The summary is plain data (the dict ``--json`` writes):
``summary["domains"][name]`` and ``summary["host"]`` (API.md, "Scenario files").
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..trace.io import Event, Trace
from ..trace.recorder import GUEST_TOTALS, Recorder
from .build import World, build_world
from .events import schedule_timeline
from .load import load_spec, source_name
from .spec import ScenarioError, ScenarioSpec

__all__ = ["Result", "ScenarioRun", "run_scenario"]

Progress = Callable[[float, float], object]   # (simulated now, duration)
PROGRESS_STEPS = 200


@dataclass
class Result:
    """What a run left: the summary, the trace, the event log and the world at the end."""

    spec: ScenarioSpec
    world: World
    trace: Trace
    summary: dict[str, Any]
    wall_seconds: float

    @property
    def events(self) -> list[Event]:
        return list(self.trace.events)

    def plot(self, path: str | os.PathLike[str] | None = None) -> Any:
        """Plot the trace (the ``plot`` extra); write it to ``path`` (.png/.svg) if given.

        Returns the matplotlib Figure.
        """
        from ..trace.plot import plot_trace

        return plot_trace(self.trace, path=path, title=self.spec.description or None)


def _summary(world: World, recorder: Recorder) -> dict[str, Any]:
    hv = world.hypervisor
    domains: dict[str, Any] = {}
    recorder.read_guests()
    for name in recorder.domains:
        balloon = world.balloons.get(name)
        episodes = recorder.episodes[name]
        if balloon is not None:
            s = balloon.stats
            state = balloon.state.name
            row: dict[str, Any] = {"current_pages": s.current_pages,
                                   "target_pages": s.target_pages,
                                   "balloon_pages": s.balloon_low + s.balloon_high}
        else:
            state = "destroyed" if episodes else "not running"
            row = {"current_pages": 0, "target_pages": 0, "balloon_pages": 0}
        column = recorder.column[name]  # a destroyed domain's: as of its last sample
        row.update({metric: (float if metric.endswith("seconds") else int)(
            recorder.totals[i, column]) for i, metric in enumerate(GUEST_TOTALS)})
        row.update(state=state,
                   time_to_target=episodes[-1].seconds if episodes else None,
                   targets=[{"target_pages": e.target_pages, "set_at": e.set_at,
                             "reached_at": e.reached_at, "seconds": e.seconds}
                            for e in episodes])
        domains[name] = row
    return {
        "description": world.spec.description,
        "duration": world.sim.now,  # the scenario's, unless stopped early (serve)
        "backend": hv.backend,
        "domains": domains,
        "host": {"total_pages": hv.total_pages, "free_pages": hv.free_pages,
                 "min_free_pages": recorder.min_free_pages, "leaks": hv.leaks,
                 "tenants": sorted(world.tenants)},
    }


def _reporter(progress: bool | Progress) -> tuple[Progress | None, Callable[[], None]]:
    """A progress callback and what closes it: the caller's own, or for True one line on
    stderr rewritten in place (the CLI passes a rich bar; rich is the CLI's alone)."""
    if progress is False or progress is None:
        return None, lambda: None
    if callable(progress):
        return progress, lambda: None

    def report(now: float, duration: float) -> None:
        sys.stderr.write(f"\rsimulated {now:,.0f} of {duration:,.0f} s "
                         f"({100 * now / duration:.0f} %)")
        sys.stderr.flush()

    def close() -> None:
        sys.stderr.write("\n")

    return report, close


class ScenarioRun:
    """A scenario built and run step by step: ``advance(t)`` as often as wanted, then
    ``finish()``.  The hook for drivers that own the clock's pace (``xenballoon serve``):
    `run_scenario` is ``ScenarioRun(source).advance(duration)`` and ``finish()``.

    Raises `ScenarioError` listing every problem (with its key path) before anything runs.
    """

    def __init__(self, source: ScenarioSpec | Mapping[str, Any] | str | os.PathLike[str]) -> None:
        self.started = time.perf_counter()
        self.spec = spec = load_spec(source)
        try:
            self.world = world = build_world(spec)
        except ScenarioError as exc:
            raise ScenarioError(exc.problems, source_name(source)) from None
        self.duration = spec.simulation.duration
        self.times = np.arange(spec.nr_samples, dtype=np.float64) * spec.simulation.sample
        self.log: list[Event] = []
        self.recorder = recorder = Recorder(
            world.hypervisor, [name for _, name, _ in spec.instances()], self.times, self.log)
        for name, balloon in world.balloons.items():
            recorder.attach(name, balloon)
        world.on_boot.append(recorder.attach)

        def after(name: str) -> None:
            if name in recorder.column and name not in world.balloons:
                recorder.gone(name)
            recorder.host_changed()

        schedule_timeline(world, self.log, after)

    @property
    def now(self) -> float:
        return self.world.sim.now

    @property
    def done(self) -> bool:
        """Whether the clock reached the scenario's duration."""
        return self.world.sim.now >= self.duration

    def advance(self, until: float, report: Progress | None = None) -> None:
        """Run the world to ``until``, sampling at every sample time passed (events at a
        sample time come before its sample); ``report(now, duration)`` after each sample.
        Past the duration the clock runs on without samples (``serve --forever``)."""
        sim, recorder, times = self.world.sim, self.recorder, self.times
        while recorder.nr_samples < len(times) and times[recorder.nr_samples] <= until:
            t = float(times[recorder.nr_samples])
            sim.run(until=t)
            recorder.sample()
            if report is not None:
                report(t, self.duration)
        if until > sim.now:
            sim.run(until=until)

    def finish(self) -> Result:
        """The result so far (the whole run once `done`)."""
        summary = _summary(self.world, self.recorder)
        return Result(self.spec, self.world, self.recorder.trace(), summary,
                      time.perf_counter() - self.started)


def run_scenario(source: ScenarioSpec | Mapping[str, Any] | str | os.PathLike[str], *,
                 progress: bool | Progress = False) -> Result:
    """Run a scenario (a TOML file path, a dict, or a `ScenarioSpec`) to its end.

    Raises `ScenarioError` listing every problem (with its key path) before anything runs.
    ``progress``: True shows a rich progress bar in simulated time; a callable gets
    ``(now, duration)`` about 200 times in the run.
    """
    run = ScenarioRun(source)
    report, close = _reporter(progress)
    every = max(1, math.ceil(len(run.times) / PROGRESS_STEPS))
    calls = 0

    def sampled(now: float, duration: float) -> None:
        nonlocal calls
        if report is not None and calls % every == 0:
            report(now, duration)
        calls += 1

    try:
        run.advance(run.duration, sampled)
        if report is not None:
            report(run.duration, run.duration)
    finally:
        close()
    return run.finish()
