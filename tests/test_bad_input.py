"""Bad input, table-driven: every public entry point refuses it with a clear exception and
changes nothing (stats, balloon list, host pool, physmaps, data tags, guests, xenstore)."""

from __future__ import annotations

import errno
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from worlds import World

import xenballoon as xb
from xenballoon import toolstack


class Rig:
    """A World in a busy state, plus the odd objects some cases need."""

    def __init__(self) -> None:
        w = self.world = World(None, scrub_freed=True, scrub_pages=True)
        self.hv, self.sim = w.hv, w.sim
        self.b, self.b1 = w.balloons
        self.g = self.b.guest
        self.domid = self.g.domain.domid
        w.workload_alloc(0, 20)
        w.workload_alloc(1, 10)
        w.alloc_ballooned(0, 4)
        w.set_target(0, 200)
        w.set_target(1, 150)
        w.advance(1.0)
        self.held, self.handed = w.workload[0], w.handed[0]
        self.free_pfn = int(np.flatnonzero(self.g.page_flags() & xb.PG_FREE)[0])
        self.ballooned = int(next(p for p in self.b.ballooned_pfns() if p not in self.handed))
        self.dead = self.hv.create_domain(4, name="dead")
        self.hv.destroy_domain(self.dead)
        self.tenant = self.hv.add_tenant(8)
        self.spare = xb.Guest(self.hv.add_tenant(16, name="spare"))   # a guest, no balloon

    def snapshot(self) -> dict[str, Any]:
        snap = self.world.snapshot()
        hv = self.hv
        snap["next_domid"] = hv._next_domid
        snap["xenstore"] = [(d.target_kb, hv.xenstore.read(f"{d.home}/memory/static-max"))
                            for d in hv.domains.values()]
        snap["faults"] = (int(hv._core.fault_increase_calls), int(hv._core.fault_increase_max),
                          [int(b.guest._core.fail_page_allocs) for b in self.world.balloons])
        snap["knobs"] = (hv.scrub_freed, [b.scrub_pages for b in self.world.balloons])
        snap["spare"] = (self.spare.balloon, self.spare.page_flags().tolist(),
                         self.tenant.guest)
        snap["sim"] = (self.sim.now, self.sim.pending)
        return snap


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[Rig], object]
    error: type[BaseException]
    match: str = ""


def _set(obj: object, attr: str, value: object) -> None:
    setattr(obj, attr, value)


NAN, HUGE = math.nan, 2**70
CASES = [
    # --- targets ---
    Case("set_target-negative", lambda r: r.b.set_target(-1), ValueError, "pages"),
    Case("set_target-float", lambda r: r.b.set_target(100.0), TypeError, "pages"),
    Case("set_target-nan", lambda r: r.b.set_target(NAN), TypeError, "pages"),
    Case("set_target-bool", lambda r: r.b.set_target(True), TypeError, "bool"),
    Case("set_target-none", lambda r: r.b.set_target(None), TypeError, "NoneType"),
    Case("set_target-string", lambda r: r.b.set_target("100"), TypeError, "str"),
    Case("set_target-huge", lambda r: r.b.set_target(HUGE), ValueError, "at most"),
    Case("set_target-numpy-float", lambda r: r.b.set_target(np.float64(3)), TypeError,
         "float64"),
    Case("mem_set-negative", lambda r: r.hv.mem_set(r.domid, -4), ValueError, "target_kb"),
    Case("mem_set-string", lambda r: r.hv.mem_set(r.domid, "1024"), TypeError, "target_kb"),
    Case("mem_set-huge", lambda r: r.hv.mem_set(r.domid, HUGE), ValueError, "target_kb"),
    Case("mem_set-nan", lambda r: r.hv.mem_set(r.domid, NAN), TypeError, "target_kb"),
    Case("mem_set-unknown-domid", lambda r: r.hv.mem_set(99, 1024), ValueError, "domid 99"),
    Case("mem_set-bool-domid", lambda r: r.hv.mem_set(True, 1024), TypeError, "bool"),
    Case("mem_set-destroyed-domid", lambda r: r.hv.mem_set(r.dead.domid, 8), ValueError,
         "no domain"),
    Case("mem_max-negative", lambda r: r.hv.mem_max(r.domid, -1), ValueError, "max_kb"),
    Case("mem_max-float", lambda r: r.hv.mem_max(r.domid, 4.0), TypeError, "max_kb"),
    Case("mem_max-huge", lambda r: r.hv.mem_max(r.domid, HUGE), ValueError, "max_kb"),
    Case("xl-mem-set-fraction", lambda r: toolstack.mem_set(r.hv, r.domid, "1.5G"),
         ValueError, "1.5G"),
    Case("xl-mem-set-unknown-name", lambda r: toolstack.mem_set(r.hv, "nosuch", "1G"),
         ValueError, "nosuch"),
    # --- counts ---
    Case("alloc_pages-negative", lambda r: r.g.alloc_pages(-1), ValueError, "n"),
    Case("alloc_pages-huge", lambda r: r.g.alloc_pages(HUGE), ValueError, "at most"),
    Case("alloc_pages-more-than-free", lambda r: r.g.alloc_pages(r.g.nr_free_pages + 1),
         xb.OutOfMemory, "free pages"),
    Case("alloc_pages-float", lambda r: r.g.alloc_pages(2.0), TypeError, "float"),
    Case("alloc_pages-bool", lambda r: r.g.alloc_pages(False), TypeError, "bool"),
    Case("alloc_ballooned-negative", lambda r: r.b.alloc_ballooned_pages(-1), ValueError, "n"),
    Case("alloc_ballooned-huge", lambda r: r.b.alloc_ballooned_pages(10**9), ValueError,
         "at most"),
    Case("alloc_ballooned-more-than-there-is", lambda r: r.b.alloc_ballooned_pages(100_000),
         xb.OutOfMemory, "ballooned pages"),
    Case("alloc_ballooned-none", lambda r: r.b.alloc_ballooned_pages(None), TypeError,
         "NoneType"),
    Case("fail_next_allocations-negative", lambda r: r.g.fail_next_allocations(-1),
         ValueError, "n"),
    Case("fail_next_allocations-nan", lambda r: r.g.fail_next_allocations(NAN), TypeError,
         "float"),
    Case("inject_increase_fault-negative-calls", lambda r: r.hv.inject_increase_fault(-1, 0),
         ValueError, "calls"),
    Case("inject_increase_fault-string-max", lambda r: r.hv.inject_increase_fault(2, "3"),
         TypeError, "max_frames"),
    Case("max_retry_count-negative", lambda r: _set(r.b, "max_retry_count", -1), ValueError,
         "max_retry_count"),
    Case("max_schedule_delay-zero", lambda r: _set(r.b, "max_schedule_delay", 0), ValueError,
         "max_schedule_delay"),
    Case("max_schedule_delay-float", lambda r: _set(r.b, "max_schedule_delay", 1.5),
         TypeError, "max_schedule_delay"),
    Case("hotplug_unpopulated-without-hotplug",
         lambda r: _set(r.b, "hotplug_unpopulated", True), ValueError, "hotplug"),
    # --- pfn arrays: the workload ---
    Case("free_pages-duplicate", lambda r: r.g.free_pages([r.held[0], r.held[0]]), ValueError,
         "twice"),
    Case("free_pages-double-free", lambda r: r.g.free_pages([r.held[1], r.free_pfn]),
         ValueError, "not owned"),
    Case("free_pages-ballooned-pfn", lambda r: r.g.free_pages([r.ballooned]), ValueError,
         "not owned"),
    Case("free_pages-float-dtype", lambda r: r.g.free_pages(np.array(r.held, dtype=float)),
         TypeError, "dtype"),
    Case("free_pages-2d", lambda r: r.g.free_pages(np.array(r.held[:4]).reshape(2, 2)),
         ValueError, "1-D"),
    Case("free_pages-scalar", lambda r: r.g.free_pages(r.held[0]), ValueError, "1-D"),
    Case("free_pages-negative", lambda r: r.g.free_pages([r.held[0], -1]), ValueError,
         "non-negative"),
    Case("free_pages-beyond-the-guest", lambda r: r.g.free_pages([r.held[0], 10**6]),
         ValueError, "not owned"),
    Case("free_pages-uint64-max", lambda r: r.g.free_pages([2**64 - 1]), ValueError, "below"),
    Case("free_pages-past-uint64", lambda r: r.g.free_pages([2**64]), TypeError, "object"),
    Case("free_pages-string", lambda r: r.g.free_pages("12"), TypeError, "str"),
    Case("free_pages-none-inside", lambda r: r.g.free_pages([r.held[0], None]), TypeError,
         "object"),
    Case("free_pages-bool-array", lambda r: r.g.free_pages(np.array([True])), TypeError,
         "bool"),
    Case("free_pages-none", lambda r: r.g.free_pages(None), ValueError, "1-D"),
    Case("free_pages-ragged", lambda r: r.g.free_pages([[1], [2, 3]]), ValueError,
         "1-D array-like"),
    # --- pfn arrays: ballooned pages ---
    Case("free_ballooned-duplicate",
         lambda r: r.b.free_ballooned_pages([r.handed[0], r.handed[0]]), ValueError, "twice"),
    Case("free_ballooned-not-handed-out", lambda r: r.b.free_ballooned_pages([r.ballooned]),
         ValueError, "handed out"),
    Case("free_ballooned-workload-pfn",
         lambda r: r.b.free_ballooned_pages([r.handed[0], r.held[0]]), ValueError,
         "handed out"),
    Case("free_ballooned-float-dtype",
         lambda r: r.b.free_ballooned_pages(np.array(r.handed, dtype=np.float32)), TypeError,
         "dtype"),
    Case("free_ballooned-other-guests-pfns",
         lambda r: r.b1.free_ballooned_pages(r.handed[:1]), ValueError, "handed out"),
    # --- the hypercalls and domains ---
    Case("increase_reservation-negative-gfn",
         lambda r: r.hv.increase_reservation(r.domid, [-1]), ValueError, "non-negative"),
    Case("increase_reservation-2d",
         lambda r: r.hv.increase_reservation(r.domid, [[1, 2]]), ValueError, "1-D"),
    Case("increase_reservation-unknown-domid",
         lambda r: r.hv.increase_reservation(99, [0]), ValueError, "domid 99"),
    Case("decrease_reservation-float-gfn",
         lambda r: r.hv.decrease_reservation(r.domid, [1.5]), TypeError, "dtype"),
    Case("decrease_reservation-gfn-past-the-physmap",
         lambda r: r.hv.decrease_reservation(r.domid, [2**28]), ValueError, "below"),
    Case("create_domain-negative", lambda r: r.hv.create_domain(-1), ValueError, "memory"),
    Case("create_domain-maxmem-below-memory", lambda r: r.hv.create_domain(10, maxmem=5),
         ValueError, "maxmem"),
    Case("create_domain-more-than-free", lambda r: r.hv.create_domain(r.hv.free_pages + 1),
         xb.OutOfMemory, "free"),
    Case("create_domain-nan", lambda r: r.hv.create_domain(NAN), TypeError, "memory"),
    Case("create_domain-name-not-str", lambda r: r.hv.create_domain(1, name=5), TypeError,
         "name"),
    Case("destroy_domain-unknown", lambda r: r.hv.destroy_domain(99), ValueError, "99"),
    Case("destroy_domain-string", lambda r: r.hv.destroy_domain("1"), TypeError, "str"),
    Case("destroy_domain-twice", lambda r: r.hv.destroy_domain(r.dead), ValueError,
         "destroyed"),
    Case("add_tenant-pages-and-leave", lambda r: r.hv.add_tenant(1, leave=1), TypeError,
         "not both"),
    Case("add_tenant-leave-more-than-free",
         lambda r: r.hv.add_tenant(leave=r.hv.free_pages + 1), xb.OutOfMemory, "leave"),
    Case("add_tenant-negative", lambda r: r.hv.add_tenant(-5), ValueError, "memory"),
    # --- constructors ---
    Case("Guest-destroyed-domain", lambda r: xb.Guest(r.dead), ValueError, "destroyed"),
    Case("Guest-twice", lambda r: xb.Guest(r.g.domain), ValueError, "already"),
    Case("Guest-negative-lowmem", lambda r: xb.Guest(r.tenant, lowmem_pages=-1), ValueError,
         "lowmem_pages"),
    Case("Guest-zero-reserve", lambda r: xb.Guest(r.tenant, reserve_pages=0), ValueError,
         "reserve_pages"),
    Case("Guest-not-a-domain", lambda r: xb.Guest(r.domid), TypeError, "Domain"),
    Case("Balloon-twice", lambda r: xb.Balloon(r.g), ValueError, "already"),
    Case("Balloon-zero-batch", lambda r: xb.Balloon(r.spare, batch=0), ValueError, "batch"),
    Case("Balloon-nan-delay", lambda r: xb.Balloon(r.spare, max_schedule_delay=NAN),
         TypeError, "max_schedule_delay"),
    Case("Hypervisor-zero-pages", lambda r: xb.Hypervisor(r.sim, 0), ValueError,
         "total_pages"),
    Case("Hypervisor-not-a-simulation", lambda r: xb.Hypervisor(None, 10), TypeError,
         "Simulation"),
    # --- sysfs, xenstore, the clock, listeners ---
    Case("sysfs-target_kb-negative", lambda r: r.b.sysfs.write("target_kb", "-4"), OSError,
         "Invalid argument"),
    Case("sysfs-target_kb-nan", lambda r: r.b.sysfs.write("target_kb", "nan"), OSError,
         "Invalid argument"),
    Case("sysfs-target-fraction", lambda r: r.b.sysfs.write("target", "1.5G"), OSError,
         "Invalid argument"),
    Case("sysfs-target_kb-octal", lambda r: r.b.sysfs.write("target_kb", "0777"), OSError,
         "Invalid argument"),
    Case("sysfs-read-only", lambda r: r.b.sysfs.write("info/current_kb", "4"), OSError,
         "ermission"),
    Case("sysfs-scrub-maybe", lambda r: r.b.sysfs.write("scrub_pages", "maybe"), OSError,
         "Invalid argument"),
    Case("sysfs-not-a-str", lambda r: r.b.sysfs.write("target_kb", 4096), TypeError, "str"),
    Case("xenstore-target-not-a-str",
         lambda r: r.hv.xenstore.write(f"{r.g.domain.home}/memory/target", 4096), TypeError,
         "str"),
    Case("advance-nan", lambda r: r.sim.advance(NAN), ValueError, "finite"),
    Case("advance-negative", lambda r: r.sim.advance(-1.0), ValueError, "negative"),
    Case("call_later-string", lambda r: r.sim.call_later("1", print), TypeError, "str"),
    Case("add_listener-not-callable", lambda r: r.b.add_listener(5), TypeError, "callable"),
]


def test_the_table_is_large() -> None:
    """At least 40 bad inputs, each with a unique id."""
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_and_changes_nothing(case: Case) -> None:
    """A clear exception of the documented type; every observable exactly as before."""
    rig = Rig()
    before = rig.snapshot()
    with pytest.raises(case.error, match=case.match) as info:
        case.call(rig)
    assert str(info.value), "the exception says nothing"
    if isinstance(info.value, OSError) and case.error is OSError:
        assert info.value.errno in (errno.EINVAL, errno.EACCES)
    assert rig.snapshot() == before
    rig.hv.check(guests=True)
