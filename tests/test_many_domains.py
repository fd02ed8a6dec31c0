"""What each domain of a large host holds only on demand behaves as if made up front."""

from __future__ import annotations

import gc
import types
from collections import Counter

import xenballoon as xb
from xenballoon.frontend import TargetWatch


def host(n: int = 3) -> xb.Hypervisor:
    hv = xb.Hypervisor(xb.Simulation(), 256 * n)
    for _ in range(n):
        xb.Balloon(xb.Guest(hv.create_domain(256)))
    hv.sim.run()
    return hv


def test_memory_hotplug_made_on_first_use_starts_from_the_boot_memory() -> None:
    hv = host()
    domain = hv.domains[2]
    hv.mem_set(2, 512)  # 128 pages: the balloon takes half the guest first
    hv.sim.run()
    guest = domain.guest
    assert guest is not None and guest.balloon.current_pages == 128
    assert [(r.start, r.end) for r in guest.hotplug.iomem] == [(0, 256)]
    assert guest.hotplug.blocks == () and guest.hotplug is guest.hotplug
    hv.check(guests=True)


def test_a_listener_added_after_runs_is_called_after_the_next_run() -> None:
    hv = host()
    balloon = hv.domains[1].guest.balloon
    runs: list[int] = []
    remove = balloon.add_listener(lambda b: runs.append(b.current_pages))
    hv.mem_set(1, 512)
    hv.sim.run()
    remove()
    hv.mem_set(1, 1024)
    hv.sim.run()
    assert runs == [128]


def test_destroying_domains_stops_each_balloon_and_drops_its_watch_only() -> None:
    hv = host(4)
    assert hv.xenstore.watch_count == 4
    for domid in (2, 3):
        balloon = hv.domains[domid].guest.balloon
        hv.mem_set(domid, 512)  # queued work that must never run
        hv.destroy_domain(domid)
        assert not balloon.work_pending
    assert hv.xenstore.watch_count == 2
    hv.sim.run()
    for domid in (1, 4):  # the others still follow their targets
        hv.mem_set(domid, 512)
    hv.sim.run()
    assert [d.guest.balloon.current_pages for d in hv.domains.values()] == [128, 128]
    hv.check(guests=True)


def test_a_domain_with_its_guest_and_balloon_holds_few_collector_tracked_objects() -> None:
    """What the cyclic collector scans per domain (its cost at 10,000 domains): no notifier
    chain, destructor closure or strategy per domain, one bound method of the balloon's
    (its worker's function), and fewer than 23 objects in all, the domain's xenstore nodes
    included (the reference core's records are Python objects: 31)."""
    hv = xb.Hypervisor(xb.Simulation(), 256 * 101)
    xb.Balloon(xb.Guest(hv.create_domain(256)))  # the host's one-off objects
    gc.collect()
    before = Counter(type(o).__name__ for o in gc.get_objects())
    for _ in range(100):
        xb.Balloon(xb.Guest(hv.create_domain(256)))
    gc.collect()
    objects = gc.get_objects()
    made = Counter(type(o).__name__ for o in objects) - before
    assert not {"NotifierChain", "partial", "NoHotplug"} & set(made), made
    assert sum(isinstance(o, types.MethodType) and isinstance(o.__self__, (xb.Balloon, TargetWatch))
               for o in objects) == 101
    assert sum(made.values()) < {"c": 23, "python": 31}[xb.BACKEND] * 100, made
