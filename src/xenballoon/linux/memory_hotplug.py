"""The guest kernel's memory hotplug (``mm/memory_hotplug.c``, ``drivers/base/memory.c``).

`MemoryHotplug`, one per guest (``guest.hotplug``), holds the "System RAM" ranges of the
guest physical address space as a `ResourceTree` (what ``/proc/iomem`` shows), the memory
blocks of one section each with their state (what ``/sys/devices/system/memory/memoryN/state``
shows), the online-page callback and the memory notifier chain.  The balloon driver's side
(``reserve_additional_memory``, ``xen_online_page``) is in `xenballoon.driver.reserve`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

import numpy as np

from .. import _validate
from ..core.abi import ENOMEM, MAX_GFNS, NIL, PG_OFFLINE, PG_STATE
from ..errors import InvalidArgument
from ..sim import NotifierChain, guarded
from ..xen import Domain
from .resource import Resource, ResourceTree

__all__ = ["MEM_GOING_ONLINE", "MEM_ONLINE", "PAGES_PER_SECTION", "MemoryBlock",
           "MemoryHotplug", "OnlinePage"]

PAGES_PER_SECTION = 32768  # 128 MiB memory sections (x86-64 SECTION_SIZE_BITS = 27)
MEM_ONLINE, MEM_GOING_ONLINE = 1 << 0, 1 << 3  # memory notifier events (linux/memory.h)


@dataclass(frozen=True)
class MemoryBlock:
    """``/sys/devices/system/memory/memory<id>``: one section; ``state`` online or offline."""

    id: int
    start_pfn: int
    nr_pages: int
    state: str


_NO_CALLBACK = ("no online-page callback: memory is onlined into the balloon of a driver "
                "with hotplug=True")
OnlinePage = Callable[[int, int], None]
Notifier = Callable[[int, MemoryBlock], object]


@guarded(getters=("blocks",))
class MemoryHotplug:
    """A guest's memory hotplug: its address space, memory blocks, callback and notifiers.

    ``auto_online``: new blocks are onlined as they are added
    (``/sys/devices/system/memory/auto_online_blocks``); otherwise they stay offline until
    `online_memory_block` is called.  Memory is added only by the balloon driver
    (``Balloon(guest, hotplug=True)``), which registers the online-page callback.
    """

    def __init__(self, domain: Domain, impl: ModuleType, handle: Any, *, auto_online: bool,
                 max_phys_pages: int) -> None:
        # The guest's domain, core module and core record: what the guest is made of, so
        # that this module does not import the guest (which owns it).
        self._domain, self._impl, self._handle = domain, impl, handle
        self.iomem = ResourceTree(max_phys_pages)
        nr_pfns = int(handle.nr_pfns)
        if nr_pfns:
            self.iomem.request(0, nr_pfns)  # the boot memory (the e820 RAM)
        self.auto_online = bool(auto_online)
        self._blocks: dict[int, MemoryBlock] = {}
        self._online_page: OnlinePage | None = None
        self.notifier_chain: NotifierChain[Notifier] = NotifierChain("memory")
        self._fail_add = 0
        self._fail_resource = 0

    @property
    def max_phys_pages(self) -> int:
        """The size of the guest physical address space: no memory is added at or above it."""
        return self.iomem.limit

    @max_phys_pages.setter
    def max_phys_pages(self, value: int) -> None:
        self.iomem.limit = value

    @property
    def blocks(self) -> tuple[MemoryBlock, ...]:
        """The hotplugged memory blocks, by id."""
        return tuple(self._blocks[i] for i in sorted(self._blocks))

    # --- registration (balloon_init) ---------------------------------------------------------
    def set_online_page_callback(self, callback: OnlinePage) -> None:
        """``set_online_page_callback``: ``callback(start_pfn, nr_pages)`` onlines pages."""
        self._online_page = callback

    def register_memory_notifier(self, callback: Notifier) -> Callable[[], None]:
        """``register_memory_notifier``: ``callback(event, block)``; returns a remover."""
        return self.notifier_chain.register(callback)

    # --- faults --------------------------------------------------------------------------------
    def fail_next_add(self, n: int = 1) -> None:
        """Fault injection: the next ``n`` ``add_memory_resource`` calls fail (-ENOMEM)."""
        self._fail_add = _validate.as_count(n, "n")

    def fail_next_resource(self, n: int = 1) -> None:
        """Fault injection: the next ``n`` System RAM resource allocations fail."""
        self._fail_resource = _validate.as_count(n, "n")

    # --- adding memory -------------------------------------------------------------------------
    def allocate_resource(self, nr_pages: int) -> Resource | None:
        """A free, section-aligned range of ``nr_pages`` for System RAM (None if none fits)."""
        nr_pages = _validate.as_count(nr_pages, "nr_pages", minimum=1, maximum=MAX_GFNS)
        if self._fail_resource:
            self._fail_resource -= 1
            return None
        return self.iomem.allocate(nr_pages, PAGES_PER_SECTION)

    def release_resource(self, res: Resource) -> None:
        self.iomem.release(res)

    def can_add(self, res: Resource) -> bool:
        """``add_memory_resource(res)`` would succeed: no fault pending, the range is free."""
        if self._fail_add:
            return False
        flags = self._page_flags(res.start, res.end)
        p2m = self._domain.physmap(res.start, res.end)
        return not (flags & PG_STATE).any() and not (p2m != NIL).any()

    def add_memory_resource(self, res: Resource) -> int:
        """``add_memory_resource(nid, res, MHP_MERGE_RESOURCE)``: 0, or a negative errno.

        The range's pages come to exist offline, one memory block per section; with
        ``auto_online`` each block is onlined at once; then the resource is merged.
        """
        if res.start % PAGES_PER_SECTION or res.size % PAGES_PER_SECTION:
            raise InvalidArgument(f"{res} is not made of whole sections")
        if res not in self.iomem:
            raise InvalidArgument(f"{res} was not allocated from this guest's address space")
        if self.auto_online and self._online_page is None:
            raise InvalidArgument(_NO_CALLBACK)
        if self._fail_add:
            self._fail_add -= 1
            return ENOMEM
        rc = int(self._impl.add_memory(self._handle, res.start, res.size))
        if rc:
            return rc
        new = [MemoryBlock(start // PAGES_PER_SECTION, start, PAGES_PER_SECTION, "offline")
               for start in range(res.start, res.end, PAGES_PER_SECTION)]
        for block in new:
            self._blocks[block.id] = block
        if self.auto_online:
            for block in new:
                self._online(block)
        self.iomem.merge(res)
        return 0

    # --- onlining ------------------------------------------------------------------------------
    def online_memory_block(self, block_id: int) -> None:
        """``echo online > /sys/devices/system/memory/memory<id>/state``."""
        self._domain.require_alive()
        block_id = _validate.as_count(block_id, "block_id")
        block = self._blocks.get(block_id)
        if block is None:
            raise InvalidArgument(f"no memory block {block_id} (blocks: "
                             f"{sorted(self._blocks) or 'none'})")
        if block.state == "online":
            raise InvalidArgument(f"memory block {block_id} is online already")
        self._online(block)

    def _online(self, block: MemoryBlock) -> None:
        """``online_pages``: MEM_GOING_ONLINE, the callback takes the pages, MEM_ONLINE."""
        if self._online_page is None:
            raise InvalidArgument(_NO_CALLBACK)
        self._notify(MEM_GOING_ONLINE, block)
        self._online_page(block.start_pfn, block.nr_pages)
        self._blocks[block.id] = online = replace(block, state="online")
        self._notify(MEM_ONLINE, online)

    def _notify(self, event: int, block: MemoryBlock) -> None:
        """``memory_notify``: each notifier in the order registered."""
        self.notifier_chain.call_chain(event, block)

    def _page_flags(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        return self._impl.guest_flags(self._handle, start, stop)

    # --- checks --------------------------------------------------------------------------------
    def check(self) -> str | None:
        """The first inconsistency between blocks, resources and page states, or None."""
        # The usual case, counted in the core without copying the flags: the offline pages
        # are exactly those of the offline blocks, and no page outside the RAM resources
        # exists.
        count, core = self._impl.count_flags, self._handle
        nr_pfns = int(core.nr_pfns)
        blocks = [b for b in self._blocks.values() if b.state == "offline"]
        gaps, at = [], 0  # the pfn ranges outside every resource
        for r in sorted(self.iomem, key=lambda r: r.start):
            if r.start > at:
                gaps.append((at, r.start))
            at = max(at, r.end)
        gaps.append((at, nr_pfns))
        if (count(core, 0, nr_pfns, PG_OFFLINE) == sum(b.nr_pages for b in blocks)
                and all(count(core, b.start_pfn, b.start_pfn + b.nr_pages, PG_OFFLINE)
                        == b.nr_pages for b in blocks)
                and not any(count(core, lo, hi, PG_STATE) for lo, hi in gaps if lo < hi)):
            return None
        # Something is off: find the first pfn and say what.
        flags = self._page_flags()
        offline = np.zeros(len(flags), dtype=bool)
        for b in self._blocks.values():
            if b.state == "offline":
                offline[b.start_pfn: b.start_pfn + b.nr_pages] = True
        bad = np.nonzero(((flags & PG_OFFLINE) != 0) != offline)[0]
        if bad.size:
            pfn = int(bad[0])
            return (f"pfn {pfn} is {'not ' if offline[pfn] else ''}offline but its memory "
                    f"block is {'offline' if offline[pfn] else 'online or missing'}")
        ram = np.zeros(len(flags), dtype=bool)
        for res in self.iomem:
            ram[res.start: res.end] = True
        bad = np.nonzero(((flags & PG_STATE) != 0) & ~ram)[0]
        if bad.size:
            return f"pfn {int(bad[0])} exists outside every System RAM resource"
        return None

    def __repr__(self) -> str:
        online = sum(b.state == "online" for b in self._blocks.values())
        return (f"<MemoryHotplug: {len(self._blocks)} blocks ({online} online), "
                f"auto_online={self.auto_online}, max_phys_pages={self.max_phys_pages}>")


