"""The nodes, seen directly or through a transaction's overlay (``transaction.py``).

Every request reads and changes nodes through ``Tree``: with ``tx=None`` it works on the
store itself (renewing generations); with a transaction it records what it accessed and
keeps its changes in the overlay.  ``owned`` counts the nodes of each owner, for xenstored's
per-domain node quota.
"""

from __future__ import annotations

import errno
import itertools

from .limits import QUOTA_NODES, parent_of, quota_exceeded
from .node import Node
from .permissions import ROOT_PERMS, VERB, may
from .transaction import Transaction

__all__ = ["Tree"]


class Tree:
    """The store's nodes by path, their generations and the owner counts."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {"/": Node(None, ROOT_PERMS)}
        self.gens = itertools.count(1)
        self.owned: dict[int, int] = {0: 1}  # nodes per owner, for the node quota

    def get(self, path: str, tx: Transaction | None) -> Node | None:
        if tx is None:
            return self.nodes.get(path)
        if path in tx.changes:
            return tx.changes[path]
        node = self.nodes.get(path)
        if path not in tx.accessed:
            tx.accessed[path] = 0 if node is None else node.gen
        return node

    def changing(self, path: str, tx: Transaction | None) -> Node:
        """The existing node at ``path``, ready to change (in place, or a transaction's copy)."""
        if tx is None:
            node = self.nodes[path]
            node.gen = next(self.gens)
            return node
        copy = tx.changes.get(path)
        if copy is None:
            original = self.get(path, tx)
            assert original is not None
            copy = tx.changes[path] = original.copy()
        return copy

    def put(self, path: str, node: Node | None, tx: Transaction | None) -> None:
        """Put a new node at ``path`` (None: remove it), keeping the owner counts."""
        old = self.get(path, tx)
        owned = self.owned if tx is None else tx.owned
        if old is not None:
            owned[old.perms[0][0]] = owned.get(old.perms[0][0], 0) - 1
        if node is not None:
            owned[node.perms[0][0]] = owned.get(node.perms[0][0], 0) + 1
        if tx is not None:
            tx.changes[path] = node
        elif node is None:
            del self.nodes[path]
        else:
            node.gen = next(self.gens)
            self.nodes[path] = node

    def lookup(self, domid: int, path: str, access: int, tx: Transaction | None) -> Node | None:
        """The node if ``domid`` has ``access`` to it; None if it is missing but may be made.

        As xenstored's get_node/errno_from_parents: a missing node is reported as missing
        only to a domain with the same access to its nearest existing ancestor.
        """
        node = self.get(path, tx)
        target = path
        while node is None:
            target = parent_of(target)
            node = self.get(target, tx)
        if not may(domid, node.perms, access):
            raise PermissionError(errno.EACCES, f"domain {domid} may not {VERB[access]} {path}")
        return node if target == path else None

    def existing(self, domid: int, path: str, access: int, tx: Transaction | None) -> Node:
        """The node, as `lookup` finds it; ``KeyError`` if it is missing."""
        node = self.lookup(domid, path, access, tx)
        if node is None:
            raise KeyError(path)
        return node

    def create(self, domid: int, path: str, tx: Transaction | None) -> Node:
        """construct_node: make ``path`` and its missing parents, inheriting permissions."""
        missing = []
        while self.get(path, tx) is None:
            missing.append(path)
            path = parent_of(path)
        if domid != 0:
            owned = self.owned.get(domid, 0) + (tx.owned.get(domid, 0) if tx else 0)
            if owned + len(missing) > QUOTA_NODES:
                raise quota_exceeded(f"domain {domid} owns {owned} nodes: the quota is "
                                     f"{QUOTA_NODES}")
        parent = self.changing(path, tx)
        perms = parent.perms
        if domid != 0:  # unprivileged domains own what they create
            perms = ((domid, perms[0][1]),) + perms[1:]
        for new in reversed(missing):
            parent.add_child(new.rsplit("/", 1)[1])
            parent = Node(None, perms)
            self.put(new, parent, tx)
        return parent

