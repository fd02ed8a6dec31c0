"""The in-memory xenstore and its watches."""

from __future__ import annotations

import pytest

import xenballoon as xb


def test_read_write_and_missing_key() -> None:
    """write then read; a missing node raises KeyError."""
    store = xb.XenStore()
    store.write("/local/domain/1/memory/target", "1024")
    assert store.read("/local/domain/1/memory/target") == "1024"
    with pytest.raises(KeyError):
        store.read("/local/domain/1/memory/static-max")


def test_watch_fires_on_registration_and_on_writes_below() -> None:
    """A watch fires once when registered and on every write at or below its path."""
    store = xb.XenStore()
    seen: list[str] = []
    handle = store.watch("/local/domain/1/memory", seen.append)
    assert seen == ["/local/domain/1/memory"]
    store.write("/local/domain/1/memory/target", "1")
    store.write("/local/domain/1/memory", "x")
    store.write("/local/domain/1/memoryless", "no")
    store.write("/local/domain/2/memory/target", "no")
    assert seen[1:] == ["/local/domain/1/memory/target", "/local/domain/1/memory"]
    handle.unwatch()
    handle.unwatch()
    store.write("/local/domain/1/memory/target", "2")
    assert len(seen) == 3


def test_rm_removes_subtree_and_ls_lists_children() -> None:
    """rm takes a node and its children; ls lists child names."""
    store = xb.XenStore()
    store.write("/a/b/c", "1")
    store.write("/a/d", "2")
    assert store.ls("/a") == ["b", "d"]
    store.rm("/a/b")
    assert store.ls("/a") == ["d"]
    assert "/a/b/c" not in store


@pytest.mark.parametrize("path", ["relative", "/a//b", "/a b", "", 7])
def test_bad_paths_are_refused(path: object) -> None:
    """Malformed paths raise and store nothing."""
    store = xb.XenStore()
    with pytest.raises((ValueError, TypeError)):
        store.write(path, "1")  # type: ignore[arg-type]
    assert store.ls("/") == []


def test_values_must_be_strings() -> None:
    """Only str values are stored."""
    store = xb.XenStore()
    with pytest.raises(TypeError):
        store.write("/a", 5)  # type: ignore[arg-type]
    assert not store.exists("/a")
