"""The hypervisor: domains, the XENMEM hypercalls, the toolstack calls, check() and leaks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import xenballoon as xb

Machine = Callable[..., xb.Hypervisor]


def test_create_domain_populates_and_writes_xenstore(machine: Machine) -> None:
    """create_domain takes frames from the pool and writes memory/target and static-max."""
    hv = machine(1000)
    dom = hv.create_domain(300, maxmem=400, name="vm")
    assert (dom.domid, dom.name, dom.tot_pages, dom.max_pages) == (1, "vm", 300, 400)
    assert hv.free_pages == 700
    assert hv.xenstore.read("/local/domain/1/memory/target") == str(300 * 4)
    assert hv.xenstore.read("/local/domain/1/memory/static-max") == str(400 * 4)
    assert hv.domains == {1: dom}
    assert (dom.physmap()[:300] != 0xFFFFFFFF).all()


def test_create_domain_out_of_memory_changes_nothing(machine: Machine) -> None:
    """OutOfMemory when the pool is short, and no domid is consumed."""
    hv = machine(100)
    with pytest.raises(xb.OutOfMemory):
        hv.create_domain(101)
    assert hv.free_pages == 100 and hv.domains == {}
    assert hv.create_domain(100).domid == 1


@pytest.mark.parametrize("kw", [{"memory": -1}, {"memory": 1.5}, {"memory": True},
                                {"memory": 10, "maxmem": 5}, {"memory": "10"},
                                {"memory": 10, "name": 3}, {"memory": 10, "name": "x" * 5000}])
def test_create_domain_bad_input(machine: Machine, kw: dict) -> None:
    """Bad sizes or names raise and create nothing."""
    hv = machine(100)
    with pytest.raises((ValueError, TypeError)):
        hv.create_domain(**kw)
    assert hv.domains == {} and hv.free_pages == 100


def test_destroy_domain_returns_every_frame(machine: Machine) -> None:
    """destroy_domain gives the frames back and removes the xenstore home."""
    hv = machine(100)
    dom = hv.create_domain(60)
    hv.destroy_domain(dom)
    assert hv.free_pages == 100 and hv.domains == {} and not dom.alive
    assert "/local/domain/1/memory/target" not in hv.xenstore
    with pytest.raises(ValueError):
        hv.destroy_domain(dom)


def test_increase_reservation_stops_when_pool_is_empty(machine: Machine) -> None:
    """populate_physmap does gfns in turn and stops when the host pool runs dry."""
    hv = machine(12)
    dom = hv.create_domain(10, maxmem=100)
    assert hv.increase_reservation(dom.domid, [20, 21, 22]) == 2
    assert dom.tot_pages == 12 and hv.free_pages == 0


def test_increase_reservation_stops_at_max_pages(machine: Machine) -> None:
    """A domain cannot pass max_pages; max_pages below tot_pages stops all growth."""
    hv = machine(100)
    dom = hv.create_domain(10, maxmem=12)
    assert hv.increase_reservation(dom.domid, np.arange(10, 20)) == 2
    hv.mem_max(dom.domid, 4 * 5)
    assert dom.max_pages == 5 and dom.tot_pages == 12
    assert hv.decrease_reservation(dom.domid, [0]) == 1
    assert hv.increase_reservation(dom.domid, [0]) == 0


def test_hypercalls_stop_at_first_gfn_they_cannot_do(machine: Machine) -> None:
    """Increase stops at a populated gfn, decrease at an unpopulated one."""
    hv = machine(100)
    dom = hv.create_domain(10, maxmem=50)
    assert hv.increase_reservation(dom.domid, [30, 5, 31]) == 1
    assert hv.decrease_reservation(dom.domid, [30, 40, 0]) == 1
    assert dom.tot_pages == 10 and hv.free_pages == 90


@pytest.mark.parametrize("gfns", [[-1], [1.5], "12", [[1, 2]], [True], [1 << 40]])
def test_hypercalls_refuse_bad_gfns(machine: Machine, gfns: object) -> None:
    """Bad gfn arrays raise and change nothing."""
    hv = machine(100)
    dom = hv.create_domain(10, maxmem=50)
    for call in (hv.increase_reservation, hv.decrease_reservation):
        with pytest.raises((ValueError, TypeError)):
            call(dom.domid, gfns)
    assert dom.tot_pages == 10 and hv.free_pages == 90


def test_unknown_domid_raises_value_error(machine: Machine) -> None:
    """Hypercalls and toolstack calls on an unknown domid raise ValueError."""
    hv = machine(100)
    for call in (lambda: hv.increase_reservation(7, [0]), lambda: hv.decrease_reservation(7, [0]),
                 lambda: hv.mem_set(7, 4), lambda: hv.mem_max(7, 4)):
        with pytest.raises(ValueError):
            call()


def test_mem_set_writes_target_in_kib(machine: Machine) -> None:
    """mem_set is `xl mem-set`: it writes memory/target and validates the value."""
    hv = machine(100)
    dom = hv.create_domain(10)
    hv.mem_set(dom.domid, 24)
    assert hv.xenstore.read(f"{dom.home}/memory/target") == "24"
    assert dom.target_kb == 24
    with pytest.raises(ValueError):
        hv.mem_set(dom.domid, -4)
    assert dom.target_kb == 24


def test_check_detects_a_frame_owned_twice(machine: Machine) -> None:
    """check() names a frame that two gfns map."""
    hv = machine(100)
    dom = hv.create_domain(10)
    hv.check()
    p2m = dom.handle.p2m                                 # the core's own array
    saved = int(p2m[1])
    p2m[1] = p2m[0]
    with pytest.raises(xb.InvariantError, match="held twice"):
        hv.check()
    p2m[1] = saved
    hv.check()


def test_check_detects_a_lost_frame_and_wrong_tot_pages(machine: Machine) -> None:
    """check() names a frame that is nowhere, and a tot_pages that disagrees."""
    hv = machine(100)
    dom = hv.create_domain(10)
    p2m = dom.handle.p2m
    saved = int(p2m[3])
    p2m[3] = 0xFFFFFFFF
    with pytest.raises(xb.InvariantError, match="tot_pages"):
        hv.check()
    p2m[3] = saved


def test_leaks_counted_only_without_any_scrubbing(machine: Machine) -> None:
    """A frame holding one domain's data that reaches another counts as a leak."""
    for scrub_freed, expected in ((False, 5), (True, 0)):
        hv = machine(10, scrub_freed=scrub_freed)
        a = hv.create_domain(5)
        guest = xb.Guest(a)
        guest.alloc_pages(5)
        hv.destroy_domain(a)
        hv.create_domain(5)
        assert hv.leaks == expected


def test_increase_fault_limits_next_hypercalls(machine: Machine) -> None:
    """inject_increase_fault caps the next N populate hypercalls."""
    hv = machine(100)
    dom = hv.create_domain(10, maxmem=100)
    hv.inject_increase_fault(calls=1, max_frames=1)
    assert hv.increase_reservation(dom.domid, [10, 11, 12]) == 1
    assert hv.increase_reservation(dom.domid, [13, 14]) == 2


def test_unknown_backend_name_is_a_value_error() -> None:
    """Hypervisor(backend=...) takes "c" or "python"."""
    with pytest.raises(ValueError, match="python"):
        xb.Hypervisor(xb.Simulation(), 10, backend="bogus")
