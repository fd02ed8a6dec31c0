"""Watches, found by path: a change looks up only its own path and its ancestors.

xenstored's rules (``watch.c``, ``core.c``): a change at P fires every watch on P or on an
ancestor of P; removing a subtree also fires, for each removed node below its top, the
watches exactly on that node, naming the watched path.  ``@``-paths fire only the watches on
exactly that path.  A watch set by a domain fires only for nodes it may read (before or
after the change).

Every watch sees every committed change: the callbacks run in registration order, each
exception is collected, and once all have run they are re-raised together as one
``ExceptionGroup`` (the change itself stays committed; the group's message says so).  On
Python 3.10, which has no ExceptionGroup, the first is re-raised and the rest are logged.
"""

from __future__ import annotations

import builtins
import itertools
import logging
from collections.abc import Callable, Iterable

from .permissions import XS_PERM_READ, Perms, perm_for_conn

__all__ = ["WatchCallback", "WatchHandle", "WatchTable", "Event", "raised_after_commit"]

WatchCallback = Callable[[str], object]
# (path, exact, perms): fire the watches on ``path`` (and, unless ``exact``, on its
# ancestors) that may read a node with any of ``perms``.
Event = tuple[str, bool, tuple[Perms, ...]]
_GROUP: type[Exception] | None = getattr(builtins, "ExceptionGroup", None)
_log = logging.getLogger("xenballoon.xenstore")


class WatchHandle:
    """A registered watch; ``unwatch()`` removes it (idempotent)."""

    __slots__ = ("table", "path", "callback", "active", "domid", "relative_to", "seq")

    def __init__(self, table: WatchTable, path: str, callback: WatchCallback, domid: int,
                 relative_to: str | None, seq: int) -> None:
        self.table = table
        self.path = path
        self.callback = callback
        self.active = True
        self.domid = domid
        self.relative_to = relative_to
        self.seq = seq

    def unwatch(self) -> None:
        if self.active:
            self.active = False
            self.table.remove(self)

    def deliver(self, path: str) -> None:
        """Call back with ``path``, made relative if the watch was set with a relative path."""
        if self.relative_to is not None and path.startswith(self.relative_to + "/"):
            path = path[len(self.relative_to) + 1:]
        self.callback(path)

    def __repr__(self) -> str:
        return f"<WatchHandle {self.path!r}{'' if self.active else ' (removed)'}>"


class WatchTable:
    """The registered watches by watched path, with a count per domain (for its quota)."""

    def __init__(self) -> None:
        self._by_path: dict[str, list[WatchHandle]] = {}
        self._per_domain: dict[int, int] = {}
        self._seq = itertools.count()
        self._count = 0

    def add(self, path: str, callback: WatchCallback, domid: int,
            relative_to: str | None) -> WatchHandle:
        handle = WatchHandle(self, path, callback, domid, relative_to, next(self._seq))
        self._by_path.setdefault(path, []).append(handle)
        self._per_domain[domid] = self._per_domain.get(domid, 0) + 1
        self._count += 1
        return handle

    def remove(self, handle: WatchHandle) -> None:
        handles = self._by_path[handle.path]
        handles.remove(handle)
        if not handles:
            del self._by_path[handle.path]
        self._per_domain[handle.domid] -= 1
        self._count -= 1

    def of_domain(self, domid: int) -> int:
        return self._per_domain.get(domid, 0)

    def __len__(self) -> int:
        return self._count

    def matching(self, path: str, exact: bool) -> list[WatchHandle]:
        """The watches on ``path`` and (unless ``exact``) on each of its ancestors."""
        found: list[WatchHandle] = []
        by_path = self._by_path
        if not by_path:
            return found
        while True:
            handles = by_path.get(path)
            if handles:
                found.extend(handles)
            if exact or path == "/" or path[0] == "@":
                return found
            cut = path.rfind("/")  # NOTE: parent_of inlined for performance reasons
            path = path[:cut] if cut > 0 else "/"

    def fire(self, events: Iterable[Event]) -> None:
        """Tell each watch of each event, in registration order; then raise what they raised."""
        errors: list[Exception] = []
        for path, exact, perms in events:
            handles = self.matching(path, exact)
            if len(handles) > 1:
                handles.sort(key=lambda h: h.seq)
            for handle in handles:
                if not handle.active:
                    continue
                if any(perm_for_conn(handle.domid, p) & XS_PERM_READ for p in perms):
                    event_path = handle.path if exact else path
                    try:
                        handle.deliver(event_path)
                    except Exception as exc:  # every other watch must still be told
                        errors.append(exc)
        if errors:
            raise_collected(errors)


def raise_collected(errors: list[Exception]) -> None:
    message = (f"{len(errors)} xenstore watch callback(s) raised; the change is committed "
               "and every watch was told")
    if _GROUP is not None:
        raise _GROUP(message, errors)
    for exc in errors[1:]:  # Python 3.10
        _log.error("%s", message, exc_info=exc)
    raise errors[0]


def raised_after_commit(exc: BaseException) -> bool:
    """``exc`` is the group of watch callbacks' errors: the change it reports was committed."""
    return _GROUP is not None and isinstance(exc, _GROUP)
