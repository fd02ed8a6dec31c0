"""The Xen hypervisor: the host's frames, domains and their reservations, and xenstore.

Domain objects are live views of the core's accounting: reading ``tot_pages``
always gives the current value.  The hypercalls take arrays of gfns and follow
XENMEM semantics: do each in turn and stop at the first that cannot be done.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from .. import _validate, core
from ..core import abi as K
from ..errors import InvalidArgument, InvalidType, InvariantError, OutOfMemory, ensure
from ..sim import NotifierChain, Simulation, guarded
from ..units import KIB_PER_PAGE, kb_to_pages
from .cost import CostModel
from .domain import Domain
from .libxl import DomainMemory, make_domain_home, memory_target_path, static_max_path
from .xenstore import XenStore, check_value

__all__ = ["Hypervisor"]
# mfns are 32-bit in the core, with one value kept for "none".
MAX_HOST_PAGES = (1 << 32) - 2
DOM0_NAME = "Domain-0"


@guarded
class Hypervisor:
    """A Xen host with ``total_pages`` frames of memory.

    ``scrub_freed``: the hypervisor clears every frame a domain gives back.
    ``cost``: a `CostModel` pricing each turn of a guest's balloon worker in simulated time
    (a run then spans time, and other events run between its turns); None: every run is
    instantaneous.
    ``backend``: "c" or "python" for this host and everything on it (default: the
    process-wide choice, ``xenballoon.BACKEND``); lets one process compare the two cores.
    ``dom0``: give the host a Domain-0 of that many pages (domid 0, named ``Domain-0``, its
    frames taken from ``total_pages``, its xenstore nodes as libxl fills them in); ``None``
    (the default): no Domain-0, and every frame is the guests'.  Guests' domids start at 1
    either way.

    ``domain_destroy_chain`` and ``domain_check_chain``: notifier chains called with each
    domain as it is destroyed, and by ``check(guests=True)``, before the domain's own
    (`Domain.destroy_chain`, `Domain.check_chain`).  What runs in every domain subscribes
    here once per host (`Guest` its check, `Balloon` its stop) rather than once per domain.
    """

    def __init__(self, sim: Simulation, total_pages: int, *, scrub_freed: bool = True,
                 cost: CostModel | None = None, backend: str | None = None,
                 dom0: int | None = None) -> None:
        if not isinstance(sim, Simulation):
            raise InvalidType(f"sim must be a Simulation, not {type(sim).__name__}")
        if cost is not None and not isinstance(cost, CostModel):
            raise InvalidType(f"cost must be a CostModel or None, not {type(cost).__name__}")
        total_pages = _validate.as_count(total_pages, "total_pages", minimum=1,
                                         maximum=MAX_HOST_PAGES)
        self.sim = sim
        self._cost = cost
        self._impl = core.load(backend)
        self.backend = "python" if self._impl is K else "c"
        self._core = self._impl.host_new(total_pages, bool(scrub_freed))
        self._domains: dict[int, Domain] = {}
        self._names: dict[str, Domain] = {}
        self._next_domid = 1
        self.domain_destroy_chain: NotifierChain[Callable[[Domain], object]] = \
            NotifierChain("domain destroy")
        self.domain_check_chain: NotifierChain[Callable[[Domain], object]] = \
            NotifierChain("domain check")
        self.xenstore = XenStore()
        self.xenstore.lock = self.lock  # type: ignore[attr-defined]  # one world, one lock
        self._xs = self.xenstore.connect(0)  # the toolstack's connection
        if dom0 is not None:
            dom0 = _validate.as_count(dom0, "dom0", minimum=1, maximum=K.MAX_GFNS)
            self._build(0, DOM0_NAME, DomainMemory(dom0, dom0))

    @property
    def dom0(self) -> Domain | None:
        """Domain-0, if the host was given one (``Hypervisor(..., dom0=pages)``)."""
        return self._domains.get(0)

    @property
    def impl(self) -> ModuleType:
        """The core module this host runs on (``xenballoon.core._c`` or ``xenballoon.core._py``)."""
        return self._impl

    @property
    def handle(self) -> Any:
        """The core's record of the host (what the core's functions take)."""
        return self._core

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
    def cost(self) -> CostModel | None:
        """The cost model of worker turns on this host (None: instantaneous)."""
        return self._cost

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
                      name: str | None = None, videoram: int = 0,
                      dynamic_min: int | None = None, dynamic_max: int | None = None,
                      hotplug_max: int | None = None) -> Domain:
        """Build a domain with ``memory`` frames (gfns 0..memory-1) and its xenstore nodes.

        ``name`` must not be in use on the host (`InvalidArgument`, nothing changes); None:
        ``domain<domid>``.  The toolstack's nodes (`xenballoon.xen.libxl`, pages written as
        KiB): ``memory/static-max`` (``maxmem``), ``memory/target`` (``memory``) and
        ``memory/videoram`` (``videoram``, 0 for PV) as libxl writes them;
        ``memory/dynamic-min`` / ``dynamic-max`` as XenServer's xenopsd writes them, and
        ``memory/hotplug-max`` as Qubes writes it for a hotplug domain, each only when given.
        """
        memory = _validate.as_count(memory, "memory", maximum=K.MAX_GFNS)
        maxmem = memory if maxmem is None else _validate.as_count(
            maxmem, "maxmem", maximum=K.MAX_GFNS)
        if maxmem < memory:
            raise InvalidArgument(f"maxmem ({maxmem}) must be at least memory ({memory})")
        videoram = _validate.as_count(videoram, "videoram", maximum=K.MAX_GFNS)
        if dynamic_min is None and dynamic_max is None and hotplug_max is None:
            config = DomainMemory(memory, maxmem, videoram)  # NOTE: the common case first
        else:
            config = DomainMemory(
                memory, maxmem, videoram,
                *(None if v is None else _validate.as_count(v, label, maximum=K.MAX_GFNS)
                  for v, label in ((dynamic_min, "dynamic_min"), (dynamic_max, "dynamic_max"),
                                   (hotplug_max, "hotplug_max"))))
            if dynamic_min is not None and dynamic_max is not None:
                ensure(dynamic_min <= dynamic_max, f"dynamic_min ({dynamic_min}) must be at "
                       f"most dynamic_max ({dynamic_max})")
        if name is not None and not isinstance(name, str):
            raise InvalidType(f"name must be a str, not {type(name).__name__}")
        domid = self._next_domid
        if name is None:
            name = f"domain{domid}"
            while name in self._names:
                name += "+"
        check_value(0, f"/local/domain/{domid}/name", name)  # it becomes <home>/name
        if name in self._names:
            raise InvalidArgument(f"the name {name!r} is in use by domain "
                                  f"{self._names[name].domid} (names are unique on a host)")
        domain = self._build(domid, name, config)
        self._next_domid += 1
        return domain

    def _build(self, domid: int, name: str, config: DomainMemory) -> Domain:
        cdom = self._impl.domain_new(self._core, domid, config.memory, config.maxmem)
        if cdom is None:
            raise OutOfMemory(f"cannot create a domain of {config.memory} pages: "
                              f"the host has {self.free_pages} free")
        domain = Domain(self, self._impl, cdom, domid, name)
        self._domains[domid] = domain
        self._names[name] = domain
        make_domain_home(self.xenstore, domain, config)
        self.xenstore.introduce_domain(domid)
        return domain

    def by_name(self, name: str) -> Domain:
        """The live domain called ``name``; `InvalidArgument` if there is none."""
        try:
            return self._names[name]
        except (KeyError, TypeError):
            raise InvalidArgument(f"no domain named {name!r}") from None

    def destroy_domain(self, domain: Domain | int) -> None:
        """Give every frame of the domain back to the pool and forget it."""
        domain = self.lookup(domain)
        if domain.domid == 0:
            raise InvalidArgument("Domain-0 cannot be destroyed")
        # The guest and its balloon driver stop (unwatch, cancel their work) first.
        domain.call_destroy_chain()
        self._impl.domain_release(domain.handle)
        domain.alive = False
        del self._domains[domain.domid]
        del self._names[domain.name]
        self._xs.rm(domain.home)
        self.xenstore.release_domain(domain.domid)

    def lookup(self, domain: Domain | int) -> Domain:
        """The live domain given as an object or a domid; `InvalidArgument` if none."""
        if isinstance(domain, Domain):
            if domain.hypervisor is not self:
                raise InvalidArgument(f"domain {domain.domid} belongs to another hypervisor")
            domain.require_alive()
            return domain
        domid = _validate.as_count(domain, "domid", maximum=(1 << 16) - 1)
        try:
            return self._domains[domid]
        except KeyError:
            raise InvalidArgument(f"no domain with domid {domid}") from None

    # --- the XENMEM hypercalls ---------------------------------------------------------------
    def increase_reservation(self, domid: int, gfns: Any) -> int:
        """XENMEM_populate_physmap: populate each gfn in turn; returns how many were done."""
        domain = self.lookup(domid)
        frames = _validate.as_pfns(gfns, "gfns", limit=K.MAX_GFNS)
        if frames.size:
            self._impl.domain_grow(domain.handle, int(frames.max()) + 1)
        return int(self._impl.xenmem_populate_physmap(domain.handle, frames))

    def decrease_reservation(self, domid: int, gfns: Any) -> int:
        """XENMEM_decrease_reservation: release each gfn in turn; returns how many were done."""
        domain = self.lookup(domid)
        frames = _validate.as_pfns(gfns, "gfns", limit=K.MAX_GFNS)
        return int(self._impl.xenmem_decrease_reservation(domain.handle, frames))

    # --- the toolstack -------------------------------------------------------------------------
    def mem_set(self, domid: int, target_kb: int) -> None:
        """``xl mem-set``: write the domain's ``memory/target`` (KiB)."""
        domain = self.lookup(domid)
        target_kb = _validate.as_count(target_kb, "target_kb")
        self._xs.write(memory_target_path(domain), str(target_kb))

    def mem_max(self, domid: int, max_kb: int) -> None:
        """``xl mem-max``: set the domain's ``max_pages`` (KiB, rounded down to pages)."""
        domain = self.lookup(domid)
        max_kb = _validate.as_count(max_kb, "max_kb", maximum=K.MAX_GFNS * KIB_PER_PAGE)
        domain.max_pages = kb_to_pages(max_kb)
        self._xs.write(static_max_path(domain), str(max_kb))

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
                   name: str | None = None) -> Domain:
        """Fault injection: another tenant takes frames from the host pool.

        The tenant is an ordinary domain of ``pages`` frames, or, with ``leave=k``, of every
        free frame but ``k`` (neither given: all of them).  Being a domain, it keeps
        ``check()`` true, and ``destroy_domain(tenant)`` gives its frames back: the fault
        clears.  Raises ``OutOfMemory`` and changes nothing when the pool lacks the frames.
        ``name``: default ``tenant``, or ``tenant-<domid>`` while another tenant has it.
        """
        if pages is not None and leave is not None:
            raise InvalidType("give pages or leave, not both")
        if pages is None:
            leave = _validate.as_count(0 if leave is None else leave, "leave")
            if leave > self.free_pages:
                raise OutOfMemory(f"cannot leave {leave} frames free: the host has "
                                  f"{self.free_pages} free")
            pages = self.free_pages - leave
        if name is None:
            name = "tenant" if "tenant" not in self._names else f"tenant-{self._next_domid}"
        return self.create_domain(pages, name=name)

    def check(self, *, guests: bool = False) -> None:
        """Raise ``InvariantError`` naming the first broken accounting invariant.

        The host: every frame is in exactly one place (the pool or one domain's populated
        gfn), each domain's ``tot_pages`` equals its populated gfns, and the pool plus all
        domains make ``total_pages``.  With ``guests=True`` also call, for each domain in
        domid order, ``domain_check_chain`` (where `Guest` registers the check of the
        guest running in it) and the domain's own ``check_chain`` (the cheap way to check
        everything).
        """
        message = self._impl.host_check(self._core, [d.handle for d in self._domains.values()])
        if message is not None:
            raise InvariantError(message)
        if guests:
            for domain in self._domains.values():
                domain.call_check_chain()

    def state_bytes(self) -> int:
        """Bytes the core holds for the host and its domains' physmaps."""
        return int(self._impl.host_state_bytes(self._core)) + sum(
            int(self._impl.domain_state_bytes(d.handle)) for d in self._domains.values())

    def __repr__(self) -> str:
        return (f"<Hypervisor total={self.total_pages} free={self.free_pages} "
                f"domains={sorted(self._domains)}>")
