"""Memory hotplug: the guest's physical address space, and how the driver grows into it.

Two halves, one per side of ``set_online_page_callback``:

- The guest kernel's memory hotplug (``kernel/resource.c``, ``mm/memory_hotplug.c``,
  ``drivers/base/memory.c``): `MemoryHotplug`, one per guest (``guest.hotplug``).  It holds
  the "System RAM" ranges of the guest physical address space as a `ResourceTree` (what
  ``/proc/iomem`` shows), the memory blocks of one section each with their state (what
  ``/sys/devices/system/memory/memoryN/state`` shows), the online-page callback and the
  memory notifier chain.
- The driver's ``reserve_additional_memory`` (``balloon.c``), a strategy object so that the
  worker loop does not branch on the configuration, as the seed swaps in a stub of the same
  signature when ``CONFIG_XEN_BALLOON_MEMORY_HOTPLUG`` is not built in: `NoHotplug` and
  `Hotplug` (which also brings ``xen_online_page`` and ``xen_memory_notifier``).

Addresses are pfns, not bytes: a resource spans pfns ``start .. end-1``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _validate
from ._log import pr_debug, pr_err, pr_warn
from .core.abi import BP_ECANCELED, BP_WAIT, ENOMEM, MAX_GFNS, NIL, PG_OFFLINE, PG_STATE
from .errors import InvariantError, OutOfMemory

if TYPE_CHECKING:
    from .guest import Guest

__all__ = ["PAGES_PER_SECTION", "MEM_ONLINE", "MEM_GOING_ONLINE", "Resource", "ResourceTree",
           "MemoryBlock", "MemoryHotplug", "NoHotplug", "Hotplug"]

PAGES_PER_SECTION = 32768  # 128 MiB memory sections (x86-64 SECTION_SIZE_BITS = 27)
MEM_ONLINE, MEM_GOING_ONLINE = 1 << 0, 1 << 3  # memory notifier events (linux/memory.h)
NOTIFY_OK = 1


def round_up(n: int, align: int) -> int:
    return -(-n // align) * align


# --- the guest kernel: kernel/resource.c -------------------------------------------------------

@dataclass(frozen=True)
class Resource:
    """A range of the guest physical address space (``struct resource``), in pfns.

    ``mergeable``: ``IORESOURCE_SYSRAM_MERGEABLE``, memory added with ``MHP_MERGE_RESOURCE``.
    """

    start: int
    end: int  # exclusive
    name: str = "System RAM"
    mergeable: bool = False

    @property
    def size(self) -> int:
        return self.end - self.start


class ResourceTree:
    """``iomem_resource``: the address space below ``limit`` pfns, and the ranges taken.

    Flat: the guest's RAM needs only the root's children, kept sorted and disjoint.
    """

    def __init__(self, limit: int) -> None:
        self._limit = _validate.as_count(limit, "limit", maximum=MAX_GFNS)
        self._children: list[Resource] = []

    @property
    def limit(self) -> int:
        """Pfns at and above it are beyond the address space (``MAX_PHYSMEM_BITS``)."""
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        value = _validate.as_count(value, "limit", maximum=MAX_GFNS)
        if value < self.used:
            raise ValueError(f"limit {value} is below pfn {self.used}, which is in use")
        self._limit = value

    @property
    def used(self) -> int:
        """The end of the highest range taken (0 if none)."""
        return self._children[-1].end if self._children else 0

    def __iter__(self) -> Iterator[Resource]:
        return iter(tuple(self._children))

    def __len__(self) -> int:
        return len(self._children)

    def __contains__(self, res: object) -> bool:
        return res in self._children

    def request(self, start: int, size: int, name: str = "System RAM") -> Resource | None:
        """``request_resource``: take the range ``start .. start+size-1``, if it is free."""
        res = Resource(start, start + size, name)
        if res.end > self._limit or any(c.start < res.end and res.start < c.end
                                        for c in self._children):
            return None
        return self._insert(res)

    def allocate(self, size: int, align: int, name: str = "System RAM") -> Resource | None:
        """``allocate_resource``: the first free ``align``-aligned range of ``size`` pfns."""
        start = 0
        for child in self._children:
            candidate = round_up(start, align)
            if candidate + size <= child.start:
                return self._insert(Resource(candidate, candidate + size, name))
            start = max(start, child.end)
        candidate = round_up(start, align)
        if candidate + size <= self._limit:
            return self._insert(Resource(candidate, candidate + size, name))
        return None

    def release(self, res: Resource) -> None:
        """``release_resource``: give the range back."""
        try:
            self._children.remove(res)
        except ValueError:
            raise ValueError(f"{res} is not in the resource tree") from None

    def merge(self, res: Resource) -> Resource:
        """``merge_system_ram_resource``: mark it mergeable and merge it with its neighbours."""
        i = self._children.index(res)
        merged = replace(res, mergeable=True)
        lo, hi = i, i + 1
        if i > 0 and self._joins(self._children[i - 1], merged):
            merged, lo = replace(merged, start=self._children[i - 1].start), i - 1
        if i + 1 < len(self._children) and self._joins(merged, self._children[i + 1]):
            merged, hi = replace(merged, end=self._children[i + 1].end), i + 2
        self._children[lo:hi] = [merged]
        return merged

    @staticmethod
    def _joins(a: Resource, b: Resource) -> bool:
        return a.end == b.start and a.mergeable and b.mergeable and a.name == b.name

    def _insert(self, res: Resource) -> Resource:
        self._children.append(res)
        self._children.sort(key=lambda r: r.start)
        return res

    def __repr__(self) -> str:
        ranges = ", ".join(f"{r.start:#x}-{r.end - 1:#x} {r.name}" for r in self._children)
        return f"<ResourceTree limit={self._limit:#x}: {ranges}>"


# --- the guest kernel: mm/memory_hotplug.c, drivers/base/memory.c -----------------------------

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


class MemoryHotplug:
    """A guest's memory hotplug: its address space, memory blocks, callback and notifiers.

    ``auto_online``: new blocks are onlined as they are added
    (``/sys/devices/system/memory/auto_online_blocks``); otherwise they stay offline until
    `online_memory_block` is called.  Memory is added only by the balloon driver
    (``Balloon(guest, hotplug=True)``), which registers the online-page callback.
    """

    def __init__(self, guest: Guest, *, auto_online: bool, max_phys_pages: int) -> None:
        self._guest = guest
        self.iomem = ResourceTree(max_phys_pages)
        if guest.nr_pfns:
            self.iomem.request(0, guest.nr_pfns)  # the boot memory (the e820 RAM)
        self.auto_online = bool(auto_online)
        self._blocks: dict[int, MemoryBlock] = {}
        self._online_page: OnlinePage | None = None
        self._notifiers: list[Notifier] = []
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
        if not callable(callback):
            raise TypeError("callback must be callable")
        self._notifiers.append(callback)

        def remove() -> None:
            if callback in self._notifiers:
                self._notifiers.remove(callback)

        return remove

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
        g = self._guest
        flags = g.page_flags()[res.start: res.end]
        p2m = g.domain.physmap()[res.start: res.end]
        return not (flags & PG_STATE).any() and not (p2m != NIL).any()

    def add_memory_resource(self, res: Resource) -> int:
        """``add_memory_resource(nid, res, MHP_MERGE_RESOURCE)``: 0, or a negative errno.

        The range's pages come to exist offline, one memory block per section; with
        ``auto_online`` each block is onlined at once; then the resource is merged.
        """
        if res.start % PAGES_PER_SECTION or res.size % PAGES_PER_SECTION:
            raise ValueError(f"{res} is not made of whole sections")
        if res not in self.iomem:
            raise ValueError(f"{res} was not allocated from this guest's address space")
        if self.auto_online and self._online_page is None:
            raise ValueError(_NO_CALLBACK)
        if self._fail_add:
            self._fail_add -= 1
            return ENOMEM
        g = self._guest
        rc = int(g._impl.add_memory(g._core, res.start, res.size))
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
        self._guest._require_alive()
        block_id = _validate.as_count(block_id, "block_id")
        block = self._blocks.get(block_id)
        if block is None:
            raise ValueError(f"no memory block {block_id} (blocks: "
                             f"{sorted(self._blocks) or 'none'})")
        if block.state == "online":
            raise ValueError(f"memory block {block_id} is online already")
        self._online(block)

    def _online(self, block: MemoryBlock) -> None:
        """``online_pages``: MEM_GOING_ONLINE, the callback takes the pages, MEM_ONLINE."""
        if self._online_page is None:
            raise ValueError(_NO_CALLBACK)
        self._notify(MEM_GOING_ONLINE, block)
        self._online_page(block.start_pfn, block.nr_pages)
        self._blocks[block.id] = online = replace(block, state="online")
        self._notify(MEM_ONLINE, online)

    def _notify(self, event: int, block: MemoryBlock) -> None:
        """``memory_notify``: each notifier in the order registered."""
        for notifier in tuple(self._notifiers):
            notifier(event, block)

    # --- checks --------------------------------------------------------------------------------
    def check(self) -> str | None:
        """The first inconsistency between blocks, resources and page states, or None."""
        flags = self._guest.page_flags()
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


# --- the driver: reserve_additional_memory ---------------------------------------------------

class NoHotplug:
    """Without CONFIG_XEN_BALLOON_MEMORY_HOTPLUG: clamp the target and give up."""

    name = "none"

    def __init__(self, stats: Any) -> None:
        self._s = stats

    def reserve_additional_memory(self) -> int:
        """The target is out of reach: settle for what is populated (plus handed-out pages)."""
        s = self._s
        s.target_pages = s.current_pages + s.target_unpopulated
        return BP_ECANCELED

    def add_ballooned_pages(self, nr_pages: int) -> int:
        """``xen_hotplug_unpopulated`` is 0 without hotplug: never hotplug, fall through."""
        return BP_ECANCELED


class Hotplug:
    """With CONFIG_XEN_BALLOON_MEMORY_HOTPLUG: add whole sections, wait for them to be onlined.

    Registers ``xen_online_page`` as the guest's online-page callback and
    ``xen_memory_notifier`` on its memory notifier chain, as ``balloon_init`` does;
    ``kick`` is ``schedule_delayed_work(&balloon_worker, 0)``.
    """

    name = "hotplug"

    def __init__(self, stats: Any, guest: Guest, kick: Callable[[], object]) -> None:
        self._s = stats
        self._guest = guest
        self._mm = guest.hotplug
        self._kick = kick
        self._mm.set_online_page_callback(self.xen_online_page)
        self._mm.register_memory_notifier(self.xen_memory_notifier)

    def reserve_additional_memory(self) -> int:
        """Hotplug the sections the target needs; BP_WAIT for them, BP_ECANCELED on failure."""
        return self._reserve(self._s.target_unpopulated, need=0)

    def add_ballooned_pages(self, nr_pages: int) -> int:
        """``add_ballooned_pages`` with the sysctl on: hotplug memory for ``nr_pages`` more.

        The seed calls it after ``alloc_xenballooned_pages`` counted the whole request in
        ``target_unpopulated``: pass the stats as they are, less the ``nr_pages`` still
        missing, and the credit includes them.  BP_WAIT: the pages are in the balloon now;
        BP_ECANCELED: nothing was added, balloon out the guest's own pages instead.  Where the
        seed would wait for ever (enough memory is hotplugged already, or the new blocks stay
        offline, or their pages are highmem), raises ``OutOfMemory`` before adding anything.
        """
        return self._reserve(self._s.target_unpopulated + nr_pages, need=nr_pages)

    def _reserve(self, target_unpopulated: int, need: int) -> int:
        s, mm = self._s, self._mm
        credit = s.target_pages + target_unpopulated - s.total_pages
        # Already hotplugged enough pages?  Wait for them to be onlined.
        if credit <= 0:
            if need:
                raise OutOfMemory(f"{need} more ballooned pages needed, but the memory "
                                  "hotplugged already covers the target: the kernel would "
                                  "wait for pages that never come")
            return BP_WAIT
        balloon_hotplug = round_up(credit, PAGES_PER_SECTION)
        resource = self.additional_memory_resource(balloon_hotplug)
        if resource is None:
            return BP_ECANCELED
        if need and mm.can_add(resource):
            reason = self._unusable(resource, need)
            if reason:
                self.release_memory_resource(resource)
                raise OutOfMemory(f"{need} more ballooned pages needed, but {reason}: the "
                                  "kernel would wait for them for ever")
        # PV: add_memory() builds page tables for the new memory, so the p2m must hold
        # invalid entries for it first (the domain's physmap: unpopulated gfns).
        if self._guest.pv and not self._invalidate_p2m(resource):
            pr_warn("set_phys_to_machine() failed, no memory added")
            self.release_memory_resource(resource)
            return BP_ECANCELED
        # The seed drops balloon_mutex here: add_memory_resource() onlines the new blocks,
        # which calls xen_online_page(), which takes it.  In the simulation nothing else runs
        # meanwhile; the callback and the MEM_ONLINE notifier run inside this call.
        rc = mm.add_memory_resource(resource)
        if rc:
            pr_warn("Cannot add additional memory (%i)", rc)
            self.release_memory_resource(resource)
            return BP_ECANCELED
        s.total_pages += balloon_hotplug
        return BP_WAIT

    def additional_memory_resource(self, nr_pages: int) -> Resource | None:
        """A new "System RAM" range of ``nr_pages``, section-aligned; None (logged) if none."""
        resource = self._mm.allocate_resource(nr_pages)
        if resource is None:
            pr_err("Cannot allocate new System RAM resource")
        return resource

    def release_memory_resource(self, resource: Resource | None) -> None:
        if resource is not None:
            self._mm.release_resource(resource)

    def _invalidate_p2m(self, resource: Resource) -> bool:
        """``set_phys_to_machine(pfn, INVALID_P2M_ENTRY)`` for the range: False if it fails."""
        domain = self._guest.domain
        if (domain.physmap()[resource.start: resource.end] != NIL).any():
            return False  # a gfn in the range is populated: it cannot be made invalid
        return int(self._guest._impl.domain_grow(domain._core, resource.end)) == 0

    def _unusable(self, resource: Resource, need: int) -> str | None:
        """Why the pages of ``resource`` would never reach a waiting allocation, if so."""
        if not self._mm.auto_online:
            return "new memory blocks stay offline (auto_online is off)"
        low = self._guest.lowmem_pages
        lowmem = resource.size if low is None else max(0, min(resource.end, low) -
                                                       resource.start)
        if lowmem < need:
            return f"only {lowmem} of the {resource.size} hotplugged pages would be lowmem"
        return None

    def xen_online_page(self, start_pfn: int, nr_pages: int) -> None:
        """The online-page callback: the pages go to the balloon, not to the allocator."""
        pr_debug("Online %lu pages starting at pfn 0x%lx", nr_pages, start_pfn)
        g = self._guest
        if g._impl.online_pages(g._core, start_pfn, nr_pages) != 0:
            raise InvariantError(f"pfns {start_pfn}..{start_pfn + nr_pages - 1} are not all "
                                 "offline: they cannot be onlined into the balloon")

    def xen_memory_notifier(self, event: int, block: MemoryBlock) -> int:
        """A block came online: kick the worker to populate its pages."""
        if event == MEM_ONLINE:
            self._kick()
        return NOTIFY_OK
