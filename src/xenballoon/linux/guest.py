"""The Linux guest's memory: its page frames, page allocator, reserve and memory model.

Pages are pfns ``0 .. nr_pfns-1``; the ones the domain holds at boot start free.
Two ways to use memory: by hand (``alloc_pages``/``free_pages``: the pages are the
caller's), or through a workload (`run_workload`, `step_workload`): anonymous demand and a
file working set, met as Linux meets them (free pages, then reclaimed page cache, then
swap, then the OOM killer; ``csrc/vmscan.c``).  Either writes its data into the frames.
Memory hotplug (``guest.hotplug``, `xenballoon.linux.memory_hotplug.MemoryHotplug`) can add
section-aligned ranges above the boot memory, leaving holes between them.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from .. import _validate
from ..core import abi as K
from ..errors import InvalidArgument, InvalidType, InvariantError, OutOfMemory, ensure
from ..sim import Simulation, guarded
from ..xen import Domain
from .memory_hotplug import MemoryHotplug
from .vmstat import VmStat, VmStatReader, meminfo
from .workloads import Workload, WorkloadStepper
from .workloads.stepper import report_oom

__all__ = ["Guest"]


@guarded(getters=("nr_free_pages", "mem_available", "hotplug"))
class Guest:
    """A Linux guest running in ``domain``.

    ``lowmem_pages``: pfns at and above it are highmem (None: no highmem, as on 64-bit).
    ``reserve_pages``: ``totalreserve_pages`` (default ``max(1, memory // 128)``; at least 1,
    since with no reserve the seed's inflate loop never ends once memory runs out).
    ``pv``: a PV guest booted with ``maxmem > memory``, whose extra pfns start ballooned.
    ``auto_online``: hotplugged memory blocks are onlined as they are added (the kernel's
    ``memhp_default_state=online``); with False they wait for `online_memory_block`.
    ``max_phys_pages``: the size of the guest physical address space, no memory is hotplugged
    at or above it (default and most: 2^28 pages, 1 TiB).
    ``swap_pages``: the size of the guest's swap device (0: no swap).
    ``kill_unit``: the size, in pages, of the workload's processes: the OOM killer kills one
    at a time, the largest, and its demand is gone (None: the workload is one process).
    """

    def __init__(self, domain: Domain, *, lowmem_pages: int | None = None,
                 reserve_pages: int | None = None, pv: bool = False, auto_online: bool = True,
                 max_phys_pages: int | None = None, swap_pages: int = 0,
                 kill_unit: int | None = None) -> None:
        if not isinstance(domain, Domain):
            raise InvalidType(f"domain must be a Domain, not {type(domain).__name__}")
        if not domain.alive:  # NOTE: the locked call only to raise, for performance
            domain.require_alive()
        if domain.guest is not None:
            raise InvalidArgument(f"domain {domain.domid} already runs a guest")
        self._impl = domain.impl
        memory = domain.tot_pages
        nr_pfns = max(memory, domain.max_pages) if pv else memory
        lowmem = K.MAX_GFNS if lowmem_pages is None else _validate.as_count(
            lowmem_pages, "lowmem_pages", maximum=K.MAX_GFNS)
        reserve = max(1, memory // 128) if reserve_pages is None else _validate.as_count(
            reserve_pages, "reserve_pages", minimum=1)
        phys = K.MAX_GFNS if max_phys_pages is None else _validate.as_count(
            max_phys_pages, "max_phys_pages", minimum=nr_pfns, maximum=K.MAX_GFNS)
        swap = _validate.as_count(swap_pages, "swap_pages")
        unit = 0 if kill_unit is None else _validate.as_count(kill_unit, "kill_unit", minimum=1)
        self.domain = domain
        self.pv = bool(pv)
        self.boot_pages = memory
        handle = domain.handle
        if self._impl.domain_grow(handle, nr_pfns) != 0:
            raise OutOfMemory(f"cannot map {nr_pfns} pfns for domain {domain.domid}")
        self._core = self._impl.guest_new(handle, nr_pfns, lowmem, reserve, 512, True)
        if swap or unit:  # the core starts both at 0
            vm = self._core.vm
            vm.swap_pages = swap
            vm.kill_unit = unit
        self._stepper: WorkloadStepper | None = None
        self._reader: VmStatReader | None = None
        # The balloon driver running in this guest, if any (set by the driver; this layer
        # never calls it: the driver learns of the domain's end from the destroy chain).
        self.balloon: Any = None
        # Memory hotplug is made on first use (most guests never hotplug): until then the
        # pfn space is the boot one it would start from.
        self._hotplug: MemoryHotplug | None = None
        self._auto_online = bool(auto_online)
        self._max_phys_pages = phys
        domain.guest = self
        domain.hypervisor.domain_check_chain.register_once(_check_guest)

    @property
    def hotplug(self) -> MemoryHotplug:
        """The guest's memory hotplug (`xenballoon.linux.memory_hotplug.MemoryHotplug`)."""
        hotplug = self._hotplug
        if hotplug is None:
            hotplug = self._hotplug = MemoryHotplug(
                self.domain, self._impl, self._core, auto_online=self._auto_online,
                max_phys_pages=self._max_phys_pages)
        return hotplug

    @property
    def sim(self) -> Simulation:
        return self.domain.sim

    @property
    def impl(self) -> ModuleType:
        """The core module this guest runs on (its host's)."""
        return self._impl

    @property
    def handle(self) -> Any:
        """The core's record of this guest's pages (what the core's functions take)."""
        return self._core

    @property
    def alive(self) -> bool:
        return self.domain.alive

    @property
    def nr_pfns(self) -> int:
        """The extent of the pfn space: every pfn below it exists, or is a hotplug hole."""
        return int(self._core.nr_pfns)

    @property
    def lowmem_pages(self) -> int | None:
        low = int(self._core.lowmem_pages)
        return None if low >= K.MAX_GFNS else low

    @property
    def totalram_pages(self) -> int:
        """Pages managed by the page allocator (free or in use)."""
        return int(self._core.totalram_pages)

    @property
    def nr_free_pages(self) -> int:
        return int(self._core.nr_free[0]) + int(self._core.nr_free[1])

    @property
    def totalreserve_pages(self) -> int:
        return int(self._core.totalreserve_pages)

    @property
    def mem_available(self) -> int:
        """``si_mem_available()`` (mm/show_mem.c): free pages minus the reserve, plus the page
        cache less min(cache / 2, the low watermark), never negative.

        The low watermark is 5/6 of the reserve (``__setup_per_zone_wmarks``: low = min +
        min/4, high = min + min/2, and the reserve is about the high watermark).  Without
        page cache: the free pages above the reserve.
        """
        return int(self._impl.mem_available(self._core))

    @property
    def file_pages(self) -> int:
        """Pages in the page cache (clean, reclaimable)."""
        return int(self._core.nr_cache[0]) + int(self._core.nr_cache[1])

    @property
    def anon_pages(self) -> int:
        """Anonymous pages resident: the workload model's and those taken by `alloc_pages`."""
        return self.totalram_pages - self.nr_free_pages - self.file_pages

    @property
    def swap_pages(self) -> int:
        """The swap device's size in pages (``SwapTotal``); settable, not below what is used."""
        return int(self._core.vm.swap_pages)

    @swap_pages.setter
    def swap_pages(self, pages: int) -> None:
        pages = _validate.as_count(pages, "swap_pages")
        ensure(pages >= self._core.vm.swap_used, f"swap holds {self._core.vm.swap_used} "
               f"pages: swap_pages cannot shrink to {pages}")
        self._core.vm.swap_pages = pages

    @property
    def kill_unit(self) -> int | None:
        """Pages per process of the workload, as the OOM killer kills them (None: all)."""
        return int(self._core.vm.kill_unit) or None

    @kill_unit.setter
    def kill_unit(self, pages: int | None) -> None:
        self._core.vm.kill_unit = 0 if pages is None else _validate.as_count(
            pages, "kill_unit", minimum=1)

    # --- the memory model --------------------------------------------------------------------
    def step_workload(self, anon: int, file: int = 0, dt: float = 1.0) -> int:
        """Apply one step of demand by hand: ``anon`` pages of anonymous memory and ``file``
        pages of file working set, held for ``dt`` seconds.  Returns the OOM kills (logged).

        Less anonymous demand frees swap, then pages; more takes free pages above the
        reserve, then the oldest page cache, then swaps, then the OOM killer kills the
        largest process (`kill_unit`) until it fits; swapped pages come back when memory
        allows; the cache grows toward the file working set and what it lacks refaults.
        """
        self.require_alive()
        anon = _validate.as_count(anon, "anon")
        file = _validate.as_count(file, "file")
        if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not 0 <= dt < float("inf"):
            raise InvalidArgument(f"dt must be a finite non-negative number, got {dt!r}")
        kills = int(self._impl.workload_step(self._core, anon, file, float(dt)))
        if kills:
            report_oom(self.domain.domid, kills, self._core)
        return kills

    def run_workload(self, workload: Workload, *, interval: float = 1.0) -> None:
        """Step ``workload`` every ``interval`` seconds from now on (replacing any other).

        Its first step applies at once; all guests of the simulation with the same
        interval step together, in one core call per tick.  The workload's clock starts
        now.  With a workload running the simulation always has events: use
        ``sim.run(until=...)``.
        """
        self.require_alive()
        if not isinstance(workload, Workload):
            raise InvalidType(f"workload must have a demand(t) method, not "
                              f"{type(workload).__name__}")
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) \
                or not 0 < interval < float("inf"):
            raise InvalidArgument(f"interval must be a positive number of seconds, "
                                  f"got {interval!r}")
        self.stop_workload()
        self._stepper = WorkloadStepper.of(self.sim, self._impl, float(interval))
        self._stepper.add(self, workload)

    def stop_workload(self) -> None:
        """Stop stepping the workload; its pages stay as the last step left them."""
        if self._stepper is not None:
            self._stepper.remove(self)
            self._stepper = None

    @property
    def workload(self) -> Workload | None:
        """The workload being stepped, if any."""
        return None if self._stepper is None else self._stepper.workload_of(self)

    def vmstat(self) -> VmStat:
        """The memory model's metrics now (`xenballoon.linux.vmstat`)."""
        if self._reader is None:
            self._reader = VmStatReader([self])
        return self._reader.snapshot(0)

    def meminfo(self) -> dict[str, int]:
        """``/proc/meminfo`` in KiB: MemTotal, MemFree, MemAvailable, Buffers, Cached, Dirty,
        AnonPages, SwapTotal, SwapFree, Committed_AS."""
        return meminfo(self.vmstat())

    def page_flags(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Per-pfn state flags (``xenballoon.PG_*``) of pfns [start, stop).

        A snapshot, like `Domain.physmap`: a read-only copy taken when called, valid for
        ever (the core's arrays move when memory is hotplugged); call again for the
        current state.
        """
        return self._impl.guest_flags(self._core, start, stop)

    # --- the workload ------------------------------------------------------------------------
    def alloc_pages(self, n: int) -> np.ndarray:
        """The workload takes ``n`` free pages and writes its data into them."""
        self.require_alive()
        n = _validate.as_count(n, "n")
        pfns = self._impl.workload_alloc(self._core, n)
        if pfns is None:
            raise OutOfMemory(f"guest of domain {self.domain.domid} has "
                              f"{self.nr_free_pages} free pages, {n} requested")
        return pfns

    def free_pages(self, pfns: Any) -> None:
        """The workload gives pages back (their data stays until scrubbed)."""
        self.require_alive()
        array = _validate.as_pfns(pfns)
        rc = int(self._impl.workload_free(self._core, array))
        if rc != array.size:
            raise InvalidArgument(_validate.refusal(
                array, rc, "owned by the workload (taken with alloc_pages)"))

    def online_memory_block(self, block_id: int) -> None:
        """Online a hotplugged memory block (``echo online > .../memory<id>/state``).

        Its pages go to the balloon and the driver is kicked to populate them.  Block ids
        are ``start_pfn // PAGES_PER_SECTION``; ``guest.hotplug.blocks`` lists them.
        """
        self.hotplug.online_memory_block(block_id)

    def fail_next_allocations(self, n: int) -> None:
        """Fault injection: the driver's next ``n`` page allocations fail.

        Those are the allocations of the balloon driver (``decrease_reservation`` when
        ballooning out, ``alloc_ballooned_pages``), not the workload's: a failure cuts the
        frame_list short, and a run that allocated nothing ends EAGAIN.  Replaces any
        earlier count; ``n=0`` clears it.
        """
        self._core.fail_page_allocs = _validate.as_count(n, "n")

    # --- checks ------------------------------------------------------------------------------
    def check(self) -> None:
        """Raise ``InvariantError`` naming the first broken page-state invariant.

        Every pfn is in exactly one state (free, workload, balloon, handed out, or
        hotplugged and offline) or is a hole; populated exactly when free or workload; the
        free lists and the balloon list (lowmem before highmem) match the flags and their
        counters, and so do the page cache lists and the workload's anon list;
        ``balloon_low + balloon_high`` is the balloon list's length;
        ``totalram_pages`` and ``current_pages`` are the populated pfns, which are exactly
        the frames the domain holds; ``total_pages`` is the pfns that exist (not holes);
        handed-out pages are lowmem and number ``target_unpopulated``; a workload or page
        cache page's frame holds the guest's data; swap in use fits the device.
        """
        if not self.alive:
            return
        message = self._impl.guest_check(self._core) or self.hotplug.check()
        if message is not None:
            raise InvariantError(f"guest of domain {self.domain.domid}: {message}")

    def state_bytes(self) -> int:
        """Bytes the core holds for this guest's page state."""
        return int(self._impl.guest_state_bytes(self._core))

    def require_alive(self) -> None:
        """Raise `InvalidArgument` if the guest's domain has been destroyed."""
        if not self.alive:
            raise InvalidArgument(f"the guest's domain {self.domain.domid} has been destroyed")

    def __repr__(self) -> str:
        return (f"<Guest of domain {self.domain.domid}: {self.totalram_pages} pages managed, "
                f"{self.nr_free_pages} free>")


def _check_guest(domain: Domain) -> None:
    """On the host's domain check chain: the check of the guest in ``domain``, if any."""
    guest = domain.guest
    if guest is not None:
        guest.check()
