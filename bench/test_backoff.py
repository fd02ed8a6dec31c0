"""The worker under backoff: 1,000 and 10,000 domains ask to deflate on a host with no free frames.

Each guest (64 pages) has 16 pages in its balloon and a target of all 64; another tenant
holds every free frame.  With max_retry_count = 0 the workers never give up: each retries
after 2, 4, ... 32, 32, ... seconds.  An hour of that is simulated; the cost is per worker
run (an event of the simulation plus one balloon_process), so this measures the event loop.
The cost per run should not depend on the number of domains: the two sizes compare it.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import xenballoon as xb

HOUR = 3600.0
MEMORY, BALLOONED = 64, 16


def expected_runs(seconds: float, max_delay: int = 32) -> int:
    """Runs of a worker that starts now and gets EAGAIN every time, within `seconds`."""
    t, delay, runs = 0, 1, 0
    while t <= seconds:
        runs += 1
        delay = min(delay * 2, max_delay)  # update_schedule on EAGAIN
        t += delay
    return runs


def squeezed(backend: str, domains: int) -> tuple[xb.Hypervisor, list[xb.Balloon]]:
    sim = xb.Simulation()
    hv = xb.Hypervisor(sim, domains * MEMORY + 1024, backend=backend)
    balloons = [xb.Balloon(xb.Guest(hv.create_domain(MEMORY)), max_retry_count=0)
                for _ in range(domains)]
    for b in balloons:
        b.set_target(MEMORY - BALLOONED)
    sim.run()
    hv.create_domain(hv.free_pages, name="tenant")  # takes every free frame
    for b in balloons:
        b.set_target(MEMORY)
    return hv, balloons


@pytest.mark.parametrize("size", [1000, 10000])
def test_backoff_hour(benchmark: BenchmarkFixture, backend: str, small: bool,
                      record: Callable[..., None], size: int) -> None:
    """An hour of EAGAIN backoff for `size` workers (a hundredth of them when small)."""
    domains = size // 100 if small else size
    worlds: list[tuple[xb.Hypervisor, list[xb.Balloon], list[int]]] = []

    def setup() -> tuple[tuple[xb.Simulation], dict[str, object]]:
        worlds.clear()
        gc.collect()
        hv, balloons = squeezed(backend, domains)
        runs = [0]
        balloons[0].add_listener(lambda b: runs.__setitem__(0, runs[0] + 1))
        worlds.append((hv, balloons, runs))
        return (hv.sim,), {}

    benchmark.pedantic(lambda sim: sim.advance(HOUR), setup=setup,
                       rounds=1 if small or size > 1000 else 3)
    hv, balloons, runs = worlds[0]
    assert hv.sim.now == HOUR and hv.free_pages == 0
    assert runs[0] == expected_runs(HOUR) == 116
    for b in balloons:
        s = b.stats
        assert b.state is xb.BPState.EAGAIN and b.work_pending
        assert (s.current_pages, s.target_pages, s.balloon_low) == (
            MEMORY - BALLOONED, MEMORY, BALLOONED)
        assert s.retry_count == runs[0] + 1 and s.schedule_delay == 32
    hv.check()
    record(f"backoff {size:,} domains, 1 h", backend, domains * runs[0], unit="event",
           domains=domains, simulated_seconds=HOUR)
