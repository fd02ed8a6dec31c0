"""XenStore: the hierarchical key-value store the toolstack and guests talk through.

``XenStore``'s own methods are domain 0's view; ``connect(domid)`` gives a domain's
connection with the same surface.  As in xenstored (``core.c``): reading, listing or reading
the permissions of a node needs read access; writing or removing it needs write access;
creating it needs write access to its nearest existing ancestor (whose permissions it
inherits, except that an unprivileged domain owns what it creates); changing permissions
needs ownership, and only domain 0 may give a node to another owner.  A missing node is
reported as missing only to a domain with the same access to its nearest existing ancestor.
On a connection a path without a leading ``/`` is relative to ``/local/domain/<domid>``.

Every operation takes ``tx`` (0: none), a transaction from ``transaction_start()``; see
``transaction.py``.  What each raises (``errno_of`` gives xenstored's errno):

- ``KeyError`` (ENOENT): ``read``/``get_perms``/``set_perms``/``ls`` of a missing node;
  ``rm`` of a node whose parent is missing too; an unknown ``tx``.
- ``PermissionError`` (EACCES; EPERM for a change of owner): a refused request.
- ``InvalidArgument`` (a ValueError; EINVAL): a malformed path (see ``limits.py``), perms
  or domid; ``rm("/")``.  ``InvalidType`` (a TypeError; EINVAL): an argument's type.
- ``InvalidArgument`` with ``errno`` E2BIG: a value past the payload.
- ``OSError`` ENOSPC: a domain past one of its quotas (nodes, watches, transactions...).
- ``ExceptionGroup``: watch callbacks raised after a change was committed (``watches.py``).

A refused request changes nothing.  Watches fire synchronously: once when registered
(whatever the permissions) and then on every committed change.  The special watches
``@introduceDomain``/``@releaseDomain`` fire on ``introduce_domain``/``release_domain``
(the hypervisor's calls).  ``make_nodes`` is several of domain 0's requests in one step.
Unlike xenstored, a node made only as a parent (or by ``mkdir``) holds no value: ``read``
raises ``KeyError`` where xenstored returns an empty string (``value`` tells the two apart).
The store starts with ``/`` only.  Both classes hold the world's lock in every public call.
"""

from __future__ import annotations

import errno
import itertools
from collections.abc import Iterable, Mapping

from ...errors import InvalidType
from ...sim import guarded
from .batch import NodeEntry, make_domain_home, make_nodes
from .limits import (
    QUOTA_PERMS,
    QUOTA_TRANSACTIONS,
    QUOTA_WATCHES,
    as_domid,
    canonical_below,
    canonical_path,
    check_path_quota,
    check_value,
    invalid,
    parent_of,
    quota_exceeded,
)
from .node import Node
from .permissions import (
    ROOT_PERMS,
    XS_PERM_READ,
    XS_PERM_WRITE,
    Perms,
    format_perms,
    may,
    parse_perms,
)
from .transaction import Transaction
from .tree import Tree
from .watches import Event, WatchCallback, WatchHandle, WatchTable

__all__ = ["XenStore", "XenStoreConnection"]


@guarded
class XenStore:
    """An in-memory xenstored; its methods are domain 0's requests (see the module doc)."""

    def __init__(self) -> None:
        self._tree = Tree()
        self._watches = WatchTable()
        self._transactions: dict[int, Transaction] = {}
        self._tids = itertools.count(1)
        self._introduced: set[int] = set()
        self._special: dict[str, Perms] = {"@introduceDomain": ROOT_PERMS,
                                           "@releaseDomain": ROOT_PERMS}
        self._dom0 = XenStoreConnection(self, 0, relative=False)

    # --- domain 0's requests ------------------------------------------------------------
    def read(self, path: str, *, tx: int = 0) -> str:
        """The value at ``path``; ``KeyError`` if there is none."""
        return self._dom0.read(path, tx=tx)

    def value(self, path: str, *, tx: int = 0) -> str | None:
        """The value at ``path``, None for a node without one; ``KeyError`` if missing."""
        return self._dom0.value(path, tx=tx)

    def write(self, path: str, value: str, *, tx: int = 0) -> None:
        """Store ``value`` at ``path`` (creating missing parents) and fire the watches."""
        self._dom0.write(path, value, tx=tx)

    def mkdir(self, path: str, *, tx: int = 0) -> None:
        """Make sure ``path`` exists (without a value), creating missing parents."""
        self._dom0.mkdir(path, tx=tx)

    def rm(self, path: str, *, tx: int = 0) -> None:
        """Remove ``path`` and everything below it (no error if absent, its parent present)."""
        self._dom0.rm(path, tx=tx)

    def ls(self, path: str, *, tx: int = 0) -> list[str]:
        """The names of the children of ``path``, sorted; ``KeyError`` if missing."""
        return self._dom0.ls(path, tx=tx)

    def get_perms(self, path: str, *, tx: int = 0) -> list[str]:
        """The permissions of ``path``, such as ``['n0', 'r3']``; ``KeyError`` if absent."""
        return self._dom0.get_perms(path, tx=tx)

    def set_perms(self, path: str, perms: Iterable[str], *, tx: int = 0) -> None:
        """Replace the permissions of ``path`` (``['n0', 'r3']``: owner 0, domain 3 reads)."""
        self._dom0.set_perms(path, perms, tx=tx)

    def transaction_start(self) -> int:
        """Start a transaction; its id (> 0) is the ``tx`` of the requests inside it."""
        return self._dom0.transaction_start()

    def transaction_end(self, tid: int, abort: bool = False) -> bool:
        """Commit (or abort) ``tid``: True, or False when the commit conflicts (EAGAIN)."""
        return self._dom0.transaction_end(tid, abort)

    def values(self, paths: Iterable[str]) -> list[str | None]:
        """Domain 0's read of each path in one step: its value, None where there is none.

        For listings (``xl list`` reads every domain's target): the lock once, and no
        permission walk or transaction (domain 0 may read everything).
        """
        get = self._tree.nodes.get
        found = [get(canonical_path(path)) for path in paths]
        return [None if node is None else node.value for node in found]

    def make_nodes(self, entries: Iterable[NodeEntry]) -> None:
        """Each entry's mkdir (value None) or write, then set_perms if given: one step."""
        make_nodes(self._tree, self._watches, entries)

    def make_domain_home(self, domid: int, name: str, memory: Mapping[str, int]) -> None:
        """libxl's nodes of a new domain (``xenballoon.xen.libxl``) as `make_nodes`, faster."""
        make_domain_home(self._tree, self._watches, domid, name, memory)

    def exists(self, path: str) -> bool:
        """``path`` holds a value (it has been written)."""
        node = self._tree.nodes.get(canonical_path(path))
        return node is not None and node.value is not None

    def watch(self, path: str, callback: WatchCallback) -> WatchHandle:
        """Call ``callback(path)`` now and after each change at or below ``path``."""
        return self._dom0.watch(path, callback)

    def connect(self, domid: int) -> XenStoreConnection:
        """Domain ``domid``'s connection (``connect(0)`` is the toolstack's)."""
        return XenStoreConnection(self, as_domid(domid))

    # --- domains (the hypervisor's hooks) ------------------------------------------------
    def introduce_domain(self, domid: int) -> None:
        """The domain now exists (XS_INTRODUCE): fire ``@introduceDomain``."""
        self._introduced.add(as_domid(domid))
        self._watches.fire([("@introduceDomain", True, (self._special["@introduceDomain"],))])

    def release_domain(self, domid: int) -> None:
        """The domain is gone (destroyed, XS_RELEASE): fire ``@releaseDomain``."""
        self._introduced.discard(as_domid(domid))
        self._watches.fire([("@releaseDomain", True, (self._special["@releaseDomain"],))])

    def is_domain_introduced(self, domid: int) -> bool:
        domid = as_domid(domid)
        return domid == 0 or domid in self._introduced

    @property
    def watch_count(self) -> int:
        return len(self._watches)

    def _tx(self, domid: int, tid: object) -> Transaction | None:
        if tid == 0 and type(tid) is int:  # NOTE: the common case first, for performance
            return None
        if isinstance(tid, bool) or not isinstance(tid, int):
            raise InvalidType(f"tx must be an int transaction id, not {type(tid).__name__}")
        if tid == 0:
            return None
        tx = self._transactions.get(tid)
        if tx is None or tx.domid != domid:
            raise KeyError(f"no transaction {tid} for domain {domid}")
        return tx

    def _emit(self, tx: Transaction | None, events: list[Event]) -> None:
        if tx is None:
            self._watches.fire(events)
        else:
            tx.events.extend(events)

    # --- the requests, for any domain --------------------------------------------------------
    def _read(self, domid: int, path: str, tx: Transaction | None) -> str | None:
        return self._tree.existing(domid, path, XS_PERM_READ, tx).value

    def _write(self, domid: int, path: str, value: str, tx: Transaction | None) -> None:
        check_value(domid, path, value)
        found = self._tree.lookup(domid, path, XS_PERM_WRITE, tx)
        tree = self._tree
        node = tree.create(domid, path, tx) if found is None else tree.changing(path, tx)
        node.value = value
        self._emit(tx, [(path, False, (node.perms,))])

    def _mkdir(self, domid: int, path: str, tx: Transaction | None) -> None:
        if self._tree.lookup(domid, path, XS_PERM_WRITE, tx) is None:
            self._emit(tx, [(path, False, (self._tree.create(domid, path, tx).perms,))])

    def _rm(self, domid: int, path: str, tx: Transaction | None) -> None:
        node = self._tree.lookup(domid, path, XS_PERM_WRITE, tx)
        if path == "/":
            raise invalid("cannot remove the root of xenstore")
        if node is None:  # absent: fine if its parent exists (xenstored's do_rm)
            if self._tree.get(parent_of(path), tx) is None:
                raise KeyError(path)
            return
        doomed: list[tuple[str, Node]] = []
        stack = [(path, node)]
        while stack:
            here, current = stack.pop()
            doomed.append((here, current))
            for name in current.children:
                child = self._tree.get(f"{here}/{name}", tx)
                assert child is not None
                stack.append((f"{here}/{name}", child))
        parent = self._tree.changing(parent_of(path), tx)
        parent.discard_child(path.rsplit("/", 1)[1])
        events: list[Event] = [(path, False, (node.perms,))]
        for here, current in doomed:
            self._tree.put(here, None, tx)
            if here != path:
                events.append((here, True, (current.perms,)))
        self._emit(tx, events)

    def _ls(self, domid: int, path: str, tx: Transaction | None) -> list[str]:
        return sorted(self._tree.existing(domid, path, XS_PERM_READ, tx).children)

    def _generation(self, domid: int, path: str, tx: Transaction | None) -> int:
        return self._tree.existing(domid, path, XS_PERM_READ, tx).gen

    def _get_perms(self, domid: int, path: str, tx: Transaction | None) -> list[str]:
        if path in self._special:
            perms = self._special[path]
        else:
            perms = self._tree.existing(domid, path, XS_PERM_READ, tx).perms
        if not may(domid, perms, XS_PERM_READ):
            raise PermissionError(errno.EACCES, f"domain {domid} may not read {path}")
        return format_perms(perms)

    def _set_perms(self, domid: int, path: str, perms: Iterable[str],
                   tx: Transaction | None) -> None:
        new = parse_perms(perms)
        if domid != 0 and len(new) > QUOTA_PERMS:
            raise quota_exceeded(f"{len(new)} permission entries from domain {domid}: the "
                                 f"quota is {QUOTA_PERMS}")
        if path in self._special:
            old = self._special[path]
        else:
            old = self._tree.existing(domid, path, XS_PERM_WRITE, tx).perms
        if domid != 0 and old[0][0] != domid:
            raise PermissionError(errno.EACCES, f"domain {domid} does not own {path}")
        if domid != 0 and new[0][0] != domid:
            raise PermissionError(errno.EPERM,
                                  f"domain {domid} may not give {path} to domain {new[0][0]}")
        if path in self._special:
            self._special[path] = new
            return
        if new[0][0] != old[0][0]:
            owned = self._tree.owned if tx is None else tx.owned
            owned[old[0][0]] = owned.get(old[0][0], 0) - 1
            owned[new[0][0]] = owned.get(new[0][0], 0) + 1
        self._tree.changing(path, tx).perms = new
        self._emit(tx, [(path, False, (old, new))])

    def _watch(self, domid: int, path: str, callback: WatchCallback,
               relative_to: str | None) -> WatchHandle:
        if not callable(callback):
            raise InvalidType("callback must be callable")
        if domid != 0 and self._watches.of_domain(domid) >= QUOTA_WATCHES:
            raise quota_exceeded(f"domain {domid} has {QUOTA_WATCHES} watches: the quota")
        handle = self._watches.add(path, callback, domid, relative_to)
        handle.deliver(path)
        return handle

    def _transaction_start(self, domid: int) -> int:
        if domid != 0 and sum(t.domid == domid for t in self._transactions.values()) \
                >= QUOTA_TRANSACTIONS:
            raise quota_exceeded(f"domain {domid} has {QUOTA_TRANSACTIONS} transactions open")
        tid = next(self._tids)
        self._transactions[tid] = Transaction(tid, domid)
        return tid

    def _transaction_end(self, domid: int, tid: int, abort: bool) -> bool:
        tx = self._tx(domid, tid)
        if tx is None:
            raise invalid("transaction_end needs a transaction id, not 0")
        del self._transactions[tid]
        if abort:
            return True
        if tx.conflicts(self._tree.nodes):
            return False  # xenstored's EAGAIN: the caller redoes the transaction
        tx.apply(self._tree.nodes, self._tree.gens, self._tree.owned)
        self._watches.fire(tx.events)
        return True

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.exists(path)

    def __repr__(self) -> str:
        return (f"<XenStore {len(self._tree.nodes)} nodes, {len(self._watches)} watches, "
                f"{len(self._transactions)} transactions>")


@guarded
class XenStoreConnection:
    """One domain's connection to xenstored: every request is checked against permissions.

    Paths without a leading ``/`` are relative to the domain's home.  A refused request
    raises (see the module docstring) and changes nothing.
    """

    def __init__(self, store: XenStore, domid: int, *, relative: bool = True) -> None:
        self.store = store
        self.domid = domid
        self.home = f"/local/domain/{domid}"
        self.relative = relative  # False: every path must be absolute (XenStore's own view)

    def _path(self, path: str, *, special: bool = False) -> str:
        rel = self.relative and isinstance(path, str) and path and path[0] not in "/@"
        path = canonical_below(self.home, path) if rel else canonical_path(path, special=special)
        if self.domid:
            check_path_quota(self.domid, path)
        return path

    def read(self, path: str, *, tx: int = 0) -> str:
        """The value at ``path``: ``KeyError`` if there is none, ``PermissionError`` if hidden."""
        value = self.store._read(self.domid, self._path(path), self.store._tx(self.domid, tx))
        if value is None:
            raise KeyError(path)
        return value

    def value(self, path: str, *, tx: int = 0) -> str | None:
        """The value at ``path``, None for a node without one (xenstored reads it as "")."""
        path = self._path(path)
        return self.store._read(self.domid, path, self.store._tx(self.domid, tx))

    def write(self, path: str, value: str, *, tx: int = 0) -> None:
        """Store ``value`` at ``path`` (creating it needs write access to its parent)."""
        path = self._path(path)
        self.store._write(self.domid, path, value, self.store._tx(self.domid, tx))

    def mkdir(self, path: str, *, tx: int = 0) -> None:
        """Make sure ``path`` exists, creating it and missing parents without a value."""
        path = self._path(path)
        self.store._mkdir(self.domid, path, self.store._tx(self.domid, tx))

    def rm(self, path: str, *, tx: int = 0) -> None:
        """Remove ``path`` and everything below it (no error if absent but permitted)."""
        path = self._path(path)
        self.store._rm(self.domid, path, self.store._tx(self.domid, tx))

    def ls(self, path: str, *, tx: int = 0) -> list[str]:
        """The names of the children of ``path``, sorted."""
        path = self._path(path)
        return self.store._ls(self.domid, path, self.store._tx(self.domid, tx))

    def generation(self, path: str, *, tx: int = 0) -> int:
        """A number that changes whenever the node (its value, perms or children) does."""
        path = self._path(path)
        return self.store._generation(self.domid, path, self.store._tx(self.domid, tx))

    def get_perms(self, path: str, *, tx: int = 0) -> list[str]:
        """The permissions of ``path`` (or of a special ``@`` path), such as ``['n0', 'r3']``."""
        path = self._path(path, special=True)
        return self.store._get_perms(self.domid, path, self.store._tx(self.domid, tx))

    def set_perms(self, path: str, perms: Iterable[str], *, tx: int = 0) -> None:
        """Replace the permissions of a node this domain owns (it stays the owner)."""
        path = self._path(path, special=True)
        self.store._set_perms(self.domid, path, perms, self.store._tx(self.domid, tx))

    def watch(self, path: str, callback: WatchCallback) -> WatchHandle:
        """Call ``callback(path)`` now and after each change this domain may see."""
        relative = (self.relative and isinstance(path, str) and bool(path)
                    and path[0] not in "/@")
        return self.store._watch(self.domid, self._path(path, special=True), callback,
                                 self.home if relative else None)

    def transaction_start(self) -> int:
        """Start a transaction of this domain; its id is > 0."""
        return self.store._transaction_start(self.domid)

    def transaction_end(self, tid: int, abort: bool = False) -> bool:
        """Commit (or abort) ``tid``: True, or False when the commit conflicts (EAGAIN)."""
        return self.store._transaction_end(self.domid, tid, bool(abort))

    def __repr__(self) -> str:
        return f"<XenStoreConnection domain {self.domid}>"
