"""``reserve_additional_memory`` (balloon.c), with and without memory hotplug.

A strategy object, so that the worker loop does not branch on the configuration, as the
seed swaps in a stub of the same signature when ``CONFIG_XEN_BALLOON_MEMORY_HOTPLUG`` is not
built in: `NoHotplug` (``NO_HOTPLUG``, one for every balloon: it keeps no state), and
`Hotplug`, which also brings ``xen_online_page`` and ``xen_memory_notifier`` (registered on
the guest's `MemoryHotplug`).  Both are given the balloon's ``balloon_stats`` on each call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from .._log import pr_debug, pr_err, pr_warn
from ..core.abi import BP_ECANCELED, BP_WAIT, NIL
from ..errors import InvariantError, OutOfMemory
from ..linux import MEM_ONLINE, PAGES_PER_SECTION, Guest, MemoryBlock, Resource
from ..linux.resource import round_up
from ..sim import NOTIFY_OK

__all__ = ["NO_HOTPLUG", "Hotplug", "NoHotplug", "ReserveStrategy"]


class ReserveStrategy(Protocol):
    """What the worker asks of its configuration when the balloon is empty."""

    name: str

    def reserve_additional_memory(self, s: Any) -> int: ...

    def add_ballooned_pages(self, s: Any, nr_pages: int) -> int: ...


class NoHotplug:
    """Without CONFIG_XEN_BALLOON_MEMORY_HOTPLUG: clamp the target and give up."""

    name = "none"

    def reserve_additional_memory(self, s: Any) -> int:
        """The target is out of reach: settle for what is populated (plus handed-out pages)."""
        s.target_pages = s.current_pages + s.target_unpopulated
        return BP_ECANCELED

    def add_ballooned_pages(self, s: Any, nr_pages: int) -> int:
        """``xen_hotplug_unpopulated`` is 0 without hotplug: never hotplug, fall through."""
        return BP_ECANCELED


NO_HOTPLUG = NoHotplug()


class Hotplug:
    """With CONFIG_XEN_BALLOON_MEMORY_HOTPLUG: add whole sections, wait for them to be onlined.

    Registers ``xen_online_page`` as the guest's online-page callback and
    ``xen_memory_notifier`` on its memory notifier chain, as ``balloon_init`` does;
    ``kick`` is ``schedule_delayed_work(&balloon_worker, 0)``.
    """

    name = "hotplug"

    def __init__(self, guest: Guest, kick: Callable[[], object]) -> None:
        self._guest = guest
        self._mm = guest.hotplug
        self._kick = kick
        self._mm.set_online_page_callback(self.xen_online_page)
        self._mm.register_memory_notifier(self.xen_memory_notifier)

    def reserve_additional_memory(self, s: Any) -> int:
        """Hotplug the sections the target needs; BP_WAIT for them, BP_ECANCELED on failure."""
        return self._reserve(s, s.target_unpopulated, need=0)

    def add_ballooned_pages(self, s: Any, nr_pages: int) -> int:
        """``add_ballooned_pages`` with the sysctl on: hotplug memory for ``nr_pages`` more.

        The seed calls it after ``alloc_xenballooned_pages`` counted the whole request in
        ``target_unpopulated``: pass the stats as they are, less the ``nr_pages`` still
        missing, and the credit includes them.  BP_WAIT: the pages are in the balloon now;
        BP_ECANCELED: nothing was added, balloon out the guest's own pages instead.  Where the
        seed would wait for ever (enough memory is hotplugged already, or the new blocks stay
        offline, or their pages are highmem), raises ``OutOfMemory`` before adding anything.
        """
        return self._reserve(s, s.target_unpopulated + nr_pages, need=nr_pages)

    def _reserve(self, s: Any, target_unpopulated: int, need: int) -> int:
        mm = self._mm
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
        if (domain.physmap(resource.start, resource.end) != NIL).any():
            return False  # a gfn in the range is populated: it cannot be made invalid
        return int(self._guest.impl.domain_grow(domain.handle, resource.end)) == 0

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
        if g.impl.online_pages(g.handle, start_pfn, nr_pages) != 0:
            raise InvariantError(f"pfns {start_pfn}..{start_pfn + nr_pages - 1} are not all "
                                 "offline: they cannot be onlined into the balloon")

    def xen_memory_notifier(self, event: int, block: MemoryBlock) -> int:
        """A block came online: kick the worker to populate its pages."""
        if event == MEM_ONLINE:
            self._kick()
        return NOTIFY_OK
