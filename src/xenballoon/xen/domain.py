"""A Xen domain as the hypervisor sees it: a live view of its reservation.

Lower than everything that runs inside a domain: a guest and its balloon driver learn of
the domain's end through a destroy chain, and join the hypervisor's invariant checks
through a check chain; the domain never calls them by name.  Each chain comes in two
kinds: the host's (``Hypervisor.domain_destroy_chain``, ``domain_check_chain``), called for
every domain, where `Guest` and `Balloon` register one function each, once per host; and
the domain's own (`Domain.destroy_chain`, `Domain.check_chain`), made on first use, for
whatever watches one domain.
"""

from __future__ import annotations

from collections.abc import Callable
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
    to the pool (after the host's ``domain_destroy_chain``).  ``check_chain``: called by
    ``Hypervisor.check(guests=True)`` (after the host's ``domain_check_chain``); a callback
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
        # Made on first use: the guest and its balloon use the host's chains, so most
        # domains never need their own (two objects and two lists fewer per domain).
        self._destroy_chain: NotifierChain[Callable[[Domain], object]] | None = None
        self._check_chain: NotifierChain[Callable[[Domain], object]] | None = None

    @property
    def destroy_chain(self) -> NotifierChain[Callable[[Domain], object]]:
        """Callbacks called with this domain as it is destroyed (made on first use)."""
        chain = self._destroy_chain
        if chain is None:
            chain = self._destroy_chain = NotifierChain(f"domain {self.domid} destroy")
        return chain

    @property
    def check_chain(self) -> NotifierChain[Callable[[Domain], object]]:
        """Callbacks called with this domain by ``Hypervisor.check(guests=True)``."""
        chain = self._check_chain
        if chain is None:
            chain = self._check_chain = NotifierChain(f"domain {self.domid} check")
        return chain

    def call_destroy_chain(self) -> None:
        """The domain is being destroyed: the host's destroy chain, then its own."""
        self.hypervisor.domain_destroy_chain.call_chain(self)
        if self._destroy_chain is not None:
            self._destroy_chain.call_chain(self)

    def call_check_chain(self) -> None:
        """Check what runs in the domain: the host's check chain, then its own."""
        self.hypervisor.domain_check_chain.call_chain(self)
        if self._check_chain is not None:
            self._check_chain.call_chain(self)

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
