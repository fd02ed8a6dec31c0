"""Several of domain 0's mkdir/write/set_perms requests as one step (libxl's domain home).

libxl writes a new domain's nodes in one transaction (``libxl_create.c``); `make_nodes`
does what the same requests one by one do (same nodes, generations, owner counts and
watch events, each fired right after its request as before), but checks every path, value
and permission list first, so bad input changes nothing, and skips the per-request
lock, path, permission and transaction handling (domain 0 may do anything, and makes no
transaction here).

`make_domain_home` is libxl's home of a new domain (see ``xenballoon.xen.libxl``), always
the same shape: where no watch can see it, its nodes are made directly (permissions as
tuples, no path or value checked twice, one dict insert per node), with the same nodes,
generations and owner counts as `make_nodes` of the same entries, which makes it otherwise.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence

from ...errors import InvalidType
from .limits import (
    DOMID_FIRST_RESERVED,
    XENSTORE_ABS_PATH_MAX,
    as_domid,
    canonical_below,
    canonical_path,
    check_value,
)
from .node import Node
from .permissions import XS_PERM_NONE, XS_PERM_READ, Perms, format_perms, parse_perms
from .tree import Tree
from .watches import Event, WatchTable

__all__ = ["NodeEntry", "make_nodes", "make_domain_home"]

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



def make_domain_home(tree: Tree, watches: WatchTable, domid: int, name: str,
                     memory: Mapping[str, int]) -> None:
    """libxl's nodes for domain ``domid``: as `make_nodes` of them, directly when unwatched.

    In this order: ``~`` and ``~/memory`` (dom0's, readable by the domain: ``["n0",
    "r<domid>"]``, or ``["n0"]`` for domain 0), ``~/data`` (the domain's own: ``["n<domid>"]``;
    ``libxl_create.c``), ``~/name``, ``~/domid`` and ``~/memory/<key>`` for each of ``memory``
    (KiB), inheriting.  Checked first: bad input changes nothing.
    """
    domid = as_domid(domid)
    home = f"/local/domain/{domid}"
    name_path = f"{home}/name"
    check_value(0, name_path, name)
    keys = tuple(memory)
    if keys not in _CHECKED_KEYS:  # the few sets of memory nodes a host writes
        for key in keys:
            canonical_below(f"{home}/memory", key)
        if len(_CHECKED_KEYS) < 64 and all(len(key) <= _KEY_MAX for key in keys):
            _CHECKED_KEYS.add(keys)
    kibs = [str(kib) for kib in memory.values() if type(kib) is int]
    if len(kibs) != len(keys):
        raise InvalidType(f"memory values are ints (KiB), got {dict(memory)!r}")
    readonly: Perms = ((0, XS_PERM_NONE), (domid, XS_PERM_READ)) if domid else ((0, XS_PERM_NONE),)
    own: Perms = ((domid, XS_PERM_NONE),)
    nodes = tree.nodes
    if home in nodes or "/local/domain" not in nodes or watches.watched_under(home):
        make_nodes(tree, watches, [
            (home, None, format_perms(readonly)), (f"{home}/memory", None, format_perms(readonly)),
            (f"{home}/data", None, format_perms(own)), (name_path, name, None),
            (f"{home}/domid", str(domid), None),
            *((f"{home}/memory/{key}", kib, None) for key, kib in zip(keys, kibs, strict=True))])
        return
    # All new, below an existing node, and no watch to tell: what make_nodes makes of the
    # same entries, directly.  Its generations, from the next one g: /local/domain renewed
    # g, ~ made g+1 and given its perms g+2; then each new node renews its parent and takes
    # the next (set_perms one more): ~/memory g+4 (g+5), ~/data g+7 (g+8), ~/name g+10,
    # ~/domid g+12, memory/<key i> g+14+2i; ~ last renewed g+11, ~/memory g+11+2m (of m keys).
    gens, m = tree.gens, len(keys)
    g = next(gens)
    tree.gens = itertools.count(g + 13 + 2 * m)
    parent = nodes["/local/domain"]
    parent.gen = g
    parent.add_child(home[14:])
    top = nodes[home] = Node(None, readonly, g + 11)
    mem = nodes[f"{home}/memory"] = Node(None, readonly, g + 11 + 2 * m if m else g + 5)
    nodes[f"{home}/data"] = Node(None, own, g + 8)
    nodes[name_path] = Node(name, readonly, g + 10)
    nodes[f"{home}/domid"] = Node(str(domid), readonly, g + 12)
    for child in ("memory", "data", "name", "domid"):
        top.add_child(child)
    for i, key in enumerate(keys):
        mem.add_child(key)
        nodes[f"{home}/memory/{key}"] = Node(kibs[i], readonly, g + 14 + 2 * i)
    owned = tree.owned  # (set_perms moves ~ from /local/domain's owner to 0)
    owned[0] = owned.get(0, 0) + 4 + m
    owned[domid] = owned.get(domid, 0) + 1


# Tuples of memory node names found valid below every home (no longer than _KEY_MAX).
_CHECKED_KEYS: set[tuple[str, ...]] = set()
_KEY_MAX = XENSTORE_ABS_PATH_MAX - len(f"/local/domain/{DOMID_FIRST_RESERVED - 1}/memory/")
