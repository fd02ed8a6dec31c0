"""The guest's pages: boot state, the allocator and its reserve, the workload."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import xenballoon as xb

Machine = Callable[..., xb.Hypervisor]


def test_guest_boots_with_every_page_free(machine: Machine) -> None:
    """All boot pages are populated, managed and free; the reserve defaults to memory/128."""
    hv = machine(10000)
    guest = xb.Guest(hv.create_domain(2560))
    assert guest.totalram_pages == guest.nr_free_pages == guest.nr_pfns == 2560
    assert guest.totalreserve_pages == 20
    assert guest.mem_available == 2540
    assert guest.lowmem_pages is None
    assert (guest.page_flags() == xb.PG_FREE).all()


def test_small_guest_reserve_is_at_least_one(machine: Machine) -> None:
    """max(1, memory // 128) for tiny guests; an explicit reserve of 0 is refused."""
    hv = machine(1000)
    assert xb.Guest(hv.create_domain(50)).totalreserve_pages == 1
    with pytest.raises(ValueError):
        xb.Guest(hv.create_domain(50), reserve_pages=0)


def test_mem_available_never_negative(machine: Machine) -> None:
    """si_mem_available is free pages above the reserve, floored at 0."""
    hv = machine(1000)
    guest = xb.Guest(hv.create_domain(100), reserve_pages=10)
    guest.alloc_pages(95)
    assert guest.nr_free_pages == 5 and guest.mem_available == 0


def test_workload_alloc_and_free(machine: Machine) -> None:
    """alloc_pages hands out free pages (even the reserve); free_pages takes them back."""
    hv = machine(1000)
    guest = xb.Guest(hv.create_domain(100))
    pfns = guest.alloc_pages(100)
    assert pfns.dtype == np.uint64 and sorted(pfns.tolist()) == list(range(100))
    assert guest.nr_free_pages == 0 and guest.totalram_pages == 100
    with pytest.raises(xb.OutOfMemory):
        guest.alloc_pages(1)
    guest.free_pages(pfns[:10])
    assert guest.nr_free_pages == 10


def test_workload_alloc_out_of_memory_takes_nothing(machine: Machine) -> None:
    """Asking for more than is free raises OutOfMemory and takes nothing."""
    hv = machine(1000)
    guest = xb.Guest(hv.create_domain(100))
    with pytest.raises(xb.OutOfMemory):
        guest.alloc_pages(101)
    assert guest.nr_free_pages == 100


@pytest.mark.parametrize("bad", [[5, 5], [500], [-1], [1.0], "1", [[1]]])
def test_workload_free_refuses_bad_pfns(machine: Machine, bad: object) -> None:
    """Double frees, unknown pfns and wrong types raise; nothing is freed."""
    hv = machine(1000)
    guest = xb.Guest(hv.create_domain(100))
    guest.alloc_pages(10)
    with pytest.raises((ValueError, TypeError)):
        guest.free_pages(bad)
    assert guest.nr_free_pages == 90


def test_freeing_a_free_page_is_refused(machine: Machine) -> None:
    """A page the workload does not own cannot be freed, even in a batch with owned ones."""
    hv = machine(1000)
    guest = xb.Guest(hv.create_domain(100))
    owned = guest.alloc_pages(3)
    with pytest.raises(ValueError, match="not owned"):
        guest.free_pages([int(owned[0]), 99])
    assert guest.nr_free_pages == 97
    guest.free_pages(owned)


def test_highmem_pages_are_flagged_and_used_first_by_the_workload(machine: Machine) -> None:
    """pfns at and above lowmem_pages are highmem; user allocations prefer them."""
    hv = machine(1000)
    guest = xb.Guest(hv.create_domain(100), lowmem_pages=60)
    flags = guest.page_flags()
    assert (flags[60:] & xb.PG_HIGHMEM).all() and not (flags[:60] & xb.PG_HIGHMEM).any()
    assert guest.alloc_pages(1)[0] == 60


def test_one_guest_per_domain(machine: Machine) -> None:
    """A domain runs one guest."""
    hv = machine(1000)
    dom = hv.create_domain(10)
    xb.Guest(dom)
    with pytest.raises(ValueError):
        xb.Guest(dom)


def test_pv_guest_has_unpopulated_pfns_up_to_maxmem(machine: Machine) -> None:
    """A PV guest's pfns between memory and maxmem exist but are not populated."""
    hv = machine(1000)
    guest = xb.Guest(hv.create_domain(100, maxmem=150), pv=True)
    assert guest.nr_pfns == 150 and guest.totalram_pages == 100
    assert (guest.page_flags()[100:] == 0).all()
