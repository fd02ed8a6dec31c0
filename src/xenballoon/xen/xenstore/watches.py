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
from collections.abc import Callable, Iterable, Sequence

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
    """The registered watches by watched path, with a count per domain (for its quota).

    A change at P needs the watches on P and on each of its ancestors: found by walking up
    the path once, then remembered by path (sorted by registration) until a watch is added
    or removed at a remembered path, so a round of writes to every domain's
    ``memory/target`` looks each ancestor up once rather than once per change.  A count of
    the watches at or below each path tells a batch of changes below one path
    (`xenballoon.xen.xenstore.batch`) when no watch can see any of them.
    """

    # The remembered answers are dropped past this many paths (a bound on their memory).
    CACHE_PATHS = 1 << 16

    def __init__(self) -> None:
        self._by_path: dict[str, list[WatchHandle]] = {}
        self._per_domain: dict[int, int] = {}
        self._seq = itertools.count()
        self._count = 0
        # path -> the watches on it and its ancestors, in registration order
        self._covering: dict[str, tuple[WatchHandle, ...]] = {}
        # path -> how many watches are on it or below it
        self._below: dict[str, int] = {}

    def add(self, path: str, callback: WatchCallback, domid: int,
            relative_to: str | None) -> WatchHandle:
        handle = WatchHandle(self, path, callback, domid, relative_to, next(self._seq))
        handles = self._by_path.get(path)
        if handles is None:
            self._by_path[path] = [handle]
        else:
            handles.append(handle)
        self._per_domain[domid] = self._per_domain.get(domid, 0) + 1
        self._count += 1
        self._count_below(path, 1)
        return handle

    def remove(self, handle: WatchHandle) -> None:
        handles = self._by_path[handle.path]
        handles.remove(handle)
        if not handles:
            del self._by_path[handle.path]
        self._per_domain[handle.domid] -= 1
        self._count -= 1
        self._count_below(handle.path, -1)

    def _count_below(self, path: str, delta: int) -> None:
        """A watch on ``path`` came (+1) or went (-1): forget what the change alters.

        The remembered paths always include the ancestors of each (they are filled in from
        the top down), so if ``path`` is not remembered nothing below it is either.
        """
        if path in self._covering:
            self._covering.clear()
        below = self._below
        while True:
            count = below.get(path, 0) + delta
            if count:
                below[path] = count
            else:
                del below[path]
            if path == "/" or path[0] == "@":
                return
            cut = path.rfind("/")
            path = path[:cut] if cut > 0 else "/"

    def watched_under(self, path: str) -> bool:
        """A change at ``path`` or anywhere below it may fire a watch (False: none can)."""
        if path in self._below:  # a watch on it or below it
            return True
        # one on an ancestor: its parent's answer (a new path is not remembered for this)
        cut = path.rfind("/")
        return path != "/" and path[0] != "@" and bool(self._covering_of(path[:cut] or "/"))

    def of_domain(self, domid: int) -> int:
        return self._per_domain.get(domid, 0)

    def __len__(self) -> int:
        return self._count

    def _covering_of(self, path: str) -> tuple[WatchHandle, ...]:
        covering = self._covering
        found = covering.get(path)
        if found is not None:
            return found
        if not self._by_path:
            return ()
        # Walk up to the nearest ancestor already known (or past the root), then fill in
        # each path on the way back down.
        missing = [path]
        above: tuple[WatchHandle, ...] = ()
        while path != "/":
            cut = path.rfind("/")  # NOTE: parent_of inlined for performance reasons
            path = path[:cut] if cut > 0 else "/"
            known = covering.get(path)
            if known is not None:
                above = known
                break
            missing.append(path)
        if len(covering) + len(missing) > self.CACHE_PATHS:
            covering.clear()
        by_path = self._by_path
        for here in reversed(missing):
            own = by_path.get(here)
            if own:  # each list is in registration order already
                above = tuple(sorted(above + tuple(own), key=_seq_of)) if above else tuple(own)
            covering[here] = above
        return above

    def fire(self, events: Iterable[Event]) -> None:
        """Tell each watch of each event, in registration order; then raise what they raised."""
        errors: list[Exception] = []
        by_path, covering = self._by_path, self._covering
        for path, exact, perms in events:
            if not by_path:
                break
            handles: Sequence[WatchHandle] | None
            if exact or path[0] == "@":
                handles = tuple(by_path.get(path, ()))
            else:
                handles = covering.get(path)
                if handles is None:
                    handles = self._covering_of(path)
            for handle in handles:
                if not handle.active:
                    continue
                domid = handle.domid
                if domid == 0 or any(perm_for_conn(domid, p) & XS_PERM_READ for p in perms):
                    try:
                        handle.deliver(handle.path if exact else path)
                    except Exception as exc:  # every other watch must still be told
                        errors.append(exc)
        if errors:
            raise_collected(errors)


def _seq_of(handle: WatchHandle) -> int:
    return handle.seq


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
