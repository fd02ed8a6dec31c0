"""One lock per world: how a simulated host is safe to use from several threads.

A *world* is a `Simulation` and everything that runs on it: its hypervisors, their
domains and xenstore, the guests, their balloons and sysfs.  It has one re-entrant lock,
``Simulation.lock``, and every object of the world has it as ``.lock``.  Every public
method of a world object (and every property setter, and the getters that read more than
one value) holds it for the whole call, C core calls included, and `Simulation.run`
holds it while it runs events.  So calls from several threads are serialised, one public
call at a time: a xenstored server thread and a simulation thread can share a host.  The
cost is one lock acquire per public call, never per page or per event: what runs inside
a call (the worker, the reservations, watches, events) holds it already and does not
take it again.  Hold it yourself (``with hv.lock:``) to make several calls one step.

`guarded` applies the rule to a class: its ``__init__`` joins the world of its first
argument (a simulation, hypervisor, domain, guest, balloon or store: whatever has a
``.lock``), or starts a world of its own when that has none (a `XenStore` on its own).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ..errors import InvalidType

__all__ = ["guarded", "locked"]

C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])


def locked(fn: F) -> F:
    """``fn(self, ...)`` holding ``self.lock``."""

    @functools.wraps(fn)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        lock = self.lock
        lock.acquire()
        try:
            return fn(self, *args, **kwargs)
        finally:
            lock.release()

    return call  # type: ignore[return-value]


def _joining(init: Callable[..., None]) -> Callable[..., None]:
    """``__init__`` that takes the world's lock from its first argument, and holds it."""

    @functools.wraps(init)
    def call(self: Any, *args: Any, **kwargs: Any) -> None:
        lock = getattr(args[0], "lock", None) if args else None
        if lock is None:  # no world to join (or a wrong argument, which init refuses)
            lock = threading.RLock()
        self.lock = lock
        lock.acquire()
        try:
            init(self, *args, **kwargs)
        finally:
            lock.release()

    return call


def guarded(cls: C | None = None, *, getters: Iterable[str] = ()) -> Any:
    """Class decorator: the class's public methods and property setters (and the property
    getters named in ``getters``) run holding the world's lock; ``__init__`` joins it.

    Only what the class itself defines is wrapped (a subclass is decorated too if it adds
    public methods or its own ``__init__``).  Plain getters of one value stay unlocked:
    reading one counter needs no lock, and internal code reads them on hot paths.
    """
    names = frozenset(getters)

    def apply(klass: C) -> C:
        for name, attr in list(vars(klass).items()):
            if name == "__init__":
                setattr(klass, name, _joining(attr))
            elif name.startswith("_"):
                continue
            elif isinstance(attr, property):
                fget = attr.fget
                if name in names and fget is not None:
                    fget = locked(fget)
                fset = None if attr.fset is None else locked(attr.fset)
                setattr(klass, name, property(fget, fset, attr.fdel, attr.__doc__))
            elif isinstance(attr, (staticmethod, classmethod)) or not callable(attr):
                continue
            else:
                setattr(klass, name, locked(attr))
        unknown = names - {n for n, a in vars(klass).items() if isinstance(a, property)}
        if unknown:
            raise InvalidType(f"{klass.__name__} has no properties {sorted(unknown)}")
        return klass

    return apply if cls is None else apply(cls)
