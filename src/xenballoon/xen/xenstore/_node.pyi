# Types of the compiled xenstore node (csrc/xenstore/node.c); see xenballoon.xen.xenstore.pynode.
from collections.abc import Collection

from .permissions import Perms

NO_CHILDREN: Collection[str]

class Node:
    value: str | None
    perms: Perms
    gen: int
    def __init__(self, value: str | None, perms: Perms, gen: int = 0) -> None: ...
    @property
    def children(self) -> Collection[str]: ...
    def add_child(self, name: str) -> None: ...
    def discard_child(self, name: str) -> None: ...
    def copy(self) -> Node: ...
