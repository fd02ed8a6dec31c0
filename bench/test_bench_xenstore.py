"""XenStore at scale (issue 17 item 1): a write costs the same at 1,000 and 10,000 domains.

``mem_set`` is the toolstack's write of ``memory/target``; every domain runs a balloon, so
the store holds one ``memory/target`` watch per domain.  Before the store found watches by
path, each write scanned all of them: 159 us at 1,000 domains, 1.86 ms at 10,000 (the
issue's figures).  Creating and destroying domains is timed for the whole host.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import xenballoon as xb

GUEST_PAGES = 64


def host(domains: int, *, balloons: bool = True) -> xb.Hypervisor:
    hv = xb.Hypervisor(xb.Simulation(), GUEST_PAGES * (domains + 1))
    for _ in range(domains):
        domain = hv.create_domain(GUEST_PAGES)
        if balloons:
            xb.Balloon(xb.Guest(domain))
    hv.sim.run()
    return hv


@pytest.mark.parametrize("domains", [1000, 10000])
def test_mem_set(benchmark: BenchmarkFixture, small: bool, domains: int,
                 record: Callable[..., None]) -> None:
    """One ``mem_set`` (a xenstore write firing the balloon's watch) on a host of N domains."""
    n = 20 if small else domains
    hv = host(n)
    domid = n // 2
    targets = iter(range(10**9))

    def write() -> None:
        hv.mem_set(domid, 4 * (GUEST_PAGES // 2 + next(targets) % 2))

    benchmark.pedantic(write, rounds=20 if small else 2000, iterations=1 if small else 5)
    balloon = hv.domains[domid].guest.balloon  # type: ignore[union-attr]
    assert balloon.stats.target_pages in (GUEST_PAGES // 2, GUEST_PAGES // 2 + 1)
    record(f"xenstore mem_set {domains:,} domains", "c", 1, unit="write")


@pytest.mark.parametrize("domains", [1000, 10000])
def test_create_and_destroy_domains(benchmark: BenchmarkFixture, small: bool, domains: int,
                                    record: Callable[..., None]) -> None:
    """Create N domains (nodes, permissions, @introduceDomain), then destroy them all."""
    n = 50 if small else domains

    def cycle() -> xb.Hypervisor:
        hv = host(n, balloons=False)
        for domid in list(hv.domains):
            hv.destroy_domain(domid)
        return hv

    hv = benchmark.pedantic(cycle, rounds=3 if small else 1)
    assert hv.domains == {} and hv.xenstore.ls("/local/domain") == []
    hv.check()
    record(f"xenstore create+destroy {domains:,} domains", "c", n, unit="domain")
