"""A 10,000-domain host (issue 17 items 1 and 5): creation, a round of targets, a policy minute.

Three cases side by side, each on a host of ``XENBALLOON_BENCH_HOST_DOMAINS`` domains
(default 10,000; 40 under ``--benchmark-disable``), every domain a 4 MiB guest (1,024
pages) running a balloon:

- creation: ``create_domain`` + ``Guest`` + ``Balloon`` for every domain (one round: a
  host is built once);
- a round of targets: ``mem_set`` for every domain through xenstore, then the worker runs
  those writes cause (the balloon's watch fires on each write);
- a policy minute: a host balancer attached with `attach_policy` writes a new
  ``memory/target`` for every domain each second, through its own ``xs`` handle, for 60
  simulated seconds; every balloon reaches each target.

Costs are CPU time (``time.process_time``, Python's garbage collector included: a full
collection before each timed part, so that no case pays for an earlier one's garbage), reported
per domain (per domain and second for the policy); the summary shows them in ns.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from typing import Any

from pytest_benchmark.fixture import BenchmarkFixture

import xenballoon as xb
from xenballoon.policies import PolicyBase, attach_policy

GUEST_PAGES = 1024
KIB_PER_PAGE = 4
SECONDS = 60


def domains(small: bool) -> int:
    return 40 if small else int(os.environ.get("XENBALLOON_BENCH_HOST_DOMAINS", "10000"))


def build(n: int) -> xb.Hypervisor:
    """The host: ``n`` domains, each with a guest and its balloon."""
    hv = xb.Hypervisor(xb.Simulation(), GUEST_PAGES * n)
    for i in range(n):
        xb.Balloon(xb.Guest(hv.create_domain(GUEST_PAGES, name=f"vm{i + 1}")))
    return hv


def balloons(hv: xb.Hypervisor) -> list[Any]:
    return [d.guest.balloon for d in hv.domains.values()]


def all_reached(hv: xb.Hypervisor, pages: int) -> bool:
    return all(b.stats.target_pages == pages and b.current_pages == pages
               for b in balloons(hv))


class EverySecond(PolicyBase):
    """A static split that changes every second: each tick gives every domain (dom0 but
    none here) one of two shares in turn and writes it to ``memory/target``.

    The shape of `xenballoon.policies.static.StaticPolicy`, which writes only when the
    set of domains changes, made to write every time: a policy's full round of targets.
    """

    name = "every-second"

    def __init__(self, shares_kb: tuple[int, int]) -> None:
        super().__init__(interval=1.0)
        self.shares_kb = shares_kb
        self.ticks = 0
        self.share_kb = 0

    def tick(self) -> None:
        infos = self.xc.domain_getinfo(0, 1 << 16)  # every domain (xc's default is 1,024)
        self.share_kb = self.shares_kb[self.ticks % 2]
        self.ticks += 1
        target = str(self.share_kb)
        for info in infos:
            if info["domid"] != 0:
                self.xs.write("", f"{self.xs.get_domain_path(info['domid'])}/memory/target",
                              target)


def test_host_creation(benchmark: BenchmarkFixture, small: bool,
                       record: Callable[..., None]) -> None:
    """Create the host: domain, guest and balloon, for every domain."""
    n = domains(small)
    cpu: list[float] = []

    def create() -> xb.Hypervisor:
        gc.collect()  # the earlier cases' garbage (whole hosts) is not this host's cost
        t = time.process_time()
        hv = build(n)
        cpu.append(time.process_time() - t)
        return hv

    hv = benchmark.pedantic(create, rounds=1)
    assert len(hv.domains) == n and hv.free_pages == 0
    hv.sim.run()  # the balloons' first runs: their targets are their boot memory
    assert all_reached(hv, GUEST_PAGES)
    hv.check(guests=True)
    record(f"host {n:,} domains: create", "c", n, unit="domain", ns=min(cpu) * 1e9 / n)


def test_host_round_of_targets(benchmark: BenchmarkFixture, small: bool,
                               record: Callable[..., None]) -> None:
    """One ``mem_set`` for every domain through xenstore, and the worker runs it causes."""
    n = domains(small)
    half = GUEST_PAGES // 2
    cpu: list[float] = []

    def setup() -> tuple[tuple[xb.Hypervisor], dict[str, Any]]:
        hv = build(n)
        hv.sim.run()
        gc.collect()  # the previous round's host goes before this one is timed
        return (hv,), {}

    def round_of_targets(hv: xb.Hypervisor) -> xb.Hypervisor:
        t = time.process_time()
        for domid in list(hv.domains):
            hv.mem_set(domid, half * KIB_PER_PAGE)
        hv.sim.run()
        cpu.append(time.process_time() - t)
        return hv

    hv = benchmark.pedantic(round_of_targets, setup=setup, rounds=1 if small else 3)
    assert all_reached(hv, half)
    hv.check(guests=True)
    record(f"host {n:,} domains: mem_set round", "c", n, unit="domain",
           ns=min(cpu) * 1e9 / n)


def test_host_policy_minute(benchmark: BenchmarkFixture, small: bool,
                            record: Callable[..., None]) -> None:
    """A policy writing a new target for every domain each second, for a simulated minute."""
    n = domains(small)
    shares = (GUEST_PAGES // 2 * KIB_PER_PAGE, GUEST_PAGES * 3 // 4 * KIB_PER_PAGE)
    cpu: list[float] = []

    def setup() -> tuple[tuple[xb.Hypervisor, EverySecond], dict[str, Any]]:
        hv = build(n)
        hv.sim.run()
        policy = EverySecond(shares)
        attach_policy(hv, policy)
        gc.collect()
        return (hv, policy), {}

    def minute(hv: xb.Hypervisor, policy: EverySecond) -> tuple[xb.Hypervisor, EverySecond]:
        t = time.process_time()
        hv.sim.run(until=hv.sim.now + SECONDS)
        cpu.append(time.process_time() - t)
        return hv, policy

    hv, policy = benchmark.pedantic(minute, setup=setup, rounds=1)
    assert policy.ticks == SECONDS
    assert all_reached(hv, policy.share_kb // KIB_PER_PAGE)
    hv.check(guests=True)
    record(f"host {n:,} domains: policy minute", "c", n * SECONDS, unit="target",
           ns=min(cpu) * 1e9 / (n * SECONDS))
