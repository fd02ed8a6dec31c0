"""Watches found by path stay exact while watches come and go, and batches skip no event."""

from __future__ import annotations

import pytest

import xenballoon as xb
from xenballoon.errors import InvalidArgument
from xenballoon.xen.xenstore import NodeEntry, XenStore, parse_perms


def test_a_watch_added_after_a_write_sees_the_next_write_to_the_same_path() -> None:
    store = XenStore()
    seen: list[str] = []
    store.write("/a/b/c", "1")  # the path and its ancestors are looked up (and remembered)
    store.watch("/a", lambda p: seen.append("a:" + p))
    store.write("/a/b/c", "2")
    assert seen == ["a:/a", "a:/a/b/c"]


def test_watches_on_a_path_and_its_ancestors_fire_in_registration_order() -> None:
    store = XenStore()
    seen: list[str] = []
    store.write("/a/b/c", "1")
    store.watch("/a/b/c", lambda p: seen.append("c"))
    store.watch("/a", lambda p: seen.append("a"))
    store.watch("/a/b", lambda p: seen.append("b"))
    seen.clear()
    store.write("/a/b/c", "2")
    store.write("/a/b/c", "3")
    assert seen == ["c", "a", "b"] * 2


def test_an_unwatched_path_no_longer_fires_though_it_was_looked_up_before() -> None:
    store = XenStore()
    seen: list[str] = []
    handle = store.watch("/a/b", seen.append)
    store.write("/a/b/c", "1")
    handle.unwatch()
    store.write("/a/b/c", "2")
    store.write("/a/b", "3")
    assert seen == ["/a/b", "/a/b/c"]
    assert store.watch_count == 0


def test_a_watch_below_a_remembered_path_fires_for_changes_at_it_only() -> None:
    store = XenStore()
    seen: list[str] = []
    store.write("/a/b", "1")
    store.watch("/a/b/c/d", seen.append)
    store.write("/a/b", "2")      # above the watch: not seen
    store.write("/a/b/c/d", "3")  # at it
    store.write("/a/b/c/d/e", "4")  # below it
    assert seen == ["/a/b/c/d", "/a/b/c/d", "/a/b/c/d/e"]


HOME = "/local/domain/7"
ENTRIES: list[NodeEntry] = [(HOME, None, ["n0", "r7"]), (f"{HOME}/memory", None, ["n0", "r7"]),
                            (f"{HOME}/data", None, ["n7"]),
                            (f"{HOME}/memory/target", "4096", None)]


def test_a_batch_no_watch_can_see_makes_the_same_nodes_as_one_request_each() -> None:
    a, b = XenStore(), XenStore()
    seen: list[str] = []
    for store in (a, b):  # watches elsewhere: none sees the new home
        store.watch("/local/domain/8", seen.append)
        store.watch("@introduceDomain", seen.append)
    for path, value, perms in ENTRIES:
        if value is None:
            a.mkdir(path)
        else:
            a.write(path, value)
        if perms is not None:
            a.set_perms(path, perms)
    b.make_nodes(ENTRIES)
    assert seen == ["/local/domain/8", "@introduceDomain"] * 2
    for path, _, _ in ENTRIES:
        assert (b.value(path), b.get_perms(path), b.connect(0).generation(path)) == \
            (a.value(path), a.get_perms(path), a.connect(0).generation(path))
    assert repr(b) == repr(a)


@pytest.mark.parametrize("watched", ["/local", HOME, f"{HOME}/memory/target"])
def test_a_batch_fires_every_event_a_watch_at_or_above_or_below_its_top_can_see(
        watched: str) -> None:
    store = XenStore()
    seen: list[str] = []
    store.watch(watched, seen.append)
    seen.clear()
    store.make_nodes(ENTRIES)
    events = [HOME, HOME, f"{HOME}/memory", f"{HOME}/memory", f"{HOME}/data", f"{HOME}/data",
              f"{HOME}/memory/target"]  # each mkdir or write, then each set_perms
    assert seen == [p for p in events if p == watched or p.startswith(watched + "/")]


def test_relative_paths_are_checked_as_strictly_as_absolute_ones() -> None:
    hv = xb.Hypervisor(xb.Simulation(), 64)
    domain = hv.create_domain(32)
    xs = hv.xenstore.connect(domain.domid)
    xs.write("data/ok-1", "x")  # a valid name, remembered
    for bad in ("data/ok-1/", "data//ok-1", "data/bad name", "data/é", "data/ok-1/" + "x" * 3100):
        with pytest.raises(InvalidArgument):
            xs.write(bad, "x")
    assert xs.ls("data") == ["ok-1"]


@pytest.mark.parametrize("entry", ["r01", "r", "x3", "r-1", "r+1", "r 1", "r1 ", "r\u0663",
                                   "r32752", "r123456", "", "R3"])
def test_parse_perms_refuses_what_xenstore_chmod_would_not_write(entry: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_perms([entry])


def test_parse_perms_reads_each_letter_and_domid() -> None:
    assert parse_perms(["n0", "r3", "w32751", "b10"]) == ((0, 0), (3, 1), (32751, 2), (10, 3))
