"""Destroyed guests are freed: nothing in the simulation keeps them alive (issue 16.5)."""

from __future__ import annotations

import gc
import weakref

import pytest

import xenballoon as xb


def test_destroyed_guests_are_not_kept_alive_by_their_timers() -> None:
    """200 guests, each destroyed with its worker waiting out a backoff: none stays reachable.

    Before: each cancelled timer stayed in the event queue holding the worker, hence the
    balloon, the guest and its core arrays, until simulated time reached it.
    """
    sim = xb.Simulation()
    hv = xb.Hypervisor(sim, total_pages=4096)
    refs: list[weakref.ref[xb.Balloon]] = []
    peak = 0
    for _ in range(200):
        dom = hv.create_domain(256)
        balloon = xb.Balloon(xb.Guest(dom), max_retry_count=0)
        balloon.set_target(128)
        sim.run()
        hv.inject_increase_fault(calls=1000, max_frames=0)
        balloon.set_target(256)      # the deflate gets nothing: EAGAIN, retry in 2 s
        sim.advance(0.0)
        assert balloon.state is xb.BPState.EAGAIN and balloon.work_pending
        refs.append(weakref.ref(balloon))
        hv.inject_increase_fault(calls=0)
        hv.destroy_domain(dom)
        del dom, balloon
        peak = max(peak, sim.queued)
    gc.collect()
    alive = sum(ref() is not None for ref in refs)
    assert alive == 0, f"{alive} destroyed balloons are still reachable"
    assert sim.pending == 0
    assert peak <= 2 * 64 + 1   # compaction bounds the cancelled slots
    hv.check()


@pytest.mark.parametrize("backend", xb.core.BACKENDS)
@pytest.mark.parametrize("first", ["host", "domain", "guest"])
def test_core_records_may_be_dropped_in_any_order(backend: str, first: str) -> None:
    """A core record stays usable while any child of it lives, whoever is dropped first:
    the collector frees a cycle's objects in no particular order.  (The C core counts
    references; under the sanitizer a use after free or a leak fails this test.)"""
    impl = xb.core.load(backend)
    held = {"host": impl.host_new(64, True)}
    held["domain"] = impl.domain_new(held["host"], 1, 32, 32)
    held["guest"] = impl.guest_new(held["domain"], 32, 1 << 40, 1, 512, True)
    for name in [first] + [n for n in ("host", "domain", "guest") if n != first]:
        del held[name]
        gc.collect()
        if "guest" in held:  # the guest reaches its domain and host through the core
            g = held["guest"]
            assert g.dom.host.total_pages == 64 and g.dom.tot_pages == 32
            assert impl.guest_check(g) is None and len(impl.workload_alloc(g, 4)) == 4
        elif "domain" in held:
            assert held["domain"].host.free_pages == 32
    assert not held
