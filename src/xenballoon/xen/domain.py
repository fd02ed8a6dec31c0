"""A Xen domain as the hypervisor sees it: a live view of its reservation.

Lower than everything that runs inside a domain: a guest and its balloon driver learn of
the domain's end through `Domain.destroy_chain`, and join the hypervisor's invariant checks
through `Domain.check_chain`; the domain never calls them by name.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..sim import NotifierChain, Simulation, guarded
from .xenstore import XenStore

__all__ = ["Domain"]


@guarded
class Domain:
    """A domain: a live view of its reservation in the hypervisor.

    ``destroy_chain``: called with the domain as it is destroyed, before its frames go back
    to the pool.  ``check_chain``: called by ``Hypervisor.check(guests=True)``; a callback
    raises `InvariantError` if what it checks is broken.  ``guest``: the `Guest` running in
    the domain, if any (set by the guest, never used by the xen layer).
    """

    def __init__(self, hypervisor: Any, impl: ModuleType, handle: Any, domid: int,
                 name: str) -> None:
        self.hypervisor = hypervisor  # the owning Hypervisor (which imports this module)
        self.impl = impl
        self._core = handle
        self.domid = domid
        self.name = name
        self._home = f"/local/domain/{domid}"
        self.alive = True
        self.guest: Any = None
        self.destroy_chain: NotifierChain = NotifierChain(f"domain {domid} destroy")
        self.check_chain: NotifierChain = NotifierChain(f"domain {domid} check")

    @property
    def handle(self) -> Any:
        """The core's record of this domain (what the core's functions take)."""
        return self._core

    @property
    def sim(self) -> Simulation:
        """The simulation the domain's host runs on."""
        return self.hypervisor.sim

    @property
    def xenstore(self) -> XenStore:
        """The host's xenstore."""
        return self.hypervisor.xenstore

    @property
    def tot_pages(self) -> int:
        """Frames the domain holds."""
        return int(self._core.tot_pages)

    @property
    def max_pages(self) -> int:
        """The most frames the domain may hold (``xl mem-max``)."""
        return int(self._core.max_pages)

    @max_pages.setter
    def max_pages(self, pages: int) -> None:
        self._core.max_pages = pages

    @property
    def home(self) -> str:
        """The domain's xenstore directory, ``/local/domain/<domid>``."""
        return self._home

    @property
    def target_kb(self) -> int | None:
        """``memory/target`` as the toolstack last wrote it, if it parses."""
        try:
            return int(self.xenstore.read(f"{self.home}/memory/target"))
        except (KeyError, ValueError):
            return None

    def physmap(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The p2m (gfn -> mfn, ``0xFFFFFFFF`` when unpopulated) of gfns [start, stop).

        A snapshot: a read-only numpy array copied from the core when called (slice rules
        for start and stop; default the whole physmap).  It never changes afterwards and
        stays valid whatever happens to the domain (the core's array may move as the
        physmap grows); call again for the current state.  Writing to it raises.
        """
        return self.impl.domain_p2m(self._core, start, stop)

    def require_alive(self) -> None:
        """Raise `InvalidArgument` if the domain has been destroyed."""
        if not self.alive:
            raise InvalidArgument(f"domain {self.domid} has been destroyed")

    def __repr__(self) -> str:
        state = "" if self.alive else " destroyed"
        return (f"<Domain {self.domid} {self.name!r} tot_pages={self.tot_pages} "
                f"max_pages={self.max_pages}{state}>")
