"""The Xen side: the host's frames, domains and their reservations, and xenstore.

Domain objects are live views of the core's accounting: reading ``tot_pages``
always gives the current value.  The hypercalls take arrays of gfns and follow
XENMEM semantics: do each in turn and stop at the first that cannot be done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import _backend, _validate
from . import _pycore as K
from .errors import InvariantError, OutOfMemory
from .sim import Simulation
from .xenstore import MAX_VALUE_LEN, XenStore

if TYPE_CHECKING:
    from .guest import Guest

__all__ = ["Hypervisor", "Domain", "PAGE_SIZE"]

PAGE_SIZE = 4096
KIB_PER_PAGE = PAGE_SIZE // 1024
# mfns are 32-bit in the core, with one value kept for "none".
MAX_HOST_PAGES = (1 << 32) - 2


class Domain:
    """A domain: a live view of its reservation in the hypervisor."""

    def __init__(self, hypervisor: Hypervisor, cdom: Any, domid: int, name: str) -> None:
        self.hypervisor = hypervisor
        self._core = cdom
        self.domid = domid
        self.name = name
        self.alive = True
        self.guest: Guest | None = None

    @property
    def tot_pages(self) -> int:
        """Frames the domain holds."""
        return int(self._core.tot_pages)

    @property
    def max_pages(self) -> int:
        """The most frames the domain may hold (``xl mem-max``)."""
        return int(self._core.max_pages)

    @property
    def home(self) -> str:
        """The domain's xenstore directory, ``/local/domain/<domid>``."""
        return f"/local/domain/{self.domid}"

    @property
    def target_kb(self) -> int | None:
        """``memory/target`` as the toolstack last wrote it, if it parses."""
        try:
            return int(self.hypervisor.xenstore.read(f"{self.home}/memory/target"))
        except (KeyError, ValueError):
            return None

    def physmap(self) -> np.ndarray:
        """The p2m (gfn -> mfn, ``0xFFFFFFFF`` when unpopulated): a zero-copy view."""
        return self.hypervisor._impl.domain_p2m(self._core)[: int(self._core.nr_gfns)]

    def _require_alive(self) -> None:
        if not self.alive:
            raise ValueError(f"domain {self.domid} has been destroyed")

    def __repr__(self) -> str:
        state = "" if self.alive else " destroyed"
        return (f"<Domain {self.domid} {self.name!r} tot_pages={self.tot_pages} "
                f"max_pages={self.max_pages}{state}>")


class Hypervisor:
    """A Xen host with ``total_pages`` frames of memory.

    ``scrub_freed``: the hypervisor clears every frame a domain gives back.
    ``backend``: "c" or "python" for this host and everything on it (default: the
    process-wide choice, ``xenballoon.BACKEND``); lets one process compare the two cores.
    """

    def __init__(self, sim: Simulation, total_pages: int, *, scrub_freed: bool = True,
                 backend: str | None = None) -> None:
        if not isinstance(sim, Simulation):
            raise TypeError(f"sim must be a Simulation, not {type(sim).__name__}")
        total_pages = _validate.as_count(total_pages, "total_pages", minimum=1,
                                         maximum=MAX_HOST_PAGES)
        self.sim = sim
        self._impl = _backend.load(backend)
        self.backend = "python" if self._impl is K else "c"
        self._core = self._impl.host_new(total_pages, bool(scrub_freed))
        self._domains: dict[int, Domain] = {}
        self._next_domid = 1
        self.xenstore = XenStore()
        self._xs = self.xenstore.connect(0)  # the toolstack's connection

    # --- the host pool ---------------------------------------------------------------------
    @property
    def total_pages(self) -> int:
        return int(self._core.total_pages)

    @property
    def free_pages(self) -> int:
        """Frames in the host pool."""
        return int(self._core.free_pages)

    @property
    def leaks(self) -> int:
        """Frames handed to a domain while still holding another domain's data."""
        return int(self._core.leaks)

    @property
    def scrub_freed(self) -> bool:
        return bool(self._core.scrub_freed)

    @scrub_freed.setter
    def scrub_freed(self, value: bool) -> None:
        self._core.scrub_freed = int(bool(value))

    @property
    def domains(self) -> dict[int, Domain]:
        """The live domains by domid (a copy)."""
        return dict(self._domains)

    # --- domains -----------------------------------------------------------------------------
    def create_domain(self, memory: int, *, maxmem: int | None = None,
                      name: str | None = None) -> Domain:
        """Build a domain with ``memory`` frames (gfns 0..memory-1) and its xenstore nodes."""
        memory = _validate.as_count(memory, "memory", maximum=K.MAX_GFNS)
        maxmem = memory if maxmem is None else _validate.as_count(
            maxmem, "maxmem", maximum=K.MAX_GFNS)
        if maxmem < memory:
            raise ValueError(f"maxmem ({maxmem}) must be at least memory ({memory})")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        if name is not None and len(name) > MAX_VALUE_LEN:
            raise ValueError(f"name longer than {MAX_VALUE_LEN} characters (a xenstore value)")
        domid = self._next_domid
        cdom = self._impl.domain_new(self._core, domid, memory, maxmem)
        if cdom is None:
            raise OutOfMemory(f"cannot create a domain of {memory} pages: "
                              f"the host has {self.free_pages} free")
        self._next_domid += 1
        domain = Domain(self, cdom, domid, name if name is not None else f"domain{domid}")
        self._domains[domid] = domain
        self._make_home(domain, memory, maxmem)
        return domain

    def _make_home(self, domain: Domain, memory: int, maxmem: int) -> None:
        """The domain's xenstore nodes, with the permissions libxl gives them.

        The home and ``memory/`` belong to dom0 and only the domain may read them (so it
        sees its target but cannot change it); ``data/`` belongs to the domain.
        """
        xs, home, domid = self._xs, domain.home, domain.domid
        readonly = ["n0", f"r{domid}"]
        for path in (home, f"{home}/memory"):
            xs.mkdir(path)
            xs.set_perms(path, readonly)
        xs.mkdir(f"{home}/data")
        xs.set_perms(f"{home}/data", [f"n{domid}"])
        xs.write(f"{home}/name", domain.name)
        xs.write(f"{home}/domid", str(domid))
        xs.write(f"{home}/memory/static-max", str(maxmem * KIB_PER_PAGE))
        xs.write(f"{home}/memory/target", str(memory * KIB_PER_PAGE))

    def destroy_domain(self, domain: Domain | int) -> None:
        """Give every frame of the domain back to the pool and forget it."""
        domain = self._lookup(domain)
        if domain.guest is not None:
            domain.guest._shutdown()
        self._impl.domain_release(domain._core)
        domain.alive = False
        del self._domains[domain.domid]
        self._xs.rm(domain.home)

    def _lookup(self, domain: Domain | int) -> Domain:
        if isinstance(domain, Domain):
            if domain.hypervisor is not self:
                raise ValueError(f"domain {domain.domid} belongs to another hypervisor")
            domain._require_alive()
            return domain
        domid = _validate.as_count(domain, "domid", maximum=(1 << 16) - 1)
        try:
            return self._domains[domid]
        except KeyError:
            raise ValueError(f"no domain with domid {domid}") from None

    # --- the XENMEM hypercalls ---------------------------------------------------------------
    def increase_reservation(self, domid: int, gfns: Any) -> int:
        """XENMEM_populate_physmap: populate each gfn in turn; returns how many were done."""
        domain = self._lookup(domid)
        frames = _validate.as_pfns(gfns, "gfns", limit=K.MAX_GFNS)
        if frames.size:
            self._impl.domain_grow(domain._core, int(frames.max()) + 1)
        return int(self._impl.xenmem_populate_physmap(domain._core, frames))

    def decrease_reservation(self, domid: int, gfns: Any) -> int:
        """XENMEM_decrease_reservation: release each gfn in turn; returns how many were done."""
        domain = self._lookup(domid)
        frames = _validate.as_pfns(gfns, "gfns", limit=K.MAX_GFNS)
        return int(self._impl.xenmem_decrease_reservation(domain._core, frames))

    # --- the toolstack -------------------------------------------------------------------------
    def mem_set(self, domid: int, target_kb: int) -> None:
        """``xl mem-set``: write the domain's ``memory/target`` (KiB)."""
        domain = self._lookup(domid)
        target_kb = _validate.as_count(target_kb, "target_kb")
        self._xs.write(f"{domain.home}/memory/target", str(target_kb))

    def mem_max(self, domid: int, max_kb: int) -> None:
        """``xl mem-max``: set the domain's ``max_pages`` (KiB, rounded down to pages)."""
        domain = self._lookup(domid)
        max_kb = _validate.as_count(max_kb, "max_kb", maximum=K.MAX_GFNS * KIB_PER_PAGE)
        self.set_max_pages(domain.domid, max_kb // KIB_PER_PAGE)
        self._xs.write(f"{domain.home}/memory/static-max", str(max_kb))

    def set_max_pages(self, domid: int, pages: int) -> None:
        """XEN_DOMCTL_max_mem: the domain's ``max_pages`` alone (no xenstore node).

        What ``xc_domain_setmaxmem`` does; it may go below ``tot_pages`` (the domain then
        cannot grow).
        """
        domain = self._lookup(domid)
        domain._core.max_pages = _validate.as_count(pages, "pages", maximum=K.MAX_GFNS)

    # --- faults and checks ---------------------------------------------------------------------
    def inject_increase_fault(self, calls: int = 1, max_frames: int = 0) -> None:
        """Fault injection: the next ``calls`` populate hypercalls (``increase_reservation``,
        the balloon's deflate) populate at most ``max_frames`` frames each; 0 frames makes
        the balloon's deflate end EAGAIN.  Replaces any earlier fault; ``calls=0`` clears it.
        """
        calls = _validate.as_count(calls, "calls")
        max_frames = _validate.as_count(max_frames, "max_frames")
        self._core.fault_increase_calls = calls
        self._core.fault_increase_max = max_frames

    def add_tenant(self, pages: int | None = None, *, leave: int | None = None,
                   name: str = "tenant") -> Domain:
        """Fault injection: another tenant takes frames from the host pool.

        The tenant is an ordinary domain of ``pages`` frames, or, with ``leave=k``, of every
        free frame but ``k`` (neither given: all of them).  Being a domain, it keeps
        ``check()`` true, and ``destroy_domain(tenant)`` gives its frames back: the fault
        clears.  Raises ``OutOfMemory`` and changes nothing when the pool lacks the frames.
        """
        if pages is not None and leave is not None:
            raise TypeError("give pages or leave, not both")
        if pages is None:
            leave = _validate.as_count(0 if leave is None else leave, "leave")
            if leave > self.free_pages:
                raise OutOfMemory(f"cannot leave {leave} frames free: the host has "
                                  f"{self.free_pages} free")
            pages = self.free_pages - leave
        return self.create_domain(pages, name=name)

    def check(self, *, guests: bool = False) -> None:
        """Raise ``InvariantError`` naming the first broken accounting invariant.

        The host: every frame is in exactly one place (the pool or one domain's populated
        gfn), each domain's ``tot_pages`` equals its populated gfns, and the pool plus all
        domains make ``total_pages``.  With ``guests=True`` also ``Guest.check()`` every
        guest running on this host, in domid order (the cheap way to check everything).
        """
        message = self._impl.host_check(self._core, [d._core for d in self._domains.values()])
        if message is not None:
            raise InvariantError(message)
        if guests:
            for domain in self._domains.values():
                if domain.guest is not None:
                    domain.guest.check()

    def state_bytes(self) -> int:
        """Bytes the core holds for the host and its domains' physmaps."""
        return int(self._impl.host_state_bytes(self._core)) + sum(
            int(self._impl.domain_state_bytes(d._core)) for d in self._domains.values())

    def __repr__(self) -> str:
        return (f"<Hypervisor total={self.total_pages} free={self.free_pages} "
                f"domains={sorted(self._domains)}>")
