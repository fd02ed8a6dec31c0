"""Transactions: a transaction is a private overlay checked at commit.

As xenstored's ``transaction.c`` describes it: a transaction sees its own changes, nobody
else sees them before it commits, and the commit fails (EAGAIN) when any node the
transaction accessed changed meanwhile.  Accessed means read, written (a write reads
first), looked up while missing, or listed (a directory's child list belongs to the node,
so a new or removed child changes it).  Every node carries a generation, renewed at each
change; a transaction remembers the generation it first saw of each node (0: missing) and
commits only if they are all still current.  Watches fire at commit, never on abort.
"""

from __future__ import annotations

from collections.abc import Iterator

from .node import Node
from .watches import Event

__all__ = ["Transaction"]


class Transaction:
    """A transaction of domain ``domid``: its changes, what it accessed, its pending events."""

    __slots__ = ("tid", "domid", "changes", "accessed", "events", "owned")

    def __init__(self, tid: int, domid: int) -> None:
        self.tid = tid
        self.domid = domid
        self.changes: dict[str, Node | None] = {}  # None: removed by the transaction
        self.accessed: dict[str, int] = {}  # the generation first seen; 0: missing
        self.events: list[Event] = []
        self.owned: dict[int, int] = {}  # nodes owned per domain, as a change to the store's

    def conflicts(self, nodes: dict[str, Node]) -> bool:
        """A node it accessed has changed since (or appeared, or gone)."""
        for path, gen in self.accessed.items():
            node = nodes.get(path)
            if (0 if node is None else node.gen) != gen:
                return True
        return False

    def apply(self, nodes: dict[str, Node], gens: Iterator[int], owned: dict[int, int]) -> None:
        """Commit: its changes into ``nodes`` (each with a new generation), its owner counts."""
        for path, changed in self.changes.items():
            if changed is None:
                nodes.pop(path, None)
            else:
                changed.gen = next(gens)
                nodes[path] = changed
        for owner, delta in self.owned.items():
            owned[owner] = owned.get(owner, 0) + delta

    def __repr__(self) -> str:
        return f"<Transaction {self.tid} of domain {self.domid}: {len(self.changes)} changes>"
