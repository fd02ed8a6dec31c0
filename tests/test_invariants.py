"""Guest.check() and Hypervisor.check(guests=True) name each broken invariant.

Each test breaks one thing behind the library's back (through the core's zero-copy views
and struct fields), expects the check to name it, then repairs it for the fixture's check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

import xenballoon as xb

Boot = Callable[..., xb.Balloon]


@pytest.fixture
def b(boot: Boot) -> xb.Balloon:
    """A guest with workload pages, ballooned lowmem and highmem pages, and pages handed out."""
    b = boot(64, guest_kw={"lowmem_pages": 48}, batch=8)
    b.guest.alloc_pages(4)
    b.set_target(40)
    b.guest.sim.run()
    b.alloc_ballooned_pages(2)
    return b


@contextmanager
def stat_bumped(b: xb.Balloon, field: str, by: int = 1) -> Iterator[None]:
    stats = b.guest._core.stats
    setattr(stats, field, getattr(stats, field) + by)
    try:
        yield
    finally:
        setattr(stats, field, getattr(stats, field) - by)


def broken(b: xb.Balloon, match: str) -> None:
    with pytest.raises(xb.InvariantError, match=match):
        b.guest.check()


def flagged(b: xb.Balloon, flag: int) -> int:
    return int(next(p for p, f in enumerate(b.guest.page_flags()) if f & flag))


def test_a_healthy_guest_checks_out(b: xb.Balloon) -> None:
    """Workload, balloon and handed-out pages together pass every check."""
    b.guest.check()
    b.guest.domain.hypervisor.check(guests=True)


def test_check_names_a_page_in_two_states(b: xb.Balloon) -> None:
    """A free page also flagged as ballooned is in more than one state."""
    flags, pfn = b.guest.handle.flags, flagged(b, xb.PG_FREE)   # the core's own array
    flags[pfn] |= xb.PG_BALLOON
    broken(b, f"pfn {pfn} is in more than one state")
    flags[pfn] &= ~xb.PG_BALLOON & 0xFF


def test_check_names_balloon_counters_that_disagree_with_the_list(b: xb.Balloon) -> None:
    """balloon_low + balloon_high must be the balloon list's length."""
    with stat_bumped(b, "balloon_low"):
        broken(b, "balloon list holds .* but stats say")


def test_check_names_current_pages_that_disagree_with_populated_pfns(b: xb.Balloon) -> None:
    """current_pages must equal the populated pfns."""
    with stat_bumped(b, "current_pages", -3):
        broken(b, "current_pages is .* pfns are populated")


def test_check_names_total_pages_that_disagree_with_existing_pfns(b: xb.Balloon) -> None:
    """total_pages must equal the pfns that exist."""
    with stat_bumped(b, "total_pages"):
        broken(b, "total_pages is 65 but 64 pfns exist")


def test_check_names_handed_out_pages_target_unpopulated_does_not_count(
        b: xb.Balloon) -> None:
    """target_unpopulated must count the handed-out pages."""
    with stat_bumped(b, "target_unpopulated"):
        broken(b, "2 pages are handed out but target_unpopulated is 3")


def test_check_names_a_handed_out_highmem_page(b: xb.Balloon) -> None:
    """alloc_ballooned_pages hands out lowmem only."""
    flags, pfn = b.guest.handle.flags, flagged(b, xb.PG_HANDED)
    flags[pfn] |= xb.PG_HIGHMEM
    broken(b, f"pfn {pfn} has the wrong highmem flag")
    flags[pfn] &= ~xb.PG_HIGHMEM & 0xFF
    high = next(p for p, f in enumerate(b.guest.page_flags())
                if f & xb.PG_BALLOON and f & xb.PG_HIGHMEM)
    flags[high] ^= xb.PG_BALLOON | xb.PG_HANDED
    broken(b, f"pfn {high} is handed out but highmem")
    flags[high] ^= xb.PG_BALLOON | xb.PG_HANDED


def test_check_names_a_workload_page_whose_data_is_gone(b: xb.Balloon) -> None:
    """A workload page's frame holds the workload's data until the page is freed."""
    hv, pfn = b.guest.domain.hypervisor, flagged(b, xb.PG_WORKLOAD)
    tags, mfn = hv.handle.tag, int(b.guest.domain.physmap()[pfn])
    tags[mfn] = 0
    broken(b, f"pfn {pfn} belongs to the workload but its frame holds tag 0, not 1")
    tags[mfn] = b.guest.domain.domid


def test_check_names_frames_the_guest_does_not_know_about(b: xb.Balloon) -> None:
    """The domain holds exactly the guest's populated pfns: no stray populated gfn."""
    hv, dom = b.guest.domain.hypervisor, b.guest.domain
    assert hv.increase_reservation(dom.domid, [64]) == 1
    hv.check()                                       # the host's books still balance
    with pytest.raises(xb.InvariantError, match="domain 1 holds 41 frames but 40 pfns"):
        hv.check(guests=True)
    assert hv.decrease_reservation(dom.domid, [64]) == 1


def test_check_of_all_guests_names_the_guest(machine: Callable[..., xb.Hypervisor]) -> None:
    """Hypervisor.check(guests=True) checks every guest, naming the domain."""
    hv = machine(1000)
    guests = [xb.Guest(hv.create_domain(100)) for _ in range(3)]
    guests[2]._core.totalram_pages += 1
    hv.check()
    with pytest.raises(xb.InvariantError, match="guest of domain 3: totalram_pages"):
        hv.check(guests=True)
    guests[2]._core.totalram_pages -= 1
