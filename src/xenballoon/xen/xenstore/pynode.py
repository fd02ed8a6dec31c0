"""A xenstore node in plain Python: the reference twin of the compiled one (``_node``).

``xenballoon.xen.xenstore.node`` picks this one under ``XENBALLOON_BACKEND=python`` and the
compiled one (``csrc/xenstore/node.c``) otherwise; tests/test_xenstore_node.py runs the
same operations on both.  A node holds its value, its permissions, its generation and the
names of its children; the twins differ only in that the compiled node is not tracked by
Python's cyclic collector (nothing a node holds can lead back to a node).
"""

from __future__ import annotations

from collections.abc import Collection

from .permissions import Perms

__all__ = ["NO_CHILDREN", "Node"]

# The children of every leaf: one shared empty collection, so that a host's many leaves
# (most of its nodes) hold no dict of their own.
NO_CHILDREN: Collection[str] = frozenset()


class Node:
    """One xenstore node: its value (None: made as a directory), permissions, children.

    ``children`` is read-only to callers (`add_child` and `discard_child` change it): a leaf
    shares `NO_CHILDREN`; a node gets a dict of its own with its first child, its names as
    keys (values None), in the order they were added.  A dict of str keys and None values
    is not tracked by the collector, where a set always is.
    """

    __slots__ = ("value", "perms", "_children", "gen")

    def __init__(self, value: str | None, perms: Perms, gen: int = 0) -> None:
        self.value = value
        self.perms = perms
        self.gen = gen
        self._children: dict[str, None] | None = None

    @property
    def children(self) -> Collection[str]:
        children = self._children
        return NO_CHILDREN if children is None else children

    def add_child(self, name: str) -> None:
        children = self._children
        if children is None:
            self._children = {name: None}
        else:
            children[name] = None

    def discard_child(self, name: str) -> None:
        children = self._children
        if children is not None:
            children.pop(name, None)

    def copy(self) -> Node:
        node = Node(self.value, self.perms, self.gen)
        children = self._children
        if children:
            node._children = dict(children)
        return node
