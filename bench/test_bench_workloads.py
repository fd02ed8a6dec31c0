"""Guests that need memory: 1,000 guests with random-walk workloads, stepped every second for
one simulated hour, with no policy (issue 11's benchmark; goal: <= 2 us per guest-step on the
C core).

Each guest has 4,096 pages (16 MiB) and 256 pages of swap; its anonymous demand starts at
1,024 pages and walks 64 pages up or down every second between 0 and 4,608 (so some guests
reclaim cache, swap and meet the OOM killer), with a 512-page file working set.  All guests
step on one timer, one batched core call per tick.  The reference core runs fewer guests for
less time (it reports per guest-step too).
"""

from __future__ import annotations

import gc
from collections.abc import Callable

from pytest_benchmark.fixture import BenchmarkFixture

import xenballoon as xb

MEMORY, SWAP = 4096, 256


def walk(i: int) -> xb.workloads.RandomWalk:
    return xb.workloads.RandomWalk(anon=1024, file=512, step=64, min=0, max=MEMORY + 512,
                                   seed=i)


def world(backend: str, guests: int) -> tuple[xb.Hypervisor, list[xb.Guest]]:
    sim = xb.Simulation()
    hv = xb.Hypervisor(sim, guests * MEMORY + 1024, backend=backend)
    gs = [xb.Guest(hv.create_domain(MEMORY), swap_pages=SWAP, kill_unit=512)
          for _ in range(guests)]
    for i, g in enumerate(gs):
        g.run_workload(walk(i))
    return hv, gs


def test_random_walk_guests_hour(benchmark: BenchmarkFixture, backend: str, small: bool,
                                 record: Callable[..., None]) -> None:
    """1,000 guests x 3,600 one-second steps (C); 20 x 600 (reference); 10 x 60 when small."""
    if small:
        guests, seconds = 10, 60.0
    else:
        guests, seconds = (1000, 3600.0) if backend == "c" else (20, 600.0)
    worlds: list[tuple[xb.Hypervisor, list[xb.Guest]]] = []

    def setup() -> tuple[tuple[xb.Simulation], dict[str, object]]:
        worlds.clear()
        gc.collect()
        worlds.append(world(backend, guests))
        return (worlds[0][0].sim,), {}

    benchmark.pedantic(lambda sim: sim.advance(seconds), setup=setup,
                       rounds=1 if small or backend == "python" else 3)
    hv, gs = worlds[0]
    steps = guests * int(seconds)
    columns = xb.VmStatReader(gs).read()
    assert hv.sim.now == seconds
    # every guest stepped each second: its last demand is its walk's, seen alone
    assert columns["anon_demand"].tolist() == [walk(i).demand(seconds)[0]
                                               for i in range(guests)]
    assert columns["pswpout"].sum() > 0 or small
    hv.check(guests=True)
    record("workloads 1,000 guests, 1 h", backend, steps, unit="guest-step",
           guests=guests, simulated_seconds=seconds,
           oom_kills=int(columns["oom_kills"].sum()),
           pswpout=int(columns["pswpout"].sum()))
