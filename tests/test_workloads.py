"""Workloads: each shape's demand over time, the batched evaluation, replayed traces, and the
stepper that applies them to many guests with one timer."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import xenballoon as xb
from xenballoon.linux.workloads import ScalarBatch, WorkloadStepper, batch_of

W = xb.workloads


def demands(workload: W.Workload, times: list[float]) -> list[tuple[int, int]]:
    return [workload.demand(t) for t in times]


def batched(workloads: list, t: float | list[float]) -> tuple[list[int], list[int]]:
    n = len(workloads)
    anon, file = np.zeros(n, dtype=np.uint64), np.zeros(n, dtype=np.uint64)
    batch_of(workloads).demand(np.broadcast_to(np.asarray(t, dtype=np.float64), (n,)).copy(),
                               anon, file)
    return anon.tolist(), file.tolist()


def test_constant_demand_never_changes() -> None:
    """Constant: the same pages at every time."""
    assert demands(W.Constant(anon=100, file=50), [0.0, 1.0, 1e6]) == [(100, 50)] * 3


def test_step_changes_once_at_its_time() -> None:
    """Step: before `at` the first values, from `at` on the `_after` ones (default: same)."""
    w = W.Step(anon=10, file=5, at=60.0, anon_after=300)
    assert demands(w, [0.0, 59.99, 60.0, 600.0]) == [(10, 5), (10, 5), (300, 5), (300, 5)]
    assert W.Step(anon=1, file=2, at=1, file_after=7).demand(2) == (1, 7)


def test_ramp_is_linear_between_its_ends() -> None:
    """Ramp: flat until `at`, a line over `over` seconds, flat after (pages rounded down)."""
    w = W.Ramp(anon=100, file=0, at=10.0, over=20.0, anon_to=300, file_to=41)
    assert demands(w, [0.0, 10.0, 15.0, 20.0, 30.0, 99.0]) == [
        (100, 0), (100, 0), (150, 10), (200, 20), (300, 41), (300, 41)]
    down = W.Ramp(anon=300, over=10.0, anon_to=100)
    assert down.demand(5.0) == (200, 0)


def test_periodic_sine_and_square() -> None:
    """Periodic: anon + amplitude * wave, never below 0; the file working set is constant."""
    sine = W.Periodic(anon=1000, file=7, period=40.0, amplitude=500)
    assert sine.demand(0.0) == (1000, 7) and sine.demand(10.0) == (1500, 7)
    assert sine.demand(30.0) == (500, 7)
    assert sine.demand(5.0)[0] == math.trunc(1000 + 500 * math.sin(math.pi / 4))
    square = W.Periodic(anon=100, period=10.0, amplitude=300, shape="square")
    assert demands(square, [0.0, 4.9, 5.0, 9.9, 10.0]) == [
        (400, 0), (400, 0), (0, 0), (0, 0), (400, 0)]


def test_random_walk_is_seeded_bounded_and_moves_once_per_period() -> None:
    """RandomWalk: one move of +-step every `every` seconds, within [min, max], repeatable."""
    a = W.RandomWalk(anon=500, file=3, step=100, min=200, max=800, seed=7)
    b = W.RandomWalk(anon=500, file=3, step=100, min=200, max=800, seed=7)
    walk = demands(a, [float(t) for t in range(600)])
    assert walk == demands(b, [float(t) for t in range(600)])
    values = [anon for anon, _ in walk]
    assert values[0] == 500 and min(values) >= 200 and max(values) <= 800
    assert {abs(x - y) for x, y in zip(values, values[1:], strict=False)} <= {0, 100}
    assert len(set(values)) > 3
    c = W.RandomWalk(anon=500, step=100, seed=7)
    assert c.demand(599.0)[0] == W.RandomWalk(anon=500, step=100, seed=7).demand(599.5)[0]


def test_batches_give_what_each_workload_gives_alone() -> None:
    """The numpy batch of each class equals asking every instance in turn."""
    makers: list[Callable[[int], object]] = [
        lambda i: W.Constant(anon=i, file=2 * i),
        lambda i: W.Step(anon=i, file=1, at=float(i), anon_after=10 * i),
        lambda i: W.Ramp(anon=i, over=3.0 + i, at=1.0, anon_to=1000 + i, file_to=i),
        lambda i: W.Periodic(anon=500, period=7.0 + i, amplitude=400 + i,
                             shape="square" if i % 2 else "sine"),
    ]
    for make in makers:
        for t in (0.0, 2.5, 4.0, 9.75):
            batch = batched([make(i) for i in range(6)], t)
            alone = [make(i).demand(t) for i in range(6)]  # type: ignore[attr-defined]
            assert batch == ([a for a, _ in alone], [f for _, f in alone])


def test_random_walk_batch_moves_each_walk_as_it_would_alone() -> None:
    """Batched walks, refilled from each walk's own generator, and synced back."""
    walks = [W.RandomWalk(anon=10_000, step=3 + i, seed=i) for i in range(5)]
    alone = [W.RandomWalk(anon=10_000, step=3 + i, seed=i) for i in range(5)]
    batch = batch_of(walks)
    anon, file = np.zeros(5, dtype=np.uint64), np.zeros(5, dtype=np.uint64)
    for t in range(1, 700, 3):  # several moves per call, past a block of draws
        batch.demand(np.full(5, float(t)), anon, file)
        assert anon.tolist() == [w.demand(float(t))[0] for w in alone]
    batch.sync()
    assert [w.demand(800.0) for w in walks] == [w.demand(800.0) for w in alone]


def test_replay_holds_each_sample_until_the_next_and_loops(tmp_path) -> None:
    """Replay: step-wise from arrays or a CSV file; with loop it starts over."""
    w = W.Replay([0, 10, 30], [100, 400, 50], [5, 6, 7])
    assert demands(w, [0.0, 9.9, 10.0, 29.0, 31.0, 1e4]) == [
        (100, 5), (100, 5), (400, 6), (400, 6), (50, 7), (50, 7)]
    path = tmp_path / "trace.csv"
    path.write_text("time,anon,file\n0,100,5\n10,400,6\n30,50,7\n")
    looped = W.Replay.from_csv(path, loop=True)
    assert demands(looped, [5.0, 35.0, 45.0, 61.0]) == [(100, 5), (100, 5), (400, 6), (100, 5)]
    assert isinstance(batch_of([w]), ScalarBatch)


def test_replay_refuses_bad_traces(tmp_path) -> None:
    """A bad header, unordered times, fractional pages, different lengths."""
    bad = tmp_path / "bad.csv"
    bad.write_text("t,anon,file\n0,1,2\n")
    with pytest.raises(xb.InvalidArgument, match="first line"):
        W.Replay.from_csv(bad)
    bad.write_text("time,anon,file\n0,1,x\n")
    with pytest.raises(xb.InvalidArgument, match="page counts"):
        W.Replay.from_csv(bad)
    for args in (([0, 5, 5], [1, 2, 3], [1, 2, 3]), ([1], [1], [1]), ([0], [1.5], [1]),
                 ([0, 1], [1], [1, 2]), ([], [], [])):
        with pytest.raises(xb.InvalidArgument):
            W.Replay(*args)


def test_composite_adds_its_parts() -> None:
    """Composite: the parts' demands plus its own constant."""
    w = W.Composite([W.Constant(anon=100, file=10),
                     W.Step(anon=0, at=5.0, anon_after=50, file_after=1)], anon=1, file=2)
    assert demands(w, [0.0, 5.0]) == [(101, 12), (151, 13)]
    with pytest.raises(xb.InvalidType):
        W.Composite([object()])  # type: ignore[list-item]


def test_parameters_are_checked() -> None:
    """Negative pages, a zero period, an unknown shape, max below min: clear errors."""
    for make in (lambda: W.Constant(anon=-1), lambda: W.Step(at=-1.0),
                 lambda: W.Ramp(over=0.0), lambda: W.Periodic(period=0, amplitude=1),
                 lambda: W.Periodic(period=1, amplitude=1, shape="saw"),
                 lambda: W.RandomWalk(step=0), lambda: W.RandomWalk(step=1, min=5, max=4),
                 lambda: W.Composite([])):
        with pytest.raises(xb.XenBalloonError):
            make()


def test_guests_step_together_on_one_timer(machine) -> None:
    """One stepper per interval: every guest steps at each tick, in one core call."""
    hv = machine(40000)
    guests = [xb.Guest(hv.create_domain(4096)) for _ in range(3)]
    guests[0].run_workload(W.Step(anon=100, at=2.0, anon_after=900))
    guests[1].run_workload(W.RandomWalk(anon=500, step=50, seed=1))
    guests[2].run_workload(W.Constant(anon=300, file=200), interval=0.5)
    assert guests[0].anon_pages == 100 and guests[2].file_pages == 200  # at once
    stepper = WorkloadStepper.of(hv.sim, guests[0].impl, 1.0)
    assert len(stepper) == 2 and guests[0].workload is not None
    hv.sim.run(until=10.0)
    assert stepper.ticks == 11 and guests[0].anon_pages == 900
    assert guests[1].anon_pages == W.RandomWalk(anon=500, step=50, seed=1).demand(10.0)[0]
    assert guests[2].vmstat().anon_demand == 300
    guests[1].stop_workload()
    assert len(stepper) == 1 and guests[1].workload is None


def test_a_destroyed_guest_leaves_its_stepper(machine) -> None:
    """The domain's destroy chain removes it; with no guest left the timer stops."""
    hv = machine(20000)
    g = xb.Guest(hv.create_domain(4096))
    g.run_workload(W.Constant(anon=10))
    hv.destroy_domain(g.domain)
    assert len(WorkloadStepper.of(hv.sim, g.impl, 1.0)) == 0
    hv.sim.run()  # no timer is left: this returns
    assert hv.sim.now == 0.0


def test_the_workload_spikes_until_the_oom_killer_fires(machine) -> None:
    """Through the stepper: a spike beyond memory and swap kills, as the README shows."""
    hv = machine(20000)
    g = xb.Guest(hv.create_domain(4096), swap_pages=256, kill_unit=512)
    g.run_workload(W.Periodic(anon=2048, file=512, period=60.0, amplitude=3000,
                              shape="square"))
    hv.sim.run(until=59.0)
    s = g.vmstat()
    assert s.oom_kills >= 1 and s.pswpout == 256 and s.refaults > 0


def test_run_workload_refuses_bad_arguments(machine) -> None:
    """Not a workload, or a bad interval: refused, nothing attached."""
    g = xb.Guest(machine(20000).create_domain(4096))
    with pytest.raises(xb.InvalidType):
        g.run_workload(object())  # type: ignore[arg-type]
    for interval in (0, -1.0, float("inf"), True):
        with pytest.raises(xb.InvalidArgument):
            g.run_workload(W.Constant(anon=1), interval=interval)
    assert g.workload is None and g.anon_pages == 0


def test_constructors_take_the_scenario_file_keys(tmp_path) -> None:
    """Each kind is built from its [domain.workload] keys (sizes already in pages)."""
    path = tmp_path / "t.csv"
    path.write_text("time,anon,file\n0,1,2\n")
    tables = {
        W.Constant: dict(anon=1, file=2),
        W.Step: dict(anon=1, file=2, at=60.0, anon_after=3, file_after=4),
        W.Ramp: dict(anon=1, file=2, at=0.0, over=10.0, anon_to=3, file_to=4),
        W.Periodic: dict(anon=1, file=2, period=30.0, amplitude=1, shape="sine"),
        W.RandomWalk: dict(anon=1, file=2, step=1, min=0, max=9, seed=3),
    }
    for kind, keys in tables.items():
        assert kind(**keys).demand(0.0) == (1, 2)  # type: ignore[operator]
    assert W.Replay.from_csv(str(path), loop=True).demand(0.0) == (1, 2)
    assert W.Composite([W.Constant(anon=1)], anon=1, file=2).demand(0.0) == (2, 2)
