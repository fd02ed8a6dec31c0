"""`XenStore.make_domain_home`: libxl's home of a domain, as its requests one by one make it.

Made directly when no watch can see it, through `make_nodes` otherwise: either way the same
nodes, values, permissions, generations, owner counts, child order and watch events.
"""

from __future__ import annotations

import errno

import pytest

from xenballoon.errors import InvalidArgument, InvalidType
from xenballoon.xen.xenstore import XenStore

MEMORY = {"static-max": 8192, "target": 4096, "videoram": 0}


def by_requests(store: XenStore, domid: int, name: str, memory: dict[str, int]) -> None:
    """libxl's requests for the home, one by one (libxl_create.c, libxl_dom.c)."""
    home = f"/local/domain/{domid}"
    readonly = ["n0", f"r{domid}"] if domid else ["n0"]
    for path, perms in ((home, readonly), (f"{home}/memory", readonly),
                        (f"{home}/data", [f"n{domid}"])):
        store.mkdir(path)
        store.set_perms(path, perms)
    store.write(f"{home}/name", name)
    store.write(f"{home}/domid", str(domid))
    for key, kib in memory.items():
        store.write(f"{home}/memory/{key}", str(kib))


def snapshot(store: XenStore) -> dict[str, tuple[str | None, list[str], int, list[str]]]:
    out = {}
    stack = ["/"]
    while stack:
        path = stack.pop()
        names = store.ls(path)
        out[path] = (store.value(path), store.get_perms(path),
                     store.connect(0).generation(path), names)
        stack += [f"{path.rstrip('/')}/{name}" for name in names]
    return out


def state(store: XenStore) -> tuple[object, ...]:
    """Everything a request can tell apart, and the owner counts (the node quota's)."""
    return snapshot(store), dict(store._tree.owned), repr(store)


def removal_order(store: XenStore, top: str) -> list[str]:
    """The events of removing ``top``, one watch on each node: its children's order."""
    seen: list[str] = []
    for path in snapshot(store):
        if path.startswith(top):
            store.watch(path, lambda p: seen.append(p) if p != top else None)
    seen.clear()
    store.rm(top)
    return seen


def two_stores() -> tuple[XenStore, XenStore]:
    a, b = XenStore(), XenStore()
    for store in (a, b):  # a domain already there, and a watch no new home sees
        by_requests(store, 3, "vm3", MEMORY)
        store.watch("/local/domain/3", lambda p: None)
    return a, b


@pytest.mark.parametrize("memory", [MEMORY, {}, {**MEMORY, "dynamic-min": 2048,
                                                 "dynamic-max": 8192}])
def test_an_unwatched_home_is_what_the_requests_make(memory: dict[str, int]) -> None:
    a, b = two_stores()
    by_requests(a, 7, "vm7", memory)
    b.make_domain_home(7, "vm7", memory)
    assert state(b) == state(a)
    a.write("/after", "x")  # the generations go on from the same number
    b.write("/after", "x")
    assert state(b) == state(a)
    assert removal_order(b, "/local/domain/7") == removal_order(a, "/local/domain/7")


def test_a_domain_0_home_is_its_own_readable_by_domain_0_only() -> None:
    a, b = two_stores()
    by_requests(a, 0, "Domain-0", MEMORY)
    b.make_domain_home(0, "Domain-0", MEMORY)
    assert state(b) == state(a)
    assert b.get_perms("/local/domain/0/memory") == ["n0"]


def test_the_first_home_makes_local_domain_as_the_requests_do() -> None:
    a, b = XenStore(), XenStore()
    by_requests(a, 1, "vm1", MEMORY)
    b.make_domain_home(1, "vm1", MEMORY)
    assert state(b) == state(a)


def test_an_existing_home_is_rewritten_as_the_requests_rewrite_it() -> None:
    a, b = two_stores()
    for store in (a, b):
        store.write("/local/domain/7/name", "old")
    by_requests(a, 7, "vm7", MEMORY)
    b.make_domain_home(7, "vm7", MEMORY)
    assert state(b) == state(a)


@pytest.mark.parametrize("watched", ["/", "/local", "/local/domain/7",
                                     "/local/domain/7/memory/target", "/local/domain/7/data"])
def test_a_watched_home_fires_the_events_of_the_requests_in_their_order(watched: str) -> None:
    a, b = two_stores()
    seen_a: list[str] = []
    seen_b: list[str] = []
    a.watch(watched, seen_a.append)
    b.watch(watched, seen_b.append)
    a.connect(7).watch("memory", lambda p: seen_a.append("dom7:" + p))
    b.connect(7).watch("memory", lambda p: seen_b.append("dom7:" + p))
    by_requests(a, 7, "vm7", MEMORY)
    b.make_domain_home(7, "vm7", MEMORY)
    assert seen_b == seen_a and len(seen_a) > 2
    assert state(b) == state(a)


@pytest.mark.parametrize(("domid", "name", "memory", "error"), [
    (-1, "vm", MEMORY, InvalidArgument),
    (0x7FF0, "vm", MEMORY, InvalidArgument),
    ("7", "vm", MEMORY, InvalidType),
    (True, "vm", MEMORY, InvalidType),
    (7, 7, MEMORY, InvalidType),
    (7, "x" * 5000, MEMORY, InvalidArgument),
    (7, "vm", {"bad key": 1}, InvalidArgument),
    (7, "vm", {"a/": 1}, InvalidArgument),
    (7, "vm", {"target": "4096"}, InvalidType),
    (7, "vm", {"target": True}, InvalidType),
    (7, "vm", {"target": 4096, "x" * 3060: 1}, InvalidArgument),
])
def test_bad_input_is_refused_naming_it_and_changes_nothing(
        domid: object, name: object, memory: dict[str, object], error: type[Exception]) -> None:
    _, store = two_stores()
    before = state(store)
    with pytest.raises(error):
        store.make_domain_home(domid, name, memory)  # type: ignore[arg-type]
    assert state(store) == before


def test_a_memory_node_is_checked_below_its_own_home() -> None:
    key = "k" * (3072 - len("/local/domain/7/memory/"))  # one byte too long below 32751
    a, b = two_stores()
    by_requests(a, 7, "vm7", {key: 1})
    b.make_domain_home(7, "vm7", {key: 1})
    assert state(b) == state(a)
    with pytest.raises(InvalidArgument):
        b.make_domain_home(32751, "vm", {key: 1})
    assert b.value(f"/local/domain/7/memory/{key}") == "1"


def test_a_name_past_the_payload_is_refused_with_e2big() -> None:
    store = XenStore()
    with pytest.raises(InvalidArgument) as info:
        store.make_domain_home(7, "x" * 5000, MEMORY)
    assert info.value.errno == errno.E2BIG  # type: ignore[attr-defined]
