"""Several of domain 0's mkdir/write/set_perms requests as one step (libxl's domain home).

libxl writes a new domain's nodes in one transaction (``libxl_create.c``); `make_nodes`
does what the same requests one by one do (same nodes, generations, owner counts and
watch events, each fired right after its request as before), but checks every path, value
and permission list first, so bad input changes nothing, and skips the per-request
lock, path, permission and transaction handling (domain 0 may do anything, and makes no
transaction here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from .limits import canonical_below, canonical_path, check_value
from .permissions import Perms, parse_perms
from .transaction import Node
from .tree import Tree
from .watches import Event, WatchTable

__all__ = ["NodeEntry", "make_nodes"]

# (path, value or None for a mkdir, perms or None to keep the inherited ones)
NodeEntry = tuple[str, "str | None", "Sequence[str] | None"]


def make_nodes(tree: Tree, watches: WatchTable, entries: Iterable[NodeEntry]) -> None:
    """Domain 0's ``mkdir``/``write`` of each entry, then its ``set_perms`` when given."""
    checked: list[tuple[str, str | None, Perms | None]] = []
    parsed: dict[tuple[str, ...], Perms] = {}  # a home gives the same perms to several nodes
    under = ""  # the first path and "/": the others below it are checked by their names
    for path, value, given in entries:
        if under and isinstance(path, str) and path.startswith(under):
            path = canonical_below(under[:-1], path[len(under):])
        else:
            path = canonical_path(path)
            if not checked and path != "/":
                under = path + "/"
        if value is not None:
            check_value(0, path, value)
        new = None
        if given is not None:
            key = tuple(given) if type(given) in (list, tuple) else None
            new = parsed.get(key) if key is not None else None
            if new is None:
                new = parse_perms(given)
                if key is not None:
                    parsed[key] = new
        checked.append((path, value, new))
    if not checked:
        return
    nodes, owned, gens = tree.nodes, tree.owned, tree.gens
    fire: Callable[[Iterable[Event]], None] | None = watches.fire
    # Entries all at or below the first one, where no watch can fire (a new domain's home,
    # before its guest watches anything): no event needs to be looked up.
    top = checked[0][0]
    under = top.rstrip("/") + "/"
    if not watches.watched_under(top) and all(
            path == top or path.startswith(under) for path, _, _ in checked):
        fire = None
    for path, value, new in checked:
        node = nodes.get(path)
        if node is None:
            # Tree.create for domain 0 outside a transaction: the missing parents too, each
            # inheriting the permissions of the nearest existing ancestor.
            missing = [path]
            above = path[:path.rfind("/")] or "/"
            while above not in nodes:
                missing.append(above)
                above = above[:above.rfind("/")] or "/"
            parent = nodes[above]
            parent.gen = next(gens)
            perms = parent.perms
            owned[perms[0][0]] = owned.get(perms[0][0], 0) + len(missing)
            for here in reversed(missing):
                parent.add_child(here[here.rfind("/") + 1:])
                parent = nodes[here] = Node(None, perms, next(gens))
            node = parent
            node.value = value
            if fire is not None:
                fire(((path, False, (perms,)),))
        elif value is not None:
            node.gen = next(gens)
            node.value = value
            if fire is not None:
                fire(((path, False, (node.perms,)),))
        if new is not None:  # a watch callback may have removed it: set_perms's KeyError
            node = nodes.get(path)
            if node is None:
                raise KeyError(path)
            old = node.perms
            if new[0][0] != old[0][0]:
                owned[old[0][0]] = owned.get(old[0][0], 0) - 1
                owned[new[0][0]] = owned.get(new[0][0], 0) + 1
            node.gen = next(gens)
            node.perms = new
            if fire is not None:
                fire(((path, False, (old, new)),))

