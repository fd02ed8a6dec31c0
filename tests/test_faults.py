"""Fault injection: each fault leads to the seed's state (EAGAIN, backoff at 2/4/8 s,
ECANCELED), and once it clears the balloon reaches its target with nothing lost.

The three faults: the populate hypercall populates at most K frames
(``Hypervisor.inject_increase_fault``), the guest allocator fails the next N allocations
(``Guest.fail_next_allocations``), another tenant takes the host's free frames
(``Hypervisor.add_tenant``, cleared by destroying the tenant).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

import xenballoon as xb

Boot = Callable[..., xb.Balloon]
FOREVER = 1 << 30
BOOT, HOST, LOW = 1024, 1100, 512


@dataclass(frozen=True)
class Fault:
    """A fault, the direction of the move it blocks, and how it clears."""

    name: str
    deflate: bool  # blocks growing the guest (else: ballooning out)
    inject: Callable[[xb.Balloon], object]
    clear: Callable[[xb.Balloon, object], None]

    def __str__(self) -> str:
        return self.name


def _hv(b: xb.Balloon) -> xb.Hypervisor:
    return b.guest.domain.hypervisor


FAULTS = [
    Fault("populate-nothing", True,
          lambda b: _hv(b).inject_increase_fault(calls=FOREVER, max_frames=0),
          lambda b, _: _hv(b).inject_increase_fault(calls=0)),
    Fault("allocations-fail", False,
          lambda b: b.guest.fail_next_allocations(FOREVER),
          lambda b, _: b.guest.fail_next_allocations(0)),
    Fault("tenant-takes-the-pool", True,
          lambda b: _hv(b).add_tenant(),
          lambda b, tenant: _hv(b).destroy_domain(tenant)),  # type: ignore[arg-type]
]


def runs_of(b: xb.Balloon) -> list[tuple[float, str, int]]:
    """(time, state, schedule_delay) after each balloon_process run."""
    runs: list[tuple[float, str, int]] = []
    b.add_listener(lambda b: runs.append((b.guest.sim.now, b.state.name,
                                          b.stats.schedule_delay)))
    return runs


def faulted(boot: Boot, fault: Fault) -> tuple[xb.Balloon, object, int]:
    """A guest half ballooned out (deflate faults) or at boot size, the fault injected, and
    a target the fault blocks written to xenstore; returns the target."""
    b = boot(BOOT, host=HOST)
    if fault.deflate:
        b.set_target(LOW)
        b.guest.sim.run()
    handle = fault.inject(b)
    target = BOOT if fault.deflate else LOW
    _hv(b).mem_set(b.guest.domain.domid, target * 4)
    return b, handle, target


def rewrite_target(b: xb.Balloon) -> None:
    """The toolstack writes memory/target again (the same value): the watch fires."""
    hv, dom = _hv(b), b.guest.domain
    hv.xenstore.write(f"{dom.home}/memory/target", hv.xenstore.read(f"{dom.home}/memory/target"))


@pytest.mark.parametrize("fault", FAULTS, ids=str)
def test_fault_backs_off_2_4_8_seconds_then_cancels(boot: Boot, fault: Fault) -> None:
    """EAGAIN at t = 0, 2, 6 (delays 2, 4, 8), ECANCELED at 14 s; nothing moved."""
    b, _, target = faulted(boot, fault)
    start = b.stats.current_pages
    runs = runs_of(b)
    b.guest.sim.run()
    assert runs == [(0.0, "EAGAIN", 2), (2.0, "EAGAIN", 4), (6.0, "EAGAIN", 8),
                    (14.0, "ECANCELED", 1)]
    s = b.stats
    assert (s.current_pages, s.target_pages, s.retry_count) == (start, target, 1)
    assert not b.work_pending


@pytest.mark.parametrize("fault", FAULTS, ids=str)
def test_fault_clearing_during_backoff_recovers_at_the_next_retry(boot: Boot,
                                                                  fault: Fault) -> None:
    """Cleared at t = 5 s, the retry at 6 s reaches the target: DONE, backoff reset."""
    b, handle, target = faulted(boot, fault)
    runs = runs_of(b)
    b.guest.sim.call_at(5.0, lambda: fault.clear(b, handle))
    b.guest.sim.run()
    assert runs == [(0.0, "EAGAIN", 2), (2.0, "EAGAIN", 4), (6.0, "DONE", 1)]
    assert b.stats.current_pages == target == b.guest.domain.tot_pages


@pytest.mark.parametrize("fault", FAULTS, ids=str)
def test_cancelled_balloon_waits_for_the_target_to_be_rewritten(boot: Boot,
                                                                fault: Fault) -> None:
    """After ECANCELED the fault clearing alone does nothing: the worker is idle."""
    b, handle, _ = faulted(boot, fault)
    b.guest.sim.run()
    start = b.stats.current_pages
    fault.clear(b, handle)
    b.guest.sim.advance(100.0)
    assert (b.state, b.stats.current_pages, b.work_pending) == (xb.BPState.ECANCELED, start,
                                                                False)


@pytest.mark.parametrize("fault", FAULTS, ids=str)
def test_cancelled_balloon_reaches_target_once_fault_clears(boot: Boot, fault: Fault) -> None:
    """Fault cleared and target rewritten: one DONE run, every frame accounted for."""
    b, handle, target = faulted(boot, fault)
    hv = _hv(b)
    b.guest.sim.run()
    fault.clear(b, handle)
    runs = runs_of(b)
    rewrite_target(b)
    b.guest.sim.run()
    assert runs == [(14.0, "DONE", 1)]
    assert b.stats.current_pages == target == b.guest.domain.tot_pages
    assert hv.free_pages == HOST - target and hv.leaks == 0
    hv.check(guests=True)


def test_partial_populate_is_done_and_the_run_goes_on(boot: Boot) -> None:
    """Populate calls capped at 5 frames: each is DONE, so one run still reaches the target."""
    b = boot(BOOT, host=HOST, batch=64)
    b.set_target(LOW)
    b.guest.sim.run()
    _hv(b).inject_increase_fault(calls=3, max_frames=5)
    runs = runs_of(b)
    b.set_target(BOOT)
    b.guest.sim.run()
    assert runs == [(0.0, "DONE", 1)]
    assert b.stats.current_pages == BOOT


def test_tenant_leaving_a_few_frames_gets_them_populated_then_eagain(boot: Boot) -> None:
    """A pool of 10 frames: the first call populates them, the next populates none: EAGAIN."""
    b = boot(BOOT, host=HOST)
    b.set_target(LOW)
    b.guest.sim.run()
    tenant = _hv(b).add_tenant(leave=10)
    b.set_target(BOOT)
    b.guest.sim.run(until=0.0)
    assert (b.state, b.stats.current_pages, _hv(b).free_pages) == (xb.BPState.EAGAIN,
                                                                   LOW + 10, 0)
    _hv(b).destroy_domain(tenant)
    b.guest.sim.run()
    assert (b.state, b.stats.current_pages) == (xb.BPState.DONE, BOOT)


def test_alloc_ballooned_pages_refused_under_allocation_fault_then_served(boot: Boot) -> None:
    """alloc_ballooned_pages: OutOfMemory with nothing changed, then works once cleared."""
    b = boot(BOOT, host=HOST)
    b.guest.fail_next_allocations(2)
    before = (b.stats, _hv(b).free_pages, b.ballooned_pfns().tolist())
    with pytest.raises(xb.OutOfMemory):
        b.alloc_ballooned_pages(8)
    assert (b.stats, _hv(b).free_pages, b.ballooned_pfns().tolist()) == before
    b.guest.fail_next_allocations(0)
    pfns = b.alloc_ballooned_pages(8)
    assert len(pfns) == 8 and b.stats.target_unpopulated == 8
    b.free_ballooned_pages(pfns)


def test_add_tenant_takes_exactly_what_it_asks(boot: Boot) -> None:
    """add_tenant(n) takes n frames, leave=k all but k; too many is OutOfMemory, no change."""
    b = boot(BOOT, host=HOST)
    hv = _hv(b)
    t1 = hv.add_tenant(20)
    assert (t1.tot_pages, t1.name, hv.free_pages) == (20, "tenant", HOST - BOOT - 20)
    t2 = hv.add_tenant(leave=3, name="squeeze")
    assert (t2.name, hv.free_pages) == ("squeeze", 3)
    domains = sorted(hv.domains)
    with pytest.raises(xb.OutOfMemory):
        hv.add_tenant(4)
    with pytest.raises(xb.OutOfMemory):
        hv.add_tenant(leave=4)
    assert sorted(hv.domains) == domains and hv.free_pages == 3
    hv.destroy_domain(t1)
    hv.destroy_domain(t2)
    assert hv.free_pages == HOST - BOOT
