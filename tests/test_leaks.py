"""Data never crosses domains while anyone scrubs: memory moved from guest A to guest B
through the balloon, under the four combinations of guest and hypervisor scrubbing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import xenballoon as xb

Machine = Callable[..., xb.Hypervisor]
MEMORY, DIRTY, MOVED = 1024, 300, 500


def move_memory_from_a_to_b(machine: Machine, *, scrub_pages: bool,
                            scrub_freed: bool) -> tuple[xb.Hypervisor, xb.Balloon, xb.Balloon]:
    """A's workload writes DIRTY pages and frees them; A balloons out MOVED pages (the dirty
    ones first: the allocator is LIFO) and B, squeezed earlier, deflates onto exactly them."""
    hv = machine(2 * MEMORY, scrub_freed=scrub_freed)
    a, b = (xb.Balloon(xb.Guest(hv.create_domain(MEMORY, name=name)), scrub_pages=scrub_pages)
            for name in ("a", "b"))
    a.guest.free_pages(a.guest.alloc_pages(DIRTY))
    hv.mem_set(b.guest.domain.domid, (MEMORY - MOVED) * 4)   # xl mem-set b
    hv.sim.run()
    hv.add_tenant(MOVED)                                     # B's own frames leave the pool
    hv.mem_set(a.guest.domain.domid, (MEMORY - MOVED) * 4)   # xl mem-set a
    hv.sim.run()
    assert hv.free_pages == MOVED                            # exactly A's frames
    hv.mem_set(b.guest.domain.domid, MEMORY * 4)             # xl mem-set b: B takes them
    hv.sim.run()
    assert b.stats.current_pages == MEMORY and hv.free_pages == 0
    return hv, a, b


@pytest.mark.parametrize(("scrub_pages", "scrub_freed", "leaks"), [
    (True, True, 0),
    (True, False, 0),
    (False, True, 0),
    (False, False, DIRTY),
], ids=["guest+hypervisor-scrub", "guest-scrubs", "hypervisor-scrubs", "nobody-scrubs"])
def test_leak_matrix(machine: Machine, scrub_pages: bool, scrub_freed: bool,
                     leaks: int) -> None:
    """Zero leaks whenever either side scrubs; every dirty frame counted when neither does."""
    hv, _, _ = move_memory_from_a_to_b(machine, scrub_pages=scrub_pages,
                                       scrub_freed=scrub_freed)
    assert hv.leaks == leaks


def test_frames_a_reuses_itself_are_not_leaks(machine: Machine) -> None:
    """A frame holding A's own data coming back to A is no leak, even with no scrubbing."""
    hv = machine(2 * MEMORY, scrub_freed=False)
    a = xb.Balloon(xb.Guest(hv.create_domain(MEMORY)), scrub_pages=False)
    a.guest.free_pages(a.guest.alloc_pages(DIRTY))
    a.set_target(MEMORY - MOVED)
    hv.sim.run()
    a.set_target(MEMORY)
    hv.sim.run()
    assert a.stats.current_pages == MEMORY and hv.leaks == 0


def test_destroyed_domain_data_reaches_the_next_only_without_hypervisor_scrub(
        machine: Machine) -> None:
    """A destroyed domain's dirty frames: scrubbed by the hypervisor, else counted."""
    for scrub_freed, leaks in ((True, 0), (False, DIRTY)):
        hv = machine(MEMORY, scrub_freed=scrub_freed)
        dom = hv.create_domain(MEMORY)
        xb.Guest(dom).alloc_pages(DIRTY)
        hv.destroy_domain(dom)
        hv.create_domain(MEMORY)
        assert hv.leaks == leaks
