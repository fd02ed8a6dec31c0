"""The in-memory xenstore and its watches."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import xenballoon as xb


def test_read_write_and_missing_key() -> None:
    """write then read; a missing node raises KeyError."""
    store = xb.XenStore()
    store.write("/local/domain/1/memory/target", "1024")
    assert store.read("/local/domain/1/memory/target") == "1024"
    with pytest.raises(KeyError):
        store.read("/local/domain/1/memory/static-max")


def test_values_reads_many_paths_in_one_step() -> None:
    """values: each path's value, None for a missing node or one made as a directory."""
    store = xb.XenStore()
    store.write("/local/domain/1/memory/target", "1024")
    store.mkdir("/local/domain/2")
    assert store.values(["/local/domain/1/memory/target", "/local/domain/2",
                         "/local/domain/3/memory/target"]) == ["1024", None, None]
    assert store.values(iter([])) == []


def test_values_refuses_a_bad_path() -> None:
    """A malformed path is refused as read refuses it (nothing is read)."""
    store = xb.XenStore()
    with pytest.raises(ValueError, match="malformed xenstore path"):
        store.values(["/local/domain/1/"])
    with pytest.raises(TypeError, match="must be a str"):
        store.values([b"/local"])  # type: ignore[list-item]


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


def test_raising_watch_does_not_lose_the_write_for_later_watches(
        machine: Callable[..., xb.Hypervisor]) -> None:
    """Issue 16 item 3: a callback that raises before the balloon's still lets it see the target.

    Every watch is told; the exceptions come back together as one ExceptionGroup after all
    callbacks ran, and the write stays committed.
    """
    hv = machine(8192)
    domain = hv.create_domain(1024)
    seen: list[str] = []

    def broken(path: str) -> None:
        if path.endswith("target"):
            raise RuntimeError("a buggy watcher")

    hv.xenstore.watch(f"{domain.home}/memory", broken)
    balloon = xb.Balloon(xb.Guest(domain))
    hv.xenstore.watch(f"{domain.home}/memory", seen.append)
    with pytest.raises(ExceptionGroup) as exc:  # noqa: F821  (3.11+)
        hv.mem_set(domain.domid, 2048)
    assert [type(e) for e in exc.value.exceptions] == [RuntimeError]
    assert "committed" in str(exc.value)
    assert hv.xenstore.read(f"{domain.home}/memory/target") == "2048"
    assert balloon.stats.target_pages == 512
    assert seen[-1] == f"{domain.home}/memory/target"
    hv.sim.run()
    assert balloon.stats.current_pages == 512


def test_every_raising_watch_is_collected() -> None:
    """Two raising callbacks: both run, both exceptions are in the group, in order."""
    store = xb.XenStore()
    store.watch("/a", lambda p: None)

    def fail(message: str) -> Callable[[str], None]:
        def callback(path: str) -> None:
            if path == "/a/b":
                raise ValueError(message)
        return callback

    store.watch("/a", fail("first"))
    store.watch("/", fail("second"))
    with pytest.raises(ExceptionGroup) as exc:  # noqa: F821  (3.11+)
        store.write("/a/b", "1")
    assert [str(e) for e in exc.value.exceptions] == ["first", "second"]


def test_watches_fire_by_path_only() -> None:
    """Watches on other paths are not even looked at; ancestors and the root fire in order."""
    store = xb.XenStore()
    seen: list[tuple[str, str]] = []
    for path in ("/", "/local", "/local/domain/1", "/local/domain/2", "/local/domain/1/x/y"):
        store.watch(path, lambda p, w=path: seen.append((w, p)))
    seen.clear()
    store.write("/local/domain/1/x", "1")
    assert seen == [("/", "/local/domain/1/x"), ("/local", "/local/domain/1/x"),
                    ("/local/domain/1", "/local/domain/1/x")]


def test_special_watches_fire_on_domain_creation_and_destruction(
        machine: Callable[..., xb.Hypervisor]) -> None:
    """@introduceDomain fires when a domain is made, @releaseDomain when it goes."""
    hv = machine(8192)
    seen: list[str] = []
    hv.xenstore.watch("@introduceDomain", seen.append)
    hv.xenstore.watch("@releaseDomain", seen.append)
    hv.xenstore.watch("/", lambda p: None)
    domain = hv.create_domain(256)
    assert hv.xenstore.is_domain_introduced(domain.domid)
    hv.destroy_domain(domain)
    assert seen == ["@introduceDomain", "@releaseDomain", "@introduceDomain", "@releaseDomain"]
    assert not hv.xenstore.is_domain_introduced(domain.domid)
    assert hv.xenstore.is_domain_introduced(0)


def test_guest_hears_special_watches_only_when_permitted(
        machine: Callable[..., xb.Hypervisor]) -> None:
    """Special nodes are dom0's (n0): a guest's watch fires once, until dom0 lets it read."""
    hv = machine(8192)
    hv.create_domain(256)
    seen: list[str] = []
    hv.xenstore.connect(1).watch("@releaseDomain", seen.append)
    hv.destroy_domain(hv.create_domain(256))
    hv.xenstore.set_perms("@releaseDomain", ["n0", "r1"])
    assert hv.xenstore.get_perms("@releaseDomain") == ["n0", "r1"]
    hv.destroy_domain(hv.create_domain(256))
    assert seen == ["@releaseDomain", "@releaseDomain"]


def test_destroying_a_domain_leaves_no_node_behind(machine: Callable[..., xb.Hypervisor]) -> None:
    """destroy_domain removes the home and its subtree, nothing else."""
    hv = machine(8192)
    keep = hv.create_domain(256)
    gone = hv.create_domain(256)
    hv.xenstore.connect(gone.domid).write("data/a/b", "1")
    hv.destroy_domain(gone)
    assert hv.xenstore.ls("/local/domain") == [str(keep.domid)]
    with pytest.raises(KeyError):
        hv.xenstore.ls(gone.home)
