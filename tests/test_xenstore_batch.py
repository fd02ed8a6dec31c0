"""`XenStore.make_nodes` is the same domain 0 requests one by one, in one step."""

from __future__ import annotations

import pytest

from xenballoon.errors import InvalidArgument
from xenballoon.xen.xenstore import NodeEntry, XenStore

HOME = "/local/domain/3"
ENTRIES: list[NodeEntry] = [(HOME, None, ["n0", "r3"]), (f"{HOME}/memory", None, ["n0", "r3"]),
                            (f"{HOME}/data", None, ["n3"]), (f"{HOME}/name", "vm", None),
                            (f"{HOME}/memory/target", "4096", None)]


def one_by_one(store: XenStore, entries: list[NodeEntry]) -> None:
    for path, value, perms in entries:
        if value is None:
            store.mkdir(path)
        else:
            store.write(path, value)
        if perms is not None:
            store.set_perms(path, perms)


def snapshot(store: XenStore) -> dict[str, tuple[str | None, list[str], int]]:
    out = {}
    stack = ["/"]
    while stack:
        path = stack.pop()
        out[path] = (store.value(path), store.get_perms(path), store.connect(0).generation(path))
        stack += [f"{path.rstrip('/')}/{name}" for name in store.ls(path)]
    return out


def watched(store: XenStore) -> list[str]:
    seen: list[str] = []
    store.watch("/local", seen.append)
    store.watch(f"{HOME}/memory/target", lambda p: seen.append("target:" + p))
    store.connect(3).watch("memory", lambda p: seen.append("dom3:" + p))
    return seen


def test_make_nodes_makes_the_same_nodes_and_watch_events_as_one_request_each() -> None:
    a, b = XenStore(), XenStore()
    a.write("/local/domain/3/memory/target", "1")  # an existing node is rewritten
    b.write("/local/domain/3/memory/target", "1")
    seen_a, seen_b = watched(a), watched(b)
    one_by_one(a, ENTRIES)
    b.make_nodes(ENTRIES)
    assert seen_b == seen_a and len(seen_a) > 5
    assert snapshot(b) == snapshot(a)
    assert repr(b) == repr(a)


def test_make_nodes_refuses_bad_input_before_changing_anything() -> None:
    store = XenStore()
    before = snapshot(store)
    with pytest.raises(InvalidArgument):
        store.make_nodes([(HOME, None, None), (f"{HOME}/bad path", "x", None)])
    with pytest.raises(InvalidArgument):
        store.make_nodes([(HOME, None, None), (f"{HOME}/name", "x" * 5000, None)])
    with pytest.raises(InvalidArgument):
        store.make_nodes([(HOME, None, ["bogus"])])
    assert snapshot(store) == before
