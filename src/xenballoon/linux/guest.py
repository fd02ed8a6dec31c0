"""The Linux guest's memory: its page frames, page allocator and reserve.

Pages are pfns ``0 .. nr_pfns-1``; the ones the domain holds at boot start free.
The workload (``alloc_pages``/``free_pages``) stands in for everything the
guest's programs do with memory: it writes its data into the frames it takes.
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
from ..sim import Simulation
from ..xen import Domain
from .memory_hotplug import MemoryHotplug

__all__ = ["Guest"]


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
    """

    def __init__(self, domain: Domain, *, lowmem_pages: int | None = None,
                 reserve_pages: int | None = None, pv: bool = False, auto_online: bool = True,
                 max_phys_pages: int | None = None) -> None:
        if not isinstance(domain, Domain):
            raise InvalidType(f"domain must be a Domain, not {type(domain).__name__}")
        domain.require_alive()
        ensure(domain.guest is None, f"domain {domain.domid} already runs a guest")
        self._impl = domain.impl
        memory = domain.tot_pages
        nr_pfns = max(memory, domain.max_pages) if pv else memory
        lowmem = K.MAX_GFNS if lowmem_pages is None else _validate.as_count(
            lowmem_pages, "lowmem_pages", maximum=K.MAX_GFNS)
        reserve = max(1, memory // 128) if reserve_pages is None else _validate.as_count(
            reserve_pages, "reserve_pages", minimum=1)
        phys = K.MAX_GFNS if max_phys_pages is None else _validate.as_count(
            max_phys_pages, "max_phys_pages", minimum=nr_pfns, maximum=K.MAX_GFNS)
        self.domain = domain
        self.pv = bool(pv)
        self.boot_pages = memory
        if self._impl.domain_grow(domain.handle, nr_pfns) != 0:
            raise OutOfMemory(f"cannot map {nr_pfns} pfns for domain {domain.domid}")
        self._core = self._impl.guest_new(domain.handle, nr_pfns, lowmem, reserve, 512, True)
        # The balloon driver running in this guest, if any (set by the driver; this layer
        # never calls it: the driver learns of the domain's end from its destroy chain).
        self.balloon: Any = None
        self.hotplug = MemoryHotplug(domain, self._impl, self._core, auto_online=auto_online,
                                     max_phys_pages=phys)
        domain.guest = self
        domain.check_chain.register(lambda _domain: self.check())

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
        """``si_mem_available()``: free pages above the reserve, never negative."""
        return int(self._impl.mem_available(self._core))

    def page_flags(self) -> np.ndarray:
        """Per-pfn state flags (``xenballoon.PG_*``): a zero-copy view of the core's array."""
        return self._impl.guest_flags(self._core)[: self.nr_pfns]

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
            raise InvalidArgument(_validate.refusal(array, rc, "owned by the workload"))

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
        counters; ``balloon_low + balloon_high`` is the balloon list's length;
        ``totalram_pages`` and ``current_pages`` are the populated pfns, which are exactly
        the frames the domain holds; ``total_pages`` is the pfns that exist (not holes);
        handed-out pages are lowmem and number ``target_unpopulated``; a workload page's
        frame holds the workload's data.
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

