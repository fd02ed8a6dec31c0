"""Memory hotplug: reserve_additional_memory, xen_online_page, xen_memory_notifier and the
hotplug_unpopulated sysctl, on the guest's resource tree and memory blocks."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pytest

import xenballoon as xb
from xenballoon.linux import ResourceTree

Boot = Callable[..., xb.Balloon]
S = xb.PAGES_PER_SECTION
NIL = 0xFFFFFFFF


def hotplug(boot: Boot, memory: int = 4096, *, host: int = 65536, **guest_kw: object
            ) -> xb.Balloon:
    """A hotplug balloon on a guest of ``memory`` pages that Xen lets grow by 4 sections."""
    return boot(memory, host, maxmem=memory + 4 * S, guest_kw=guest_kw, hotplug=True)


def hotplug_pv(boot: Boot, **guest_kw: object) -> xb.Balloon:
    """A PV guest booted with 4096 of 8192 pages; Xen lets it grow by a section more."""
    b = boot(4096, 65536, maxmem=8192, guest_kw={"pv": True, **guest_kw}, hotplug=True)
    dom = b.guest.domain
    dom.hypervisor.mem_max(dom.domid, (8192 + S) * 4)
    return b


def runs(b: xb.Balloon) -> list[tuple[float, str]]:
    out: list[tuple[float, str]] = []
    b.add_listener(lambda bb: out.append((bb.guest.sim.now, bb.state.name)))
    return out


def settle(b: xb.Balloon, target: int) -> None:
    b.set_target(target)
    b.guest.sim.run()


def accounting(b: xb.Balloon) -> tuple:
    """Everything alloc_ballooned_pages must leave as it was when it fails."""
    g = b.guest
    return (b.stats, g.domain.hypervisor.free_pages, g.totalram_pages, g.nr_free_pages,
            g.nr_pfns, b.ballooned_pfns().tolist(), tuple(g.hotplug.iomem), g.hotplug.blocks,
            g.domain.tot_pages, len(g.domain.physmap()))


def checked(b: xb.Balloon) -> None:
    b.guest.domain.hypervisor.check()
    b.guest.check()


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


# --- reserve_additional_memory -----------------------------------------------------------------

def test_reserve_additional_memory_adds_one_section(boot: Boot) -> None:
    """A target 100 pages above total hotplugs one section; the balloon keeps the rest."""
    b = hotplug(boot)
    seen = runs(b)
    settle(b, 4096 + 100)
    s = b.stats
    assert s.total_pages == 4096 + S
    assert s.current_pages == s.target_pages == 4196
    assert s.balloon_low + s.balloon_high == S - 100
    assert seen == [(0.0, "WAIT"), (0.0, "DONE")]
    assert b.guest.domain.tot_pages == 4196
    checked(b)


def test_hotplugged_section_sits_above_boot_memory_aligned(boot: Boot) -> None:
    """The new System RAM range is the first section-aligned one above the boot memory."""
    b = hotplug(boot)
    settle(b, 4196)
    g = b.guest
    assert [(r.start, r.end) for r in g.hotplug.iomem] == [(0, 4096), (S, 2 * S)]
    assert g.hotplug.blocks == (xb.MemoryBlock(1, S, S, "online"),)
    assert g.nr_pfns == 2 * S
    assert not (g.page_flags()[4096:S]).any()  # the hole: no state, not counted


def test_xen_online_page_fills_the_balloon_in_ascending_order(boot: Boot) -> None:
    """Onlined lowmem pages go to the balloon head one by one: the top pfn is populated first."""
    b = hotplug(boot)
    settle(b, 4196)
    flags = b.guest.page_flags()
    assert (flags[2 * S - 100: 2 * S] == xb.PG_FREE).all()
    assert b.ballooned_pfns()[:2].tolist() == [2 * S - 101, 2 * S - 102]


def test_reserve_additional_memory_credit_nonpositive_waits(boot: Boot) -> None:
    """With enough memory hotplugged (still offline) the worker waits and adds nothing."""
    b = hotplug(boot, auto_online=False)
    seen = runs(b)
    settle(b, 4196)
    settle(b, 4296)
    assert seen == [(0.0, "WAIT"), (0.0, "WAIT")]
    assert b.stats.total_pages == 4096 + S and len(b.guest.hotplug.blocks) == 1
    checked(b)


def test_reserve_additional_memory_rounds_up_to_whole_sections(boot: Boot) -> None:
    """A target 2.5 sections above total adds 3 sections, merged into one resource."""
    b = hotplug(boot, host=4096 + 3 * S)
    settle(b, 4096 + 2 * S + S // 2)
    s = b.stats
    assert s.total_pages == 4096 + 3 * S
    assert s.current_pages == s.target_pages
    assert s.balloon_low == S // 2
    assert [blk.id for blk in b.guest.hotplug.blocks] == [1, 2, 3]
    assert [(r.start, r.end) for r in b.guest.hotplug.iomem] == [(0, 4096), (S, 4 * S)]
    checked(b)


def test_reserve_additional_memory_add_failure_cancels_and_releases(
        boot: Boot, caplog: pytest.LogCaptureFixture) -> None:
    """add_memory_resource failing is ECANCELED: the resource is released, nothing leaks."""
    b = hotplug(boot)
    before = accounting(b)
    b.guest.hotplug.fail_next_add(1)
    settle(b, 4196)
    assert b.state is xb.BPState.ECANCELED
    assert "xen:balloon: Cannot add additional memory (-12)" in messages(caplog)
    assert accounting(b)[1:] == before[1:]
    assert b.stats.target_pages == 4196  # not clamped, unlike without hotplug
    checked(b)
    settle(b, 4196)  # a new target retries, in the same place
    assert b.state is xb.BPState.DONE and b.stats.current_pages == 4196
    assert [(r.start, r.end) for r in b.guest.hotplug.iomem] == [(0, 4096), (S, 2 * S)]


def test_additional_memory_resource_beyond_address_space_cancels(
        boot: Boot, caplog: pytest.LogCaptureFixture) -> None:
    """No aligned room below max_phys_pages: ECANCELED, logged; a larger space recovers."""
    b = hotplug(boot, max_phys_pages=S + 100)
    before = accounting(b)
    settle(b, 4196)
    assert b.state is xb.BPState.ECANCELED
    assert "xen:balloon: Cannot allocate new System RAM resource" in messages(caplog)
    assert accounting(b)[1:] == before[1:]
    b.guest.hotplug.max_phys_pages = 2 * S
    settle(b, 4196)
    assert b.state is xb.BPState.DONE and b.stats.total_pages == 4096 + S


def test_additional_memory_resource_fault_cancels_once(boot: Boot) -> None:
    """fail_next_resource(1) cancels one hotplug; the next target succeeds."""
    b = hotplug(boot)
    b.guest.hotplug.fail_next_resource(1)
    settle(b, 4196)
    assert b.state is xb.BPState.ECANCELED and b.stats.total_pages == 4096
    settle(b, 4196)
    assert b.state is xb.BPState.DONE and b.stats.current_pages == 4196


@pytest.mark.parametrize("pv, message", [
    (True, "xen:balloon: set_phys_to_machine() failed, no memory added"),
    (False, "xen:balloon: Cannot add additional memory (-22)")])
def test_reserve_additional_memory_refuses_a_populated_gfn(
        boot: Boot, caplog: pytest.LogCaptureFixture, pv: bool, message: str) -> None:
    """A gfn of the new range populated behind the guest's back: ECANCELED, nothing added."""
    b = hotplug_pv(boot) if pv else hotplug(boot)
    hv, domid = b.guest.domain.hypervisor, b.guest.domain.domid
    assert hv.increase_reservation(domid, [S + 5]) == 1
    total = b.stats.total_pages
    settle(b, total + 100)
    assert b.state is xb.BPState.ECANCELED and message in messages(caplog)
    assert b.stats.total_pages == total and not b.guest.hotplug.blocks
    assert hv.decrease_reservation(domid, [S + 5]) == 1
    settle(b, total + 100)
    assert b.state is xb.BPState.DONE
    checked(b)


def test_pv_p2m_entries_are_invalid_before_population(boot: Boot) -> None:
    """PV: the new range's gfns are unpopulated in the physmap until the worker populates."""
    b = hotplug_pv(boot, auto_online=False)
    total = b.stats.total_pages
    assert total == 8192
    settle(b, total + 100)  # the extra pfns first, then a section above them
    assert b.state is xb.BPState.WAIT and b.stats.current_pages == total
    start = S
    physmap = b.guest.domain.physmap()
    assert len(physmap) == start + S and (physmap[total:] == NIL).all()
    checked(b)
    b.guest.online_memory_block(1)
    b.guest.sim.run()
    physmap = b.guest.domain.physmap()
    assert (physmap[start + S - 100:] != NIL).all() and (physmap[start: start + S - 100]
                                                       == NIL).all()


# --- onlining: xen_online_page and xen_memory_notifier -------------------------------------

def test_manual_onlining_populates_only_after_online(boot: Boot) -> None:
    """auto_online off: nothing is populated until the block is onlined and the worker runs."""
    b = hotplug(boot, auto_online=False)
    settle(b, 4196)
    g = b.guest
    assert b.state is xb.BPState.WAIT
    assert g.domain.tot_pages == 4096 and b.ballooned_pfns().size == 0
    assert (g.page_flags()[S: 2 * S] == xb.PG_OFFLINE).all()
    assert g.hotplug.blocks[0].state == "offline" and not b.work_pending
    checked(b)
    g.online_memory_block(1)
    assert b.ballooned_pfns().size == S and b.work_pending  # the MEM_ONLINE notifier
    g.sim.run()
    assert b.state is xb.BPState.DONE and b.stats.current_pages == 4196
    assert g.hotplug.blocks[0].state == "online"
    checked(b)


def test_online_memory_block_refuses_unknown_and_online_blocks(boot: Boot) -> None:
    """Onlining a block that does not exist or is online already raises ValueError."""
    b = hotplug(boot)
    settle(b, 4196)
    for block in (0, 2):
        with pytest.raises(ValueError, match="no memory block"):
            b.guest.online_memory_block(block)
    with pytest.raises(ValueError, match="online already"):
        b.guest.online_memory_block(1)


def test_memory_notifier_sees_each_block_going_online_then_online(boot: Boot) -> None:
    """Notifiers get MEM_GOING_ONLINE then MEM_ONLINE for each section, in order."""
    b = hotplug(boot, host=4096 + 2 * S)
    events: list[tuple[int, int, str]] = []
    b.guest.hotplug.register_memory_notifier(lambda ev, blk: events.append(
        (ev, blk.id, blk.state)))
    settle(b, 4096 + S + 1)
    going, online = xb.linux.MEM_GOING_ONLINE, xb.linux.MEM_ONLINE
    assert events == [(going, 1, "offline"), (online, 1, "online"),
                      (going, 2, "offline"), (online, 2, "online")]


def test_xen_memory_notifier_kicks_the_worker_on_mem_online_only(boot: Boot) -> None:
    """The driver's notifier (registered first) queues the worker at MEM_ONLINE, not before."""
    b = hotplug(boot, auto_online=False)
    settle(b, 4196)
    pending: dict[int, bool] = {}
    b.guest.hotplug.register_memory_notifier(
        lambda ev, blk: pending.setdefault(ev, b.work_pending))
    b.guest.online_memory_block(1)
    assert pending == {xb.linux.MEM_GOING_ONLINE: False, xb.linux.MEM_ONLINE: True}
    b.guest.sim.run()


def test_memory_check_names_an_offline_pfn_outside_its_block(boot: Boot) -> None:
    """guest.hotplug.check() catches a PG_OFFLINE flag no offline block accounts for."""
    b = hotplug(boot)
    settle(b, 4196)
    flags = b.guest.page_flags()
    flags[5000] = xb.PG_OFFLINE
    assert b.guest.hotplug.check() == (
        "pfn 5000 is offline but its memory block is online or missing")
    with pytest.raises(xb.InvariantError):
        b.guest.check()
    flags[5000] = 0


# --- hotplug_unpopulated: add_ballooned_pages ------------------------------------------------

def test_hotplug_unpopulated_sysctl_values(boot: Boot) -> None:
    """The sysctl takes 0/1 or a bool; anything else raises and changes nothing."""
    b = hotplug(boot)
    assert b.hotplug_unpopulated is False
    b.hotplug_unpopulated = 1
    assert b.hotplug_unpopulated is True
    for bad, exc in ((2, ValueError), ("1", TypeError), (-1, ValueError)):
        with pytest.raises(exc):
            b.hotplug_unpopulated = bad  # type: ignore[assignment]
    assert b.hotplug_unpopulated is True


def test_add_ballooned_pages_hotplugs_instead_of_ballooning_out(boot: Boot) -> None:
    """With the sysctl, alloc_ballooned_pages hands out hotplugged pages, not the guest's."""
    b = hotplug(boot)
    b.hotplug_unpopulated = True
    free = b.guest.domain.hypervisor.free_pages
    pfns = b.alloc_ballooned_pages(10)
    assert pfns.tolist() == list(range(2 * S - 1, 2 * S - 11, -1))
    s = b.stats
    assert (s.total_pages, s.target_unpopulated, s.current_pages) == (4096 + S, 10, 4096)
    assert s.balloon_low == S - 10 and b.guest.domain.hypervisor.free_pages == free
    b.guest.sim.run()  # the MEM_ONLINE kick: credit is 0, nothing to do
    assert b.state is xb.BPState.DONE and b.stats.current_pages == 4096
    b.free_ballooned_pages(pfns)
    assert b.stats.target_unpopulated == 0 and b.stats.balloon_low == S
    checked(b)


def test_add_ballooned_pages_takes_the_balloon_first(boot: Boot) -> None:
    """The balloon's own lowmem pages are handed out first, then hotplugged ones."""
    b = hotplug(boot)
    settle(b, 4096 - 20)
    ballooned = b.ballooned_pfns().tolist()
    b.hotplug_unpopulated = True
    pfns = b.alloc_ballooned_pages(30)
    assert pfns[:20].tolist() == ballooned
    assert pfns[20:].tolist() == list(range(2 * S - 1, 2 * S - 11, -1))
    assert b.stats.total_pages == 4096 + S and b.stats.target_unpopulated == 30
    checked(b)


def test_add_ballooned_pages_enough_hotplugged_would_wait_forever(boot: Boot) -> None:
    """Credit <= 0 (BP_WAIT) and no page to come: OutOfMemory, accounting as before."""
    b = hotplug(boot)
    b.hotplug_unpopulated = True
    b.set_target(1000)  # the worker has not run yet
    before = accounting(b)
    with pytest.raises(xb.OutOfMemory, match="wait"):
        b.alloc_ballooned_pages(10)
    assert accounting(b) == before
    checked(b)


@pytest.mark.parametrize("guest_kw", [{"auto_online": False}, {"lowmem_pages": 4096}])
def test_add_ballooned_pages_unusable_hotplug_is_refused_up_front(boot: Boot,
                                                                 guest_kw: dict) -> None:
    """Blocks left offline, or highmem pages: OutOfMemory before anything is added."""
    b = hotplug(boot, **guest_kw)
    settle(b, 4096 - 5)  # five pages in the balloon, taken first and given back
    b.hotplug_unpopulated = True
    before = accounting(b)
    with pytest.raises(xb.OutOfMemory, match="for ever"):
        b.alloc_ballooned_pages(10)
    assert accounting(b) == before
    assert not b.guest.hotplug.blocks and len(b.guest.hotplug.iomem) == 1
    checked(b)


@pytest.mark.parametrize("fault", ["fail_next_resource", "fail_next_add"])
def test_add_ballooned_pages_ecanceled_falls_back_to_own_pages(boot: Boot, fault: str) -> None:
    """A hotplug that fails (ECANCELED) falls through to ballooning out the guest's pages."""
    b = hotplug(boot)
    b.hotplug_unpopulated = True
    getattr(b.guest.hotplug, fault)(1)
    free = b.guest.domain.hypervisor.free_pages
    pfns = b.alloc_ballooned_pages(10)
    assert len(pfns) == 10 and b.stats.total_pages == 4096
    assert b.stats.current_pages == 4086 and b.guest.domain.hypervisor.free_pages == free + 10
    checked(b)


def test_add_ballooned_pages_ecanceled_and_no_memory_fails_cleanly(boot: Boot) -> None:
    """ECANCELED and too little memory to balloon out: OutOfMemory, accounting as before."""
    b = hotplug(boot)
    b.hotplug_unpopulated = True
    b.guest.hotplug.fail_next_add(1)
    before = accounting(b)
    with pytest.raises(xb.OutOfMemory):
        b.alloc_ballooned_pages(5000)
    assert accounting(b) == before
    checked(b)


# --- the resource tree and the guest's address space -----------------------------------------

def test_resource_tree_allocates_first_fit_and_merges() -> None:
    """allocate_resource reuses a released hole; merging joins mergeable neighbours only."""
    tree = ResourceTree(6 * S)
    boot_ram = tree.request(0, 100)
    a = tree.allocate(S, S)
    b = tree.allocate(2 * S, S)
    assert boot_ram and a and b and (a.start, b.start, b.end) == (S, 2 * S, 4 * S)
    tree.release(a)
    a = tree.allocate(S, S)
    assert a is not None and a.start == S
    tree.merge(b)
    merged = tree.merge(a)
    assert [(r.start, r.end, r.mergeable) for r in tree] == [(0, 100, False), (S, 4 * S, True)]
    assert merged.end == 4 * S
    assert tree.allocate(3 * S, S) is None and tree.request(50, 10) is None
    with pytest.raises(ValueError):
        tree.limit = 3 * S


def test_guest_refuses_a_too_small_address_space(machine: Callable[..., xb.Hypervisor]) -> None:
    """max_phys_pages below the boot memory or above 2^28 raises and builds no guest."""
    hv = machine(10000)
    dom = hv.create_domain(4096)
    for bad in (4095, (1 << 28) + 1):
        with pytest.raises(ValueError, match="max_phys_pages"):
            xb.Guest(dom, max_phys_pages=bad)
    assert dom.guest is None


def test_memory_is_added_only_with_an_online_callback(
        machine: Callable[..., xb.Hypervisor]) -> None:
    """Without a hotplug balloon there is nowhere to online pages: adding is refused."""
    guest = xb.Guest(machine(10000).create_domain(4096))
    res = guest.hotplug.allocate_resource(S)
    assert res is not None
    with pytest.raises(ValueError, match="online-page callback"):
        guest.hotplug.add_memory_resource(res)
    assert guest.nr_pfns == 4096 and not guest.hotplug.blocks
    guest.hotplug.release_resource(res)


def test_hotplug_is_alike_on_both_backends(machine: Callable[..., xb.Hypervisor]) -> None:
    """The same hotplug run on the C and the Python core ends in the same state."""
    ends = []
    for backend in ("c", "python"):
        hv = machine(4096 + S, backend=backend)
        b = xb.Balloon(xb.Guest(hv.create_domain(4096, maxmem=4096 + S), auto_online=False),
                       hotplug=True)
        settle(b, 4096 + 300)
        b.guest.online_memory_block(1)
        b.guest.sim.run()
        b.hotplug_unpopulated = True
        pfns = b.alloc_ballooned_pages(7)
        ends.append((b.stats, pfns.tolist(), b.ballooned_pfns().tolist(),
                     b.guest.page_flags().tolist(), b.guest.domain.physmap().tolist()))
    assert ends[0] == ends[1]


def test_hotplug_logs_online_at_debug(boot: Boot, caplog: pytest.LogCaptureFixture) -> None:
    """xen_online_page logs each range it onlines (pr_debug), with the seed's wording."""
    b = hotplug(boot)
    with caplog.at_level(logging.DEBUG, logger="xenballoon"):
        settle(b, 4196)
    assert f"xen:balloon: Online {S} pages starting at pfn 0x8000" in messages(caplog)
    assert np.count_nonzero(b.guest.page_flags() & xb.PG_OFFLINE) == 0
