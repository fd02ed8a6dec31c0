"""balloon.c, branch by branch: balloon_process, update_schedule, the reservations,
set_target, alloc/free_xenballooned_pages, the balloon list order and the watch."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pytest

import xenballoon as xb

Boot = Callable[..., xb.Balloon]


def record_runs(balloon: xb.Balloon) -> list[tuple[float, str]]:
    """(time, state) after each balloon_process run."""
    runs: list[tuple[float, str]] = []
    balloon.add_listener(lambda b: runs.append((b.guest.sim.now, b.state.name)))
    return runs


def half_ballooned_on_a_full_host(boot: Boot, **kw: object
                                  ) -> tuple[xb.Balloon, xb.Hypervisor, xb.Domain]:
    """A 1024-page guest ballooned down to 512, then every free host frame taken by a hog."""
    b = boot(1024, host=1024 + 10, **kw)
    hv = b.guest.domain.hypervisor
    b.set_target(512)
    hv.sim.run()
    return b, hv, hv.create_domain(hv.free_pages, name="hog")


# --- balloon_init and the watch ---------------------------------------------------------------

def test_balloon_init_stats(boot: Boot) -> None:
    """balloon_init: current = target = total = boot pages, delays 1/32, retries 1/4."""
    b = boot(4096)
    assert b.stats == xb.BalloonStats(
        current_pages=4096, target_pages=4096, target_unpopulated=0, balloon_low=0,
        balloon_high=0, total_pages=4096, schedule_delay=1, max_schedule_delay=32,
        retry_count=1, max_retry_count=4)
    assert b.state is xb.BPState.DONE


def test_watch_fires_at_registration(machine: Callable[..., xb.Hypervisor]) -> None:
    """The memory/target watch fires when registered: a target written before boot applies."""
    hv = machine(10000)
    dom = hv.create_domain(4096)
    hv.mem_set(dom.domid, 1024 * 4)
    b = xb.Balloon(xb.Guest(dom))
    assert b.stats.target_pages == 1024
    hv.sim.run()
    assert b.stats.current_pages == 1024


def test_mem_set_converts_kib_to_pages_rounding_down(boot: Boot) -> None:
    """memory/target in KiB becomes pages as kib // 4."""
    b = boot(4096)
    hv = b.guest.domain.hypervisor
    hv.mem_set(b.guest.domain.domid, 8191)
    assert b.stats.target_pages == 2047


@pytest.mark.parametrize("text", ["", "abc", "-4", "12abc", "0x10", "1e3"])
def test_unparsable_target_is_ignored_with_a_warning(boot: Boot, text: str,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Garbage in memory/target is logged and leaves the target alone."""
    b = boot(4096)
    hv = b.guest.domain.hypervisor
    with caplog.at_level(logging.WARNING, logger="xenballoon"):
        hv.xenstore.write(f"{b.guest.domain.home}/memory/target", text)
    assert b.stats.target_pages == 4096
    assert any("xen:balloon:" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("kw", [{"batch": 0}, {"batch": 1.5}, {"max_retry_count": -1},
                                {"max_schedule_delay": 0}, {"max_schedule_delay": "32"}])
def test_bad_knobs_are_refused(machine: Callable[..., xb.Hypervisor], kw: dict) -> None:
    """Bad constructor knobs raise before anything is registered."""
    hv = machine(10000)
    guest = xb.Guest(hv.create_domain(100))
    with pytest.raises((ValueError, TypeError)):
        xb.Balloon(guest, **kw)
    assert guest.balloon is None
    xb.Balloon(guest)


def test_knob_setters_validate(boot: Boot) -> None:
    """max_schedule_delay must be >= 1; hotplug_unpopulated needs hotplug."""
    b = boot(100)
    b.max_retry_count = 0
    b.max_schedule_delay = 5
    assert (b.stats.max_retry_count, b.stats.max_schedule_delay) == (0, 5)
    with pytest.raises(ValueError):
        b.max_schedule_delay = 0
    with pytest.raises(ValueError):
        b.max_retry_count = -1
    with pytest.raises(ValueError):
        b.hotplug_unpopulated = True
    assert b.max_schedule_delay == 5 and b.hotplug_unpopulated is False


# --- balloon_process and decrease_reservation -------------------------------------------------

def test_inflate_moves_frames_to_the_host_in_one_run(boot: Boot) -> None:
    """A target below current balloons out, one frame_list per turn, all at t=0."""
    b = boot(4096, batch=512)
    hv = b.guest.domain.hypervisor
    free0 = hv.free_pages
    b.set_target(1000)
    hv.sim.run()
    s = b.stats
    assert (s.current_pages, s.balloon_low, s.balloon_high) == (1000, 3096, 0)
    assert hv.free_pages == free0 + 3096
    assert b.guest.domain.tot_pages == 1000 and b.guest.totalram_pages == 1000
    assert hv.sim.now == 0.0 and b.state is xb.BPState.DONE


def test_inflate_is_capped_by_mem_available_then_eagain(boot: Boot) -> None:
    """n_pages = min(-credit, si_mem_available()); below the reserve the run ends EAGAIN."""
    b = boot(1024, guest_kw={"reserve_pages": 64})
    guest, hv = b.guest, b.guest.domain.hypervisor
    guest.alloc_pages(1024 - 64 - 50)       # 50 pages available above the reserve
    runs = record_runs(b)
    b.set_target(0)
    hv.sim.run(until=0.0)
    s = b.stats
    assert s.current_pages == 1024 - 50     # only mem_available went
    assert b.state is xb.BPState.EAGAIN and s.retry_count == 2 and s.schedule_delay == 2
    hv.sim.run()
    # mem_available is now 0 < totalreserve_pages: EAGAIN until cancelled.
    assert [st for _, st in runs] == ["EAGAIN", "EAGAIN", "EAGAIN", "ECANCELED"]
    assert b.stats.current_pages == 1024 - 50


def test_inflate_capped_above_the_reserve_continues(boot: Boot) -> None:
    """When the capped n_pages is not below totalreserve_pages, the turn is DONE."""
    b = boot(4096, guest_kw={"reserve_pages": 8}, batch=4096)
    guest, hv = b.guest, b.guest.domain.hypervisor
    guest.alloc_pages(4096 - 8 - 100)       # 100 available; the reserve is 8
    b.set_target(0)
    hv.sim.run(until=0.0)
    # turn 1: n_pages=100 >= 8 -> DONE; turn 2: n_pages=0 < 8 -> EAGAIN.
    assert b.stats.current_pages == 4096 - 100
    assert b.state is xb.BPState.EAGAIN


def test_short_allocation_is_eagain(boot: Boot) -> None:
    """A page allocation failing in decrease_reservation ends the run EAGAIN, then retries."""
    b = boot(4096, batch=512)
    hv = b.guest.domain.hypervisor
    b.guest.fail_next_allocations(1)
    runs = record_runs(b)
    b.set_target(4096 - 1024)
    hv.sim.run()
    assert runs == [(0.0, "EAGAIN"), (2.0, "DONE")]
    assert b.stats.current_pages == 3072
    assert b.stats.schedule_delay == 1 and b.stats.retry_count == 1


def test_short_allocation_keeps_what_was_allocated(boot: Boot) -> None:
    """Pages allocated before the failure are still ballooned out."""
    b = boot(4096, batch=512)
    b.guest._core.fail_page_allocs = 0
    b.guest.fail_next_allocations(1)
    b.set_target(0)
    b.guest.sim.run(until=0.0)
    assert b.stats.current_pages == 4096  # the very first allocation failed
    assert b.state is xb.BPState.EAGAIN


def test_decrease_bug_raises_and_leaves_the_batch_undone(boot: Boot) -> None:
    """Xen refusing a frame of decrease_reservation is BUG(): InvariantError, nothing moved."""
    b = boot(1024, batch=512)
    guest, hv = b.guest, b.guest.domain.hypervisor
    # Someone unpopulates a free page behind the guest's back.
    assert hv.decrease_reservation(guest.domain.domid, [0]) == 1
    hv.sim.run()
    b.set_target(1000)
    before = (b.stats, guest.nr_free_pages, guest.totalram_pages, hv.free_pages,
              b.ballooned_pfns().tolist())
    with pytest.raises(xb.InvariantError, match="BUG"):
        hv.sim.run()
    assert (b.stats, guest.nr_free_pages, guest.totalram_pages, hv.free_pages,
            b.ballooned_pfns().tolist()) == before
    hv.increase_reservation(guest.domain.domid, [0])   # repair, so the checks pass


def test_lowmem_to_head_highmem_to_tail(boot: Boot) -> None:
    """balloon_append: lowmem pages go to the list head, highmem to its tail."""
    b = boot(16, guest_kw={"lowmem_pages": 8}, batch=4)
    hv = b.guest.domain.hypervisor
    b.set_target(8)
    hv.sim.run()
    pfns = b.ballooned_pfns().tolist()
    # GFP_HIGHUSER takes highmem first; list_add() reverses each frame_list, and
    # highmem pages are appended at the tail in that reversed order.
    assert pfns == [11, 10, 9, 8, 15, 14, 13, 12]
    assert (b.stats.balloon_low, b.stats.balloon_high) == (0, 8)
    b.set_target(4)
    hv.sim.run()
    # Lowmem pages join at the head, which undoes the reversal: allocation order.
    assert b.ballooned_pfns().tolist() == [0, 1, 2, 3, 11, 10, 9, 8, 15, 14, 13, 12]
    assert (b.stats.balloon_low, b.stats.balloon_high) == (4, 8)


def test_deflate_repopulates_lowmem_first(boot: Boot) -> None:
    """increase_reservation takes pages from the list head: lowmem before highmem."""
    b = boot(16, guest_kw={"lowmem_pages": 8}, batch=4)
    hv = b.guest.domain.hypervisor
    b.set_target(4)
    hv.sim.run()
    b.set_target(10)
    hv.sim.run()
    assert b.ballooned_pfns().tolist() == [9, 8, 15, 14, 13, 12]
    assert (b.stats.balloon_low, b.stats.balloon_high) == (0, 6)


def test_decrease_scrubs_pages_before_they_go_back(boot: Boot) -> None:
    """With scrub_pages, frames reach the pool cleared; another domain gets no data."""
    for scrub, leaks in ((True, 0), (False, 100)):
        b = boot(200, host=300, scrub_pages=scrub)
        hv = b.guest.domain.hypervisor
        hv.scrub_freed = False
        b.guest.free_pages(b.guest.alloc_pages(200))    # data written, pages freed
        b.set_target(100)
        hv.sim.run()
        hv.create_domain(200)
        assert hv.leaks == leaks


# --- increase_reservation ---------------------------------------------------------------------

def test_deflate_back_to_boot_size(boot: Boot) -> None:
    """A target above current repopulates from the balloon until current == target."""
    b = boot(4096)
    hv = b.guest.domain.hypervisor
    b.set_target(100)
    hv.sim.run()
    b.set_target(4096)
    hv.sim.run()
    s = b.stats
    assert (s.current_pages, s.balloon_low, b.guest.totalram_pages) == (4096, 0, 4096)
    assert b.guest.nr_free_pages == 4096


def test_partial_increase_is_kept(boot: Boot) -> None:
    """0 < rc < nr_pages: the populated pages are kept and the loop goes on, then EAGAIN."""
    b = boot(1024, host=1024 + 100)
    hv = b.guest.domain.hypervisor
    b.set_target(0 + 24)  # balloon out 1000
    hv.sim.run()
    hog = hv.create_domain(hv.free_pages - 300)
    b.set_target(1024)
    hv.sim.run(until=0.0)
    assert b.stats.current_pages == 24 + 300
    assert b.state is xb.BPState.EAGAIN
    hv.destroy_domain(hog)
    hv.sim.run()
    assert b.stats.current_pages == 1024 and b.state is xb.BPState.DONE


def test_increase_populating_nothing_is_eagain(boot: Boot) -> None:
    """A populate hypercall that does nothing (rc <= 0) is EAGAIN."""
    b = boot(1024)
    hv = b.guest.domain.hypervisor
    b.set_target(512)
    hv.sim.run()
    hv.inject_increase_fault(calls=1, max_frames=0)
    runs = record_runs(b)
    b.set_target(1024)
    hv.sim.run()
    assert runs == [(0.0, "EAGAIN"), (2.0, "DONE")]
    assert b.stats.current_pages == 1024


def test_increase_limited_by_max_pages(boot: Boot) -> None:
    """xl mem-max below the target stops the deflate short (EAGAIN, then ECANCELED)."""
    b = boot(1024)
    hv = b.guest.domain.hypervisor
    b.set_target(0 + 100)
    hv.sim.run()
    hv.mem_max(b.guest.domain.domid, 600 * 4)
    b.set_target(1024)
    hv.sim.run()
    assert b.stats.current_pages == 600 and b.state is xb.BPState.ECANCELED


# --- update_schedule and the backoff timeline -------------------------------------------------

def test_backoff_timeline_default_retries(boot: Boot) -> None:
    """EAGAIN retries at t = 0, 2, 6, 14 s, then ECANCELED with max_retry_count = 4."""
    b, hv, _ = half_ballooned_on_a_full_host(boot)
    runs = record_runs(b)
    b.set_target(1024)
    hv.sim.run()
    assert runs == [(0.0, "EAGAIN"), (2.0, "EAGAIN"), (6.0, "EAGAIN"), (14.0, "ECANCELED")]
    s = b.stats
    assert (s.schedule_delay, s.retry_count) == (1, 1)   # reset on cancel
    assert not b.work_pending


def test_update_schedule_doubles_delay_and_counts_retries(boot: Boot) -> None:
    """Each EAGAIN increments retry_count and doubles schedule_delay."""
    b, hv, _ = half_ballooned_on_a_full_host(boot)
    b.set_target(1024)
    seen = []
    for t in (0.0, 2.0, 6.0):
        hv.sim.run(until=t)
        seen.append((b.stats.retry_count, b.stats.schedule_delay))
    assert seen == [(2, 2), (3, 4), (4, 8)]


def test_unlimited_retries_cap_the_delay(boot: Boot) -> None:
    """max_retry_count = 0 retries forever with the delay capped at max_schedule_delay."""
    b, hv, _ = half_ballooned_on_a_full_host(boot, max_retry_count=0)
    runs = record_runs(b)
    b.set_target(1024)
    hv.sim.run(until=200.0)
    times = [t for t, _ in runs]
    assert times == [0.0, 2.0, 6.0, 14.0, 30.0, 62.0, 94.0, 126.0, 158.0, 190.0]
    assert all(st == "EAGAIN" for _, st in runs)
    assert b.stats.schedule_delay == 32 and b.work_pending


def test_small_max_schedule_delay_caps_early(boot: Boot) -> None:
    """The doubled delay is clamped to max_schedule_delay."""
    b, hv, _ = half_ballooned_on_a_full_host(boot, max_retry_count=0, max_schedule_delay=3)
    runs = record_runs(b)
    b.set_target(1024)
    hv.sim.run(until=12.0)
    assert [t for t, _ in runs] == [0.0, 2.0, 5.0, 8.0, 11.0]


def test_success_after_eagain_resets_backoff(boot: Boot) -> None:
    """DONE resets schedule_delay and retry_count to 1."""
    b, hv, hog = half_ballooned_on_a_full_host(boot)
    b.set_target(1024)
    hv.sim.run(until=2.0)
    assert (b.stats.retry_count, b.stats.schedule_delay) == (3, 4)
    hv.destroy_domain(hog)
    hv.sim.run()
    assert (b.stats.retry_count, b.stats.schedule_delay) == (1, 1)
    assert b.stats.current_pages == 1024 and b.state is xb.BPState.DONE


def test_new_target_waits_for_pending_backoff_timer(boot: Boot) -> None:
    """set_target during a backoff changes the target, but the worker runs at the timer."""
    b, hv, _ = half_ballooned_on_a_full_host(boot)
    runs = record_runs(b)
    b.set_target(1024)
    hv.sim.run(until=1.0)
    assert runs == [(0.0, "EAGAIN")]
    b.set_target(256)                    # inflating would succeed at once...
    hv.sim.run(until=1.99)
    assert len(runs) == 1 and b.stats.target_pages == 256
    hv.sim.run()
    assert runs[1] == (2.0, "DONE")      # ...but waits for the pending timer
    assert b.stats.current_pages == 256


def test_target_after_cancel_restarts_the_worker(boot: Boot) -> None:
    """After ECANCELED nothing runs until a new target is set."""
    b, hv, _ = half_ballooned_on_a_full_host(boot)
    b.set_target(1024)
    hv.sim.run()
    assert b.state is xb.BPState.ECANCELED and not b.work_pending
    b.set_target(300)
    hv.sim.run()
    assert b.state is xb.BPState.DONE and b.stats.current_pages == 300


# --- reserve_additional_memory without hotplug ------------------------------------------------

def test_target_above_total_is_clamped_and_cancelled(boot: Boot) -> None:
    """Empty balloon + positive credit: target = current + target_unpopulated, ECANCELED."""
    b = boot(1024, host=10000)
    hv = b.guest.domain.hypervisor
    b.set_target(2000)
    hv.sim.run()
    assert b.state is xb.BPState.ECANCELED
    assert b.stats.target_pages == 1024 and b.stats.current_pages == 1024


def test_deflate_past_balloon_clamps_after_emptying_it(boot: Boot) -> None:
    """Deflating beyond what was ballooned empties the balloon, then clamps."""
    b = boot(1024, host=10000)
    hv = b.guest.domain.hypervisor
    b.set_target(1000)
    hv.sim.run()
    b.alloc_ballooned_pages(4)
    b.set_target(5000)
    hv.sim.run()
    s = b.stats
    # 20 pages repopulated; then target = current + target_unpopulated.
    assert s.current_pages == 1020 and s.target_pages == 1020 + 4
    assert b.state is xb.BPState.ECANCELED


def test_zero_credit_run_is_done(boot: Boot) -> None:
    """A worker run with nothing to do ends DONE and resets the backoff."""
    b = boot(100)
    b.set_target(100)
    b.guest.sim.run()
    assert b.state is xb.BPState.DONE and b.stats.retry_count == 1


@pytest.mark.parametrize("bad", [-1, 1.5, "10", None, True, 1 << 70])
def test_set_target_refuses_bad_values(boot: Boot, bad: object) -> None:
    """set_target takes a non-negative integer page count; nothing changes otherwise."""
    b = boot(100)
    b.guest.sim.run()
    with pytest.raises((ValueError, TypeError)):
        b.set_target(bad)  # type: ignore[arg-type]
    assert b.stats.target_pages == 100 and not b.work_pending


# --- alloc/free_xenballooned_pages ------------------------------------------------------------

def test_alloc_takes_ballooned_lowmem_pages(boot: Boot) -> None:
    """Pages come off the balloon head; target_unpopulated grows by the count."""
    b = boot(1024)
    b.set_target(1000)
    b.guest.sim.run()
    head = b.ballooned_pfns()[:10].tolist()
    pfns = b.alloc_ballooned_pages(10)
    assert pfns.dtype == np.uint64 and pfns.tolist() == head
    s = b.stats
    assert (s.target_unpopulated, s.balloon_low, s.current_pages) == (10, 14, 1000)
    assert (b.guest.page_flags()[pfns] & xb.PG_HANDED).all()


def test_alloc_balloons_out_when_the_balloon_is_empty(boot: Boot) -> None:
    """add_ballooned_pages: with the balloon empty, pages are ballooned out with GFP_USER."""
    b = boot(1024)
    hv = b.guest.domain.hypervisor
    free0 = hv.free_pages
    pfns = b.alloc_ballooned_pages(600)
    s = b.stats
    assert len(set(pfns.tolist())) == 600
    assert (s.current_pages, s.target_unpopulated, s.balloon_low) == (1024 - 600, 600, 0)
    assert hv.free_pages == free0 + 600
    hv.sim.run()
    # credit = target - current = 600 but the balloon is empty: the target is clamped.
    assert b.stats.target_pages == 1024 and b.state is xb.BPState.ECANCELED


def test_alloc_free_round_trip(boot: Boot) -> None:
    """free returns the pages to the balloon and the worker repopulates them."""
    b = boot(1024)
    hv = b.guest.domain.hypervisor
    pfns = b.alloc_ballooned_pages(100)
    hv.sim.run()
    b.free_ballooned_pages(pfns)
    s = b.stats
    assert (s.target_unpopulated, s.balloon_low) == (0, 100)
    assert b.work_pending       # credit != 0: shrink the balloon
    hv.sim.run()
    assert b.stats.current_pages == 1024 and b.stats.balloon_low == 0


def test_alloc_skips_highmem(boot: Boot) -> None:
    """Handed-out pages are lowmem only, even when the balloon holds highmem."""
    b = boot(64, guest_kw={"lowmem_pages": 32})
    b.set_target(32)                     # balloons out the 32 highmem pages
    b.guest.sim.run()
    pfns = b.alloc_ballooned_pages(5)
    assert (pfns < 32).all()
    assert b.stats.balloon_high == 32


def test_alloc_enomem_leaves_accounting_exactly_as_before(boot: Boot) -> None:
    """OutOfMemory with every stats field, the pool and the guest's counts unchanged."""
    b = boot(1024, guest_kw={"reserve_pages": 100})
    guest, hv = b.guest, b.guest.domain.hypervisor
    b.set_target(1000)
    hv.sim.run()
    before = (b.stats, hv.free_pages, guest.nr_free_pages, guest.totalram_pages,
              sorted(b.ballooned_pfns().tolist()))
    with pytest.raises(xb.OutOfMemory):
        b.alloc_ballooned_pages(24 + 1000 - 100 + 1)   # one more than mem_available allows
    after = (b.stats, hv.free_pages, guest.nr_free_pages, guest.totalram_pages,
             sorted(b.ballooned_pfns().tolist()))
    assert after == before
    assert issubclass(xb.OutOfMemory, MemoryError)
    assert len(b.alloc_ballooned_pages(24 + 1000 - 100)) == 924


def test_alloc_enomem_on_allocation_fault(boot: Boot) -> None:
    """A failing page allocation while ballooning out for alloc is ENOMEM, undone."""
    b = boot(1024)
    b.guest.fail_next_allocations(1)
    before = b.stats
    with pytest.raises(xb.OutOfMemory):
        b.alloc_ballooned_pages(10)
    assert b.stats == before


@pytest.mark.parametrize("bad", [[7, 7], [5000], [-1], [0.5], "x", [[1]]])
def test_free_refuses_bad_pfns(boot: Boot, bad: object) -> None:
    """Freeing a pfn not handed out, or twice in one call, raises and changes nothing."""
    b = boot(1024)
    pfns = b.alloc_ballooned_pages(8)
    bad = [int(pfns[0]), int(pfns[0])] if bad == [7, 7] else bad
    before = b.stats
    with pytest.raises((ValueError, TypeError)):
        b.free_ballooned_pages(bad)
    assert b.stats == before
    b.free_ballooned_pages(pfns)
    with pytest.raises(ValueError, match="not handed out"):
        b.free_ballooned_pages(pfns[:1])           # double free across calls
    b.guest.sim.run()


@pytest.mark.parametrize("bad", [-1, 1.0, "3", True, 1 << 50])
def test_alloc_refuses_bad_counts(boot: Boot, bad: object) -> None:
    """alloc_ballooned_pages takes a non-negative integer."""
    b = boot(100)
    with pytest.raises((ValueError, TypeError)):
        b.alloc_ballooned_pages(bad)  # type: ignore[arg-type]
    assert b.stats.target_unpopulated == 0


# --- PV guests, teardown ----------------------------------------------------------------------

def test_pv_extra_pfns_start_in_the_balloon(machine: Callable[..., xb.Hypervisor]) -> None:
    """balloon_add_region: pfns between memory and maxmem join the balloon at init."""
    hv = machine(10000)
    dom = hv.create_domain(1000, maxmem=1500)
    b = xb.Balloon(xb.Guest(dom, pv=True))
    s = b.stats
    assert (s.current_pages, s.total_pages, s.balloon_low) == (1000, 1500, 500)
    hv.mem_set(dom.domid, 1400 * 4)
    hv.sim.run()
    assert b.stats.current_pages == 1400 and dom.tot_pages == 1400


def test_destroying_the_domain_stops_the_driver(boot: Boot) -> None:
    """After destroy_domain the watch and the worker are gone."""
    b = boot(1024)
    hv = b.guest.domain.hypervisor
    b.set_target(10)
    hv.destroy_domain(b.guest.domain)
    hv.sim.run()
    assert hv.free_pages == hv.total_pages
    with pytest.raises(ValueError):
        b.set_target(5)


def test_listener_can_be_removed(boot: Boot) -> None:
    """add_listener returns a function that removes the listener."""
    b = boot(100)
    seen: list[int] = []
    remove = b.add_listener(lambda bal: seen.append(bal.stats.current_pages))
    b.set_target(50)
    b.guest.sim.run()
    remove()
    remove()
    b.set_target(60)
    b.guest.sim.run()
    assert seen == [50]


def test_failed_alloc_kicks_a_worker_that_gave_up(boot: Boot) -> None:
    """A refused alloc_ballooned_pages schedules the worker when credit != 0, as the seed's
    out_undo -> free_xenballooned_pages does; the accounting stays as it was."""
    b, hv, hog = half_ballooned_on_a_full_host(boot)
    b.set_target(1024)
    hv.sim.run()
    assert b.state is xb.BPState.ECANCELED and not b.work_pending and b.credit == 512
    hv.destroy_domain(hog)                               # the host has memory again
    before = b.stats
    with pytest.raises(xb.OutOfMemory):
        b.alloc_ballooned_pages(5000)
    assert b.stats == before and b.work_pending
    hv.sim.run()
    assert b.state is xb.BPState.DONE and b.stats.current_pages == 1024


def test_failed_alloc_without_credit_schedules_nothing(boot: Boot) -> None:
    """With current_credit() == 0 a refusal leaves the worker idle."""
    b = boot(1024)
    b.guest.domain.hypervisor.sim.run()
    with pytest.raises(xb.OutOfMemory):
        b.alloc_ballooned_pages(5000)
    assert not b.work_pending
