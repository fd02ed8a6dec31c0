"""XenStore: the hierarchical key-value store the toolstack and guests talk through.

Nodes carry permissions as xenstored's do.  A node's permissions are a list of entries
written as xenstore-chmod writes them, a letter and a domid: ``n`` none, ``r`` read,
``w`` write, ``b`` both (``["n0", "r3"]``).  The first entry names the owner, who may always
read and write the node, and gives the access of every domain without an entry of its own.
A new node inherits its parent's permissions, except that a guest owns what it creates.
Domain 0, the toolstack, may do anything.

``XenStore``'s own methods are domain 0's view; ``connect(domid)`` gives a domain's own
connection with the same surface, where a refused request raises ``PermissionError`` and
changes nothing.  As in xenstored, reading, listing or reading the permissions of a node
needs read access; writing or removing it needs write access; creating it needs write
access to its nearest existing ancestor (whose permissions it inherits); changing its
permissions needs ownership, and only domain 0 may give a node to another owner.  A missing
node is reported as missing (``KeyError``) only to a domain with the same access to its
nearest existing ancestor; to anyone else it is a ``PermissionError``, so nothing leaks.
Refusals carry xenstored's errno: ``EACCES``, or ``EPERM`` for a change of owner.  On a
connection, a path without a leading ``/`` is relative to the domain's home,
``/local/domain/<domid>``.

Watches fire synchronously: once when registered (as xenstored does, whatever the
permissions: the event names only the watched path) and then on every change (write,
mkdir, rm, set_perms) at or below the watched path, or on the removal of a parent of it
(with the watched path as the event's path).  A watch set through a domain's connection
fires only for nodes that domain may read.

Unlike xenstored, a node created only as the parent of another (or by ``mkdir``) holds no
value: reading it raises ``KeyError`` where xenstored returns an empty string.  There are
no transactions and no quotas.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Callable, Iterable

__all__ = ["XenStore", "XenStoreConnection", "WatchHandle",
           "XS_PERM_NONE", "XS_PERM_READ", "XS_PERM_WRITE", "XS_PERM_BOTH"]

WatchCallback = Callable[[str], object]
MAX_VALUE_LEN = 4096  # XENSTORE_PAYLOAD_MAX
DOMID_FIRST_RESERVED = 0x7FF0

# xs_lib.h: the access a permission entry grants.
XS_PERM_NONE = 0
XS_PERM_READ = 1
XS_PERM_WRITE = 2
XS_PERM_BOTH = XS_PERM_READ | XS_PERM_WRITE
_LETTERS = {"n": XS_PERM_NONE, "r": XS_PERM_READ, "w": XS_PERM_WRITE, "b": XS_PERM_BOTH}
_NAMES = {bit: letter for letter, bit in _LETTERS.items()}
_VERB = {XS_PERM_READ: "read", XS_PERM_WRITE: "write"}
_PERM = re.compile(r"([nrwb])(0|[1-9][0-9]{0,4})")

Perms = tuple[tuple[int, int], ...]  # ((owner, default access), (domid, access), ...)
ROOT_PERMS: Perms = ((0, XS_PERM_NONE),)  # xenstored's manual_node("/")


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


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def _as_domid(domid: object) -> int:
    if isinstance(domid, bool) or not isinstance(domid, int):
        raise TypeError(f"domid must be an int, not {type(domid).__name__}")
    if not 0 <= domid < DOMID_FIRST_RESERVED:
        raise ValueError(f"domid must be in 0..{DOMID_FIRST_RESERVED - 1}, got {domid}")
    return domid


def parse_perms(perms: Iterable[str]) -> Perms:
    """``["n0", "r3"]`` as a permission tuple; ``ValueError`` unless every entry is valid."""
    if isinstance(perms, str):
        raise TypeError("perms must be a list of entries such as ['n0', 'r3'], not a str")
    entries = list(perms)
    if not entries:
        raise ValueError("perms needs at least one entry (the owner's)")
    parsed = []
    for entry in entries:
        match = _PERM.fullmatch(entry) if isinstance(entry, str) else None
        if match is None or int(match[2]) >= DOMID_FIRST_RESERVED:
            raise ValueError(f"bad permission entry {entry!r}: want a letter of n/r/w/b "
                             "and a domid, such as 'r3'")
        parsed.append((int(match[2]), _LETTERS[match[1]]))
    return tuple(parsed)


def format_perms(perms: Perms) -> list[str]:
    return [f"{_NAMES[access]}{domid}" for domid, access in perms]


def perm_for_conn(domid: int, perms: Perms) -> int:
    """The access ``domid`` has to a node: all for dom0 and the owner, else its entry."""
    if domid == 0 or perms[0][0] == domid:
        return XS_PERM_BOTH
    for entry_domid, access in perms[1:]:
        if entry_domid == domid:
            return access
    return perms[0][1]


def _denied(code: int, message: str) -> PermissionError:
    """xenstored's EACCES (or EPERM, for a change of owner) as Python's PermissionError."""
    return PermissionError(code, message)


class _Node:
    __slots__ = ("value", "perms")

    def __init__(self, value: str | None, perms: Perms) -> None:
        self.value = value
        self.perms = perms


class WatchHandle:
    """A registered watch; ``unwatch()`` removes it (idempotent)."""

    __slots__ = ("_store", "path", "callback", "active", "domid", "_relative_to")

    def __init__(self, store: XenStore, path: str, callback: WatchCallback, domid: int,
                 relative_to: str | None) -> None:
        self._store = store
        self.path = path
        self.callback = callback
        self.active = True
        self.domid = domid
        self._relative_to = relative_to

    def unwatch(self) -> None:
        if self.active:
            self.active = False
            self._store._watches.remove(self)

    def _deliver(self, path: str) -> None:
        # A watch set with a relative path gets relative event paths, as from xenstored.
        if self._relative_to is not None:
            path = path[len(self._relative_to) + 1:]
        self.callback(path)

    def __repr__(self) -> str:
        return f"<WatchHandle {self.path!r}{'' if self.active else ' (removed)'}>"


class XenStore:
    """An in-memory xenstored: ``read``, ``write``, ``rm``, ``ls`` and ``watch`` as dom0.

    ``connect(domid)`` gives a domain's connection, which enforces the permissions.
    """

    def __init__(self) -> None:
        self._nodes: dict[str, _Node] = {"/": _Node(None, ROOT_PERMS)}
        self._watches: list[WatchHandle] = []

    # --- domain 0's interface ----------------------------------------------------------------
    def read(self, path: str) -> str:
        """The value at ``path``; ``KeyError`` if there is none."""
        return self._read(0, _normalise(path))

    def write(self, path: str, value: str) -> None:
        """Store ``value`` at ``path`` and fire the watches at or above it."""
        self._write(0, _normalise(path), value)

    def mkdir(self, path: str) -> None:
        """Make sure ``path`` exists (without a value), creating missing parents."""
        self._mkdir(0, _normalise(path))

    def rm(self, path: str) -> None:
        """Remove ``path`` and everything below it (no error if absent)."""
        self._rm(0, _normalise(path))

    def ls(self, path: str) -> list[str]:
        """The names of the children of ``path``, sorted."""
        return self._ls(0, _normalise(path))

    def get_perms(self, path: str) -> list[str]:
        """The permissions of ``path``, such as ``['n0', 'r3']``; ``KeyError`` if absent."""
        return self._get_perms(0, _normalise(path))

    def set_perms(self, path: str, perms: Iterable[str]) -> None:
        """Replace the permissions of ``path`` (``['n0', 'r3']``: owner 0, domain 3 reads)."""
        self._set_perms(0, _normalise(path), perms)

    def exists(self, path: str) -> bool:
        """``path`` holds a value (it has been written)."""
        node = self._nodes.get(_normalise(path))
        return node is not None and node.value is not None

    def watch(self, path: str, callback: WatchCallback) -> WatchHandle:
        """Call ``callback(path)`` now and after each change at or below ``path``."""
        return self._watch(0, _normalise(path), callback, None)

    def connect(self, domid: int) -> XenStoreConnection:
        """Domain ``domid``'s connection (``connect(0)`` is the toolstack's)."""
        return XenStoreConnection(self, _as_domid(domid))

    # --- the requests, for any domain ----------------------------------------------------------
    def _lookup(self, domid: int, path: str, access: int) -> _Node | None:
        """The node if ``domid`` has ``access`` to it; None if it is missing but may be made.

        As xenstored's get_node/errno_from_parents: a missing node is reported as missing
        only to a domain with the same access to its nearest existing ancestor.
        """
        node = self._nodes.get(path)
        if node is not None:
            if perm_for_conn(domid, node.perms) & access != access:
                raise _denied(errno.EACCES, f"domain {domid} may not {_VERB[access]} {path}")
            return node
        ancestor = self._nodes[self._nearest_ancestor(path)]
        if perm_for_conn(domid, ancestor.perms) & access != access:
            raise _denied(errno.EACCES, f"domain {domid} may not {_VERB[access]} {path}")
        return None

    def _nearest_ancestor(self, path: str) -> str:
        while path not in self._nodes:
            path = _parent(path)
        return path

    def _read(self, domid: int, path: str) -> str:
        node = self._lookup(domid, path, XS_PERM_READ)
        if node is None or node.value is None:
            raise KeyError(path)
        return node.value

    def _write(self, domid: int, path: str, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"xenstore values are str, not {type(value).__name__}")
        if len(value) > MAX_VALUE_LEN:
            raise ValueError(f"xenstore value longer than {MAX_VALUE_LEN} characters")
        node = self._lookup(domid, path, XS_PERM_WRITE)
        if node is None:
            node = self._create(domid, path)
        node.value = value
        self._fire(path, node.perms)

    def _mkdir(self, domid: int, path: str) -> None:
        if self._lookup(domid, path, XS_PERM_WRITE) is None:
            self._fire(path, self._create(domid, path).perms)

    def _create(self, domid: int, path: str) -> _Node:
        """construct_node: make ``path`` and its missing parents, inheriting permissions."""
        missing = []
        while path not in self._nodes:
            missing.append(path)
            path = _parent(path)
        perms = self._nodes[path].perms
        if domid != 0:  # unprivileged domains own what they create
            perms = ((domid, perms[0][1]),) + perms[1:]
        for new in reversed(missing):
            self._nodes[new] = _Node(None, perms)
        return self._nodes[missing[0]]

    def _rm(self, domid: int, path: str) -> None:
        node = self._lookup(domid, path, XS_PERM_WRITE)
        if node is None:
            return
        doomed = {p: n.perms for p, n in self._nodes.items() if _below(p, path) and p != "/"}
        if not doomed:  # rm("/") of an empty store: the root itself stays
            return
        for p in doomed:
            del self._nodes[p]
        perms = doomed.get(path, node.perms)
        for handle in list(self._watches):
            if not handle.active:
                continue
            if _below(path, handle.path):
                self._deliver(handle, path, perms)
            elif handle.path in doomed:  # a parent of the watched node went
                self._deliver(handle, handle.path, doomed[handle.path])

    def _ls(self, domid: int, path: str) -> list[str]:
        self._lookup(domid, path, XS_PERM_READ)
        prefix = "/" if path == "/" else path + "/"
        return sorted({p[len(prefix):].split("/")[0] for p in self._nodes
                       if p.startswith(prefix) and p != "/"})

    def _get_perms(self, domid: int, path: str) -> list[str]:
        node = self._lookup(domid, path, XS_PERM_READ)
        if node is None:
            raise KeyError(path)
        return format_perms(node.perms)

    def _set_perms(self, domid: int, path: str, perms: Iterable[str]) -> None:
        new = parse_perms(perms)
        node = self._lookup(domid, path, XS_PERM_WRITE)
        if node is None:
            raise KeyError(path)
        if domid != 0 and node.perms[0][0] != domid:
            raise _denied(errno.EACCES, f"domain {domid} does not own {path}")
        if domid != 0 and new[0][0] != domid:
            raise _denied(errno.EPERM, f"domain {domid} may not give {path} to domain {new[0][0]}")
        old, node.perms = node.perms, new
        self._fire(path, old, new)

    def _watch(self, domid: int, path: str, callback: WatchCallback,
               relative_to: str | None) -> WatchHandle:
        if not callable(callback):
            raise TypeError("callback must be callable")
        handle = WatchHandle(self, path, callback, domid, relative_to)
        self._watches.append(handle)
        handle._deliver(path)
        return handle

    def _fire(self, path: str, *perms: Perms) -> None:
        """Tell every watch at or above ``path`` whose domain may read the node."""
        for handle in list(self._watches):
            if handle.active and _below(path, handle.path):
                self._deliver(handle, path, *perms)

    @staticmethod
    def _deliver(handle: WatchHandle, path: str, *perms: Perms) -> None:
        if any(perm_for_conn(handle.domid, p) & XS_PERM_READ for p in perms):
            handle._deliver(path)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.exists(path)

    def __repr__(self) -> str:
        return f"<XenStore {len(self._nodes)} nodes, {len(self._watches)} watches>"



class XenStoreConnection:
    """One domain's connection to xenstored: every request is checked against permissions.

    Paths without a leading ``/`` are relative to the domain's home.  A refused request
    raises ``PermissionError`` and changes nothing.
    """

    def __init__(self, store: XenStore, domid: int) -> None:
        self._store = store
        self.domid = domid
        self.home = f"/local/domain/{domid}"

    def _path(self, path: str) -> str:
        if isinstance(path, str) and path and not path.startswith("/"):
            path = f"{self.home}/{path}"
        return _normalise(path)

    def read(self, path: str) -> str:
        """The value at ``path``: ``KeyError`` if there is none, ``PermissionError`` if hidden."""
        return self._store._read(self.domid, self._path(path))

    def write(self, path: str, value: str) -> None:
        """Store ``value`` at ``path`` (creating it needs write access to its parent)."""
        self._store._write(self.domid, self._path(path), value)

    def mkdir(self, path: str) -> None:
        """Make sure ``path`` exists, creating it and missing parents without a value."""
        self._store._mkdir(self.domid, self._path(path))

    def rm(self, path: str) -> None:
        """Remove ``path`` and everything below it (no error if absent but permitted)."""
        self._store._rm(self.domid, self._path(path))

    def ls(self, path: str) -> list[str]:
        """The names of the children of ``path``, sorted."""
        return self._store._ls(self.domid, self._path(path))

    def get_perms(self, path: str) -> list[str]:
        """The permissions of ``path``, such as ``['n0', 'r3']``."""
        return self._store._get_perms(self.domid, self._path(path))

    def set_perms(self, path: str, perms: Iterable[str]) -> None:
        """Replace the permissions of a node this domain owns (it stays the owner)."""
        self._store._set_perms(self.domid, self._path(path), perms)

    def watch(self, path: str, callback: WatchCallback) -> WatchHandle:
        """Call ``callback(path)`` now and after each change this domain may see."""
        relative = isinstance(path, str) and bool(path) and not path.startswith("/")
        return self._store._watch(self.domid, self._path(path), callback,
                                  self.home if relative else None)

    def __repr__(self) -> str:
        return f"<XenStoreConnection domain {self.domid}>"
