"""XenStore: the hierarchical key-value store the toolstack and guests talk through.

Watches fire synchronously: once when registered (as xenstored does) and then on
every write or removal at or below the watched path.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["XenStore", "WatchHandle"]

WatchCallback = Callable[[str], object]
MAX_VALUE_LEN = 4096  # XENSTORE_PAYLOAD_MAX


def _normalise(path: str) -> str:
    if not isinstance(path, str):
        raise TypeError(f"xenstore path must be a str, not {type(path).__name__}")
    if not path.startswith("/"):
        raise ValueError(f"xenstore path must be absolute, got {path!r}")
    parts = path.split("/")[1:]
    if path != "/" and (not all(parts) or any(c.isspace() for c in path)):
        raise ValueError(f"malformed xenstore path {path!r}")
    return path if path == "/" else path.rstrip("/")


def _below(path: str, watched: str) -> bool:
    return watched == "/" or path == watched or path.startswith(watched + "/")


class WatchHandle:
    """A registered watch; ``unwatch()`` removes it (idempotent)."""

    __slots__ = ("_store", "path", "callback", "active")

    def __init__(self, store: XenStore, path: str, callback: WatchCallback) -> None:
        self._store = store
        self.path = path
        self.callback = callback
        self.active = True

    def unwatch(self) -> None:
        if self.active:
            self.active = False
            self._store._watches.remove(self)

    def __repr__(self) -> str:
        return f"<WatchHandle {self.path!r}{'' if self.active else ' (removed)'}>"


class XenStore:
    """An in-memory xenstore: ``read``, ``write``, ``rm``, ``ls`` and ``watch``."""

    def __init__(self) -> None:
        self._nodes: dict[str, str] = {}
        self._watches: list[WatchHandle] = []

    def read(self, path: str) -> str:
        """The value at ``path``; ``KeyError`` if there is none."""
        return self._nodes[_normalise(path)]

    def write(self, path: str, value: str) -> None:
        """Store ``value`` at ``path`` and fire the watches at or above it."""
        path = _normalise(path)
        if not isinstance(value, str):
            raise TypeError(f"xenstore values are str, not {type(value).__name__}")
        if len(value) > MAX_VALUE_LEN:
            raise ValueError(f"xenstore value longer than {MAX_VALUE_LEN} characters")
        self._nodes[path] = value
        self._fire(path)

    def rm(self, path: str) -> None:
        """Remove ``path`` and everything below it (no error if absent)."""
        path = _normalise(path)
        doomed = [p for p in self._nodes if _below(p, path)]
        for p in doomed:
            del self._nodes[p]
        if doomed:
            self._fire(path)

    def ls(self, path: str) -> list[str]:
        """The names of the children of ``path``, sorted."""
        path = _normalise(path)
        prefix = "/" if path == "/" else path + "/"
        return sorted({p[len(prefix):].split("/")[0] for p in self._nodes
                       if p.startswith(prefix)})

    def exists(self, path: str) -> bool:
        return _normalise(path) in self._nodes

    def watch(self, path: str, callback: WatchCallback) -> WatchHandle:
        """Call ``callback(path)`` now and after each change at or below ``path``."""
        path = _normalise(path)
        if not callable(callback):
            raise TypeError("callback must be callable")
        handle = WatchHandle(self, path, callback)
        self._watches.append(handle)
        callback(path)
        return handle

    def _fire(self, path: str) -> None:
        for handle in list(self._watches):
            if handle.active and _below(path, handle.path):
                handle.callback(path)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.exists(path)

    def __repr__(self) -> str:
        return f"<XenStore {len(self._nodes)} nodes, {len(self._watches)} watches>"
