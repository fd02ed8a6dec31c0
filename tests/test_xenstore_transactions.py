"""XenStore transactions as xenstored's transaction.c has them: isolation, EAGAIN, watches."""

from __future__ import annotations

import errno

import pytest

import xenballoon as xb
from xenballoon.xen.xenstore import errno_of


def snapshot(xs: xb.XenStore, path: str = "/") -> dict[str, tuple[str | None, list[str]]]:
    """Every node's value and permissions."""
    out = {path: (xs.value(path), xs.get_perms(path))}
    for child in xs.ls(path):
        out.update(snapshot(xs, f"{path.rstrip('/')}/{child}"))
    return out


def test_transaction_sees_its_own_writes_and_others_see_nothing() -> None:
    """Inside a transaction reads see its writes; outside nothing changes until commit."""
    xs = xb.XenStore()
    xs.write("/a/x", "old")
    tid = xs.transaction_start()
    assert tid > 0
    xs.write("/a/x", "new", tx=tid)
    xs.write("/a/y", "made", tx=tid)
    xs.mkdir("/a/dir", tx=tid)
    assert xs.read("/a/x", tx=tid) == "new" and xs.ls("/a", tx=tid) == ["dir", "x", "y"]
    assert xs.read("/a/x") == "old" and xs.ls("/a") == ["x"]
    assert xs.transaction_end(tid) is True
    assert xs.read("/a/x") == "new" and xs.ls("/a") == ["dir", "x", "y"]


def test_abort_changes_nothing_and_fires_nothing() -> None:
    """transaction_end(abort=True) drops the changes and the events."""
    xs = xb.XenStore()
    xs.write("/a/x", "old")
    seen: list[str] = []
    xs.watch("/a", seen.append)
    tid = xs.transaction_start()
    xs.write("/a/x", "new", tx=tid)
    xs.rm("/a/x", tx=tid)
    assert xs.transaction_end(tid, abort=True) is True
    assert xs.read("/a/x") == "old" and seen == ["/a"]


def test_watches_fire_at_commit() -> None:
    """Events of a transaction reach the watches when it commits, not before."""
    xs = xb.XenStore()
    seen: list[str] = []
    xs.watch("/a", seen.append)
    tid = xs.transaction_start()
    xs.write("/a/x", "1", tx=tid)
    xs.set_perms("/a/x", ["n0"], tx=tid)
    assert seen == ["/a"]
    xs.transaction_end(tid)
    assert seen == ["/a", "/a/x", "/a/x"]


@pytest.mark.parametrize("inside, outside", [
    (lambda xs, t: xs.read("/a/x", tx=t), lambda xs: xs.write("/a/x", "other")),
    (lambda xs, t: xs.write("/a/x", "mine", tx=t), lambda xs: xs.write("/a/x", "other")),
    (lambda xs, t: xs.ls("/a", tx=t), lambda xs: xs.write("/a/new", "1")),
    (lambda xs, t: xs.ls("/a", tx=t), lambda xs: xs.rm("/a/x")),
    (lambda xs, t: xs.write("/a/new", "1", tx=t), lambda xs: xs.write("/a/new", "2")),
    (lambda xs, t: xs.get_perms("/a/x", tx=t), lambda xs: xs.set_perms("/a/x", ["r0"])),
    (lambda xs, t: xs.rm("/a", tx=t), lambda xs: xs.write("/a/x/deeper", "1")),
], ids=["read", "write", "ls-add", "ls-rm", "create", "perms", "rm-subtree"])
def test_commit_conflicts_when_an_accessed_node_changed(inside: object,
                                                        outside: object) -> None:
    """EAGAIN (False) when a node read, written or listed changed meanwhile; nothing applies."""
    xs = xb.XenStore()
    xs.write("/a/x", "old")
    tid = xs.transaction_start()
    inside(xs, tid)  # type: ignore[operator]
    outside(xs)  # type: ignore[operator]
    before = snapshot(xs)
    assert xs.transaction_end(tid) is False
    assert snapshot(xs) == before


def test_unrelated_change_does_not_conflict() -> None:
    """A change to a node the transaction never touched lets it commit."""
    xs = xb.XenStore()
    xs.write("/a/x", "1")
    xs.write("/b/y", "1")
    tid = xs.transaction_start()
    xs.write("/a/x", "2", tx=tid)
    xs.write("/b/y", "other")
    assert xs.transaction_end(tid) is True
    assert xs.read("/a/x") == "2"


def test_conflicting_transaction_retried_succeeds() -> None:
    """The usual client loop: redo the transaction after EAGAIN until it commits."""
    xs = xb.XenStore()
    xs.write("/counter", "0")
    attempts = 0
    while True:
        attempts += 1
        tid = xs.transaction_start()
        value = int(xs.read("/counter", tx=tid))
        if attempts == 1:
            xs.write("/counter", "10")  # someone else got in between
        xs.write("/counter", str(value + 1), tx=tid)
        if xs.transaction_end(tid):
            break
    assert attempts == 2 and xs.read("/counter") == "11"


def test_unknown_or_finished_transaction_is_enoent() -> None:
    """An unknown id (or one already ended) is KeyError, errno ENOENT; bad types EINVAL."""
    xs = xb.XenStore()
    tid = xs.transaction_start()
    xs.transaction_end(tid)
    for call in (lambda: xs.transaction_end(tid), lambda: xs.read("/", tx=tid),
                 lambda: xs.write("/a", "1", tx=999)):
        with pytest.raises(KeyError) as exc:
            call()
        assert errno_of(exc.value) == errno.ENOENT
    with pytest.raises(TypeError):
        xs.write("/a", "1", tx="1")  # type: ignore[arg-type]
    assert xs.ls("/") == []


def test_a_domain_cannot_use_another_domains_transaction() -> None:
    """Transactions belong to the connection's domain."""
    xs = xb.XenStore()
    tid = xs.connect(3).transaction_start()
    with pytest.raises(KeyError):
        xs.connect(4).transaction_end(tid)
    with pytest.raises(KeyError):
        xs.write("/a", "1", tx=tid)
    assert xs.connect(3).transaction_end(tid) is True


def test_transaction_rm_and_recreate_commit_cleanly() -> None:
    """rm inside a transaction takes the subtree at commit; recreated nodes stay."""
    xs = xb.XenStore()
    xs.write("/a/b/c", "1")
    xs.write("/a/d", "2")
    seen: list[str] = []
    xs.watch("/a/b/c", seen.append)
    tid = xs.transaction_start()
    xs.rm("/a", tx=tid)
    with pytest.raises(KeyError):
        xs.read("/a/d", tx=tid)
    xs.write("/a/e", "3", tx=tid)
    assert xs.transaction_end(tid)
    assert xs.ls("/a") == ["e"] and not xs.exists("/a/b/c") and seen == ["/a/b/c", "/a/b/c"]


def test_guest_transaction_keeps_permissions_and_quota() -> None:
    """A guest's transaction is checked as its plain requests are."""
    hv = xb.Hypervisor(xb.Simulation(), 4096)
    hv.create_domain(256)
    guest = hv.xenstore.connect(1)
    tid = guest.transaction_start()
    with pytest.raises(PermissionError):
        guest.write("memory/target", "1", tx=tid)
    guest.write("data/x", "1", tx=tid)
    assert guest.transaction_end(tid)
    assert hv.xenstore.get_perms("/local/domain/1/data/x") == ["n1"]
