"""The guest's memory model: page cache, reclaim by the balloon and by the workload, swap, the
OOM killer, refaults, si_mem_available, the metrics and /proc/meminfo."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pytest

import xenballoon as xb

KIB = xb.PAGE_SIZE // 1024


def guest_of(machine: Callable[..., xb.Hypervisor], memory: int = 4096,
             **kw: object) -> xb.Guest:
    hv = machine(4 * memory)
    return xb.Guest(hv.create_domain(memory), **kw)  # type: ignore[arg-type]


def test_si_mem_available_counts_cache_above_the_low_watermark(machine) -> None:
    """free - reserve + cache - min(cache/2, wmark_low), wmark_low = 5/6 of the reserve."""
    g = guest_of(machine, reserve_pages=60)
    assert g.mem_available == 4096 - 60
    g.step_workload(anon=0, file=1000)
    assert g.file_pages == 1000 and g.nr_free_pages == 3096
    assert g.mem_available == 3096 - 60 + 1000 - 50
    g.step_workload(anon=3096 - 60 - 30, file=1000)  # small cache: half of it is kept
    g2 = guest_of(machine, reserve_pages=60)
    g2.step_workload(anon=0, file=40)
    assert g2.mem_available == 4096 - 40 - 60 + 40 - 20


def test_mem_available_without_cache_is_free_above_the_reserve(machine) -> None:
    """A guest without page cache sees the first part's numbers."""
    g = guest_of(machine)
    g.alloc_pages(4000)
    assert g.mem_available == 96 - g.totalreserve_pages
    g.alloc_pages(90)
    assert g.mem_available == 0


def test_inflate_reclaims_clean_cache(machine) -> None:
    """The balloon's GFP_BALLOON allocations take the page cache once free pages run short."""
    g = guest_of(machine, reserve_pages=32)
    balloon = xb.Balloon(g)
    g.step_workload(anon=2000, file=2000)
    assert g.file_pages == 2000 and g.nr_free_pages == 96
    balloon.set_target(4096 - 1500)
    g.sim.run()
    assert balloon.state is xb.BPState.DONE and balloon.stats.current_pages == 2596
    stat = g.vmstat()
    assert stat.balloon_reclaimed == 1500 - (96 - 32) and g.file_pages == 2000 - 1436
    assert stat.anon_pages == 2000 and stat.oom_kills == 0 and g.nr_free_pages == 32


def test_alloc_ballooned_pages_reclaims_clean_cache(machine) -> None:
    """Free pages short, cache enough: add_ballooned_pages' GFP_USER allocations reclaim it.

    The limit is si_mem_available(), which counts the cache (seed lines 566-567).
    """
    g = guest_of(machine, reserve_pages=32)
    balloon = xb.Balloon(g)
    g.step_workload(anon=2000, file=2000)
    assert g.nr_free_pages == 96 and g.mem_available == 96 - 32 + 2000 - 26
    with pytest.raises(xb.OutOfMemory):
        balloon.alloc_ballooned_pages(g.mem_available + 1)
    assert balloon.stats.target_unpopulated == 0 and g.file_pages == 2000
    pfns = balloon.alloc_ballooned_pages(500)
    assert len(set(pfns.tolist())) == 500 and balloon.stats.target_unpopulated == 500
    reclaimed = g.vmstat().balloon_reclaimed
    assert reclaimed > 0 and g.file_pages == 2000 - reclaimed
    assert g.nr_free_pages + g.file_pages == 96 + 2000 - 500 and g.anon_pages == 2000


def test_inflate_is_eagain_when_only_anonymous_memory_is_left(machine) -> None:
    """No cache left: the inflate stops with EAGAIN and never touches anonymous pages."""
    g = guest_of(machine, reserve_pages=32)
    balloon = xb.Balloon(g, max_retry_count=2)
    g.step_workload(anon=4096 - 32, file=0)
    balloon.set_target(1024)
    g.sim.run(until=0.5)
    assert balloon.state is xb.BPState.EAGAIN
    assert balloon.stats.current_pages == 4096 and g.anon_pages == 4064
    assert g.vmstat().balloon_reclaimed == 0 and g.vmstat().oom_kills == 0


def test_inflate_takes_cache_but_not_anonymous_memory(machine) -> None:
    """What si_mem_available offers is ballooned out; the rest of the target waits (EAGAIN)."""
    g = guest_of(machine, reserve_pages=32)
    balloon = xb.Balloon(g)
    g.step_workload(anon=3000, file=1064)
    available = g.mem_available
    balloon.set_target(0)
    g.sim.run(until=0.5)
    assert balloon.state is xb.BPState.EAGAIN
    # each turn offers what si_mem_available then counts: less and less of the cache
    ballooned = 4096 - balloon.stats.current_pages
    assert available == 1038 and available < ballooned <= 1064
    assert g.anon_pages == 3000 and g.file_pages == 1064 - ballooned


def test_demand_reclaims_cache_then_swaps_then_oom_kills(machine, caplog) -> None:
    """Anonymous demand beyond free memory: cache first, then swap, then the OOM killer."""
    g = guest_of(machine, reserve_pages=32, swap_pages=500, kill_unit=256)
    g.step_workload(anon=1000, file=2000)
    assert g.vmstat().pgsteal == 0 and g.file_pages == 2000
    g.step_workload(anon=3000, file=2000)  # 1064 free above the reserve, 936 from the cache
    s = g.vmstat()
    assert s.pgsteal == 936 and g.file_pages == 1064 and s.pswpout == 0
    assert s.refaults == 936
    g.step_workload(anon=4500, file=2000)  # the rest of the cache, then 436 to swap
    s = g.vmstat()
    assert g.file_pages == 0 and s.anon_pages == 4064 and s.swap_used == 436
    assert s.pswpout == 436 and s.oom_kills == 0
    with caplog.at_level(logging.ERROR, logger="xenballoon"):
        kills = g.step_workload(anon=4700, file=2000)  # 64 more to swap, 136 beyond: a kill
    s = g.vmstat()
    assert kills == 1 and s.oom_kills == 1 and s.oom_killed_pages == 256
    assert s.swap_used == 500 - 120 and s.anon_pages == 4064
    assert s.anon_demand == 4700 and s.committed_as == 4064 + 380
    assert "Out of memory: Killed 1 process" in caplog.text and "domain 1" in caplog.text


def test_oom_without_swap_kills_the_whole_workload_by_default(machine) -> None:
    """With no kill unit the workload is one process: one kill frees all its demand."""
    g = guest_of(machine, reserve_pages=32)
    assert g.step_workload(anon=5000) == 1
    s = g.vmstat()
    assert s.oom_killed_pages == 5000 and s.anon_pages == 0 and s.swap_used == 0
    assert g.step_workload(anon=5000) == 0 and g.anon_pages == 0  # the victims stay dead
    g.step_workload(anon=100)  # the demand fell: the dead share shrinks with it
    assert g.step_workload(anon=300) == 0 and g.anon_pages == 200


def test_swapped_pages_come_back_when_memory_returns(machine) -> None:
    """pswpin: with nothing short, swapped pages return while memory allows."""
    g = guest_of(machine, reserve_pages=32, swap_pages=1000)
    g.step_workload(anon=4500)
    assert g.vmstat().swap_used == 436
    g.step_workload(anon=4500)
    assert g.vmstat().pswpin == 0
    g.free_pages([])  # nothing: still no memory
    g.step_workload(anon=4200)  # 300 fewer: freed from swap first
    s = g.vmstat()
    assert s.swap_used == 136 and s.pswpin == 0
    g.step_workload(anon=3900)  # 136 freed from swap, 164 resident; then nothing to swap in
    assert g.vmstat().swap_used == 0 and g.anon_pages == 3900


def test_swap_in_after_a_deflate(machine) -> None:
    """A balloon deflate gives memory back, and the swapped pages come in."""
    hv = machine(8192)
    g = xb.Guest(hv.create_domain(4096, maxmem=4096), reserve_pages=32, swap_pages=1000)
    balloon = xb.Balloon(g)
    balloon.set_target(3072)
    g.sim.run()
    g.step_workload(anon=3500)
    assert g.vmstat().swap_used == 3500 - (3072 - 32)
    balloon.set_target(4096)
    g.sim.run()
    g.step_workload(anon=3500)
    s = g.vmstat()
    assert s.swap_used == 0 and s.pswpin == 3500 - 3040 and g.anon_pages == 3500


def test_refaults_when_the_cache_is_squeezed(machine) -> None:
    """File working set beyond the cache held is read again at every step."""
    g = guest_of(machine, reserve_pages=32)
    g.step_workload(anon=0, file=1000)
    assert g.vmstat().refaults == 0
    g.step_workload(anon=3500, file=1000)
    squeezed = 1000 - g.file_pages
    assert squeezed == 1000 - (4096 - 32 - 3500) and g.vmstat().refaults == squeezed
    g.step_workload(anon=3500, file=1000)
    assert g.vmstat().refaults == 2 * squeezed


def test_unmet_demand_and_pressure_time_integrate_over_steps(machine) -> None:
    """unmet = (demand - resident) * dt; pressure counts the steps' seconds."""
    g = guest_of(machine, reserve_pages=32, swap_pages=100)
    g.step_workload(anon=1000, file=100, dt=2.0)
    assert g.vmstat().pressure_seconds == 0.0
    g.step_workload(anon=4100, file=100, dt=0.5)
    s = g.vmstat()
    assert s.unmet_anon_page_seconds == (4100 - s.anon_pages) * 0.5
    assert s.pressure_seconds == 0.5


def test_meminfo_names_and_kib(machine) -> None:
    """/proc/meminfo's names in KiB; meminfo-writer's `used` is anonymous + swap in use."""
    g = guest_of(machine, reserve_pages=32, swap_pages=256)
    g.step_workload(anon=4000, file=500)
    info = g.meminfo()
    assert list(info) == ["MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "Dirty",
                          "AnonPages", "SwapTotal", "SwapFree", "Committed_AS"]
    assert info["MemTotal"] == 4096 * KIB and info["MemFree"] == g.nr_free_pages * KIB
    assert info["MemAvailable"] == g.mem_available * KIB
    assert info["Cached"] == g.file_pages * KIB and info["SwapTotal"] == 256 * KIB
    used = (info["MemTotal"] - info["Buffers"] - info["Cached"] - info["MemFree"]
            + info["SwapTotal"] - info["SwapFree"])
    assert used == info["Committed_AS"] == (g.anon_pages + g.vmstat().swap_used) * KIB


def test_vmstat_reader_reads_many_guests_in_one_call(machine) -> None:
    """Arrays, one element per guest, equal to each guest's own snapshot."""
    hv = machine(20000)
    guests = [xb.Guest(hv.create_domain(2048), swap_pages=64 * i) for i in range(4)]
    for i, g in enumerate(guests):
        g.step_workload(anon=900 * i, file=500)
    reader = xb.VmStatReader(guests)
    columns = reader.read()
    assert set(columns) == set(xb.linux.METRICS)
    for i, g in enumerate(guests):
        stat = g.vmstat()
        for name in xb.linux.METRICS:
            assert columns[name][i] == getattr(stat, name), name
    assert columns["oom_kills"].tolist() == [0, 0, 0, 1]


def test_user_pages_and_model_pages_stay_apart(machine) -> None:
    """free_pages refuses the model's anonymous pages, and alloc_pages may use the reserve."""
    g = guest_of(machine)
    mine = g.alloc_pages(10)
    g.step_workload(anon=50)
    model = np.nonzero((g.page_flags() & xb.PG_WORKLOAD) != 0)[0]
    others = np.setdiff1d(model, mine)
    with pytest.raises(xb.InvalidArgument, match="alloc_pages"):
        g.free_pages(others[:1])
    g.free_pages(mine)
    assert g.anon_pages == 50


def test_bad_input_changes_nothing(machine) -> None:
    """Negative demand, a bad dt, swap shrinking below its use, a zero kill unit."""
    g = guest_of(machine, swap_pages=10)
    g.step_workload(anon=4096 - 32 + 10)
    before = g.vmstat()
    assert before.swap_used == 10
    for bad in (dict(anon=-1), dict(anon=1, file=1.5), dict(anon=1, dt=-1.0),
                dict(anon=1, dt=float("nan"))):
        with pytest.raises((xb.InvalidArgument, xb.InvalidType)):
            g.step_workload(**bad)  # type: ignore[arg-type]
    with pytest.raises(xb.InvalidArgument, match="swap"):
        g.swap_pages = 5
    with pytest.raises(xb.InvalidArgument):
        g.kill_unit = 0
    with pytest.raises(xb.InvalidArgument):
        xb.Guest(machine(100).create_domain(10), swap_pages=-1)
    assert g.vmstat() == before and g.swap_pages == 10 and g.kill_unit is None
