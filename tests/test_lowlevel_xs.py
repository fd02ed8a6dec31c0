"""xen.lowlevel.xs for the simulated host: xs.c's return types, errors and watches."""

from __future__ import annotations

import errno
import select

import pytest

import xenballoon as xb
from xenballoon.lowlevel.xs import Error, Xs


@pytest.fixture
def hv(machine):  # type: ignore[no-untyped-def]
    hv = machine(65536)
    hv.create_domain(1024, name="vm1")
    return hv


def test_read_returns_bytes_none_or_empty(hv: xb.Hypervisor) -> None:
    """A value as bytes; a missing node None; a node without a value b'' (xenstored)."""
    xs = Xs(hv)
    assert xs.read("", "/local/domain/1/memory/target") == b"4096"
    assert xs.read("", "/local/domain/1/nothing") is None
    assert xs.read("", "/local/domain/1/data") == b""


def test_write_takes_str_or_bytes_and_relative_paths_are_dom0s(hv: xb.Hypervisor) -> None:
    """A relative path is under /local/domain/0, as for a dom0 connection."""
    xs = Xs(hv)
    xs.write("", "/local/domain/1/data/a", b"x")
    xs.write("", "tool/state", "ready")
    assert hv.xenstore.read("/local/domain/1/data/a") == "x"
    assert hv.xenstore.read("/local/domain/0/tool/state") == "ready"


def test_ls_mkdir_rm(hv: xb.Hypervisor) -> None:
    """ls lists str names or None; rm of a missing node is no error."""
    xs = Xs(hv)
    assert xs.ls("", "/local/domain/1/nothing") is None
    xs.mkdir("", "/local/domain/1/data/d")
    assert "d" in xs.ls("", "/local/domain/1/data")
    xs.rm("", "/local/domain/1/data/d")
    xs.rm("", "/local/domain/1/data/d")
    assert xs.ls("", "/local/domain/1/data") == []


def test_permissions_are_dicts_with_the_perm_bits(hv: xb.Hypervisor) -> None:
    """get_permissions: dom/read/write with XS_PERM_READ=1 and XS_PERM_WRITE=2."""
    xs = Xs(hv)
    assert xs.get_permissions("", "/local/domain/1/memory") == [
        {"dom": 0, "read": 0, "write": 0}, {"dom": 1, "read": 1, "write": 0}]
    xs.set_permissions("", "/local/domain/1/data", [{"dom": 1}, {"dom": 2, "read": 1,
                                                                 "write": 1}])
    assert hv.xenstore.get_perms("/local/domain/1/data") == ["n1", "b2"]


def test_set_permissions_restricting_the_first_domain_makes_dom0_owner(
        hv: xb.Hypervisor) -> None:
    """As xs.c: a first entry granting access to domU cannot be the owner."""
    Xs(hv).set_permissions("", "/local/domain/1/data", [{"dom": 1, "read": 1}])
    assert hv.xenstore.get_perms("/local/domain/1/data") == ["n0", "r1"]


@pytest.mark.parametrize("perms, exc", [("n0", Error), ([{"read": 1}], TypeError),
                                        ([{"dom": 1, "bogus": 1}], TypeError),
                                        ([{"dom": -1}], Error)])
def test_bad_permissions_change_nothing(hv: xb.Hypervisor, perms: object, exc: type) -> None:
    """Refused with the binding's exception; the node keeps its permissions."""
    before = hv.xenstore.get_perms("/local/domain/1/data")
    with pytest.raises(exc):
        Xs(hv).set_permissions("", "/local/domain/1/data", perms)  # type: ignore[arg-type]
    assert hv.xenstore.get_perms("/local/domain/1/data") == before


def test_errors_carry_errno(hv: xb.Hypervisor) -> None:
    """A malformed path is EINVAL, a missing node's permissions ENOENT."""
    xs = Xs(hv)
    with pytest.raises(Error) as info:
        xs.write("", "/local//bad", "x")
    assert info.value.args[0] == errno.EINVAL
    with pytest.raises(Error) as info:
        xs.get_permissions("", "/nothing/here")
    assert info.value.args[0] == errno.ENOENT and isinstance(info.value, RuntimeError)


def test_bad_arguments(hv: xb.Hypervisor) -> None:
    """Wrong types are TypeError; a transaction handle must be hex."""
    xs = Xs(hv)
    with pytest.raises(TypeError):
        xs.read(0, "/local")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        xs.write("", "/local/x", 5)  # type: ignore[arg-type]
    with pytest.raises(Error) as info:
        xs.read("zz", "/local")
    assert info.value.args[0] == errno.EINVAL
    with pytest.raises(Error):
        xs.transaction_end("")
    assert not hv.xenstore.exists("/local/x")


def test_readonly_handle_refuses_writes_with_erofs(hv: xb.Hypervisor) -> None:
    """xs(readonly=1): reads work, writes are EROFS."""
    xs = Xs(hv, readonly=1)
    assert xs.read("", "/local/domain/1/name") == b"vm1"
    with pytest.raises(Error) as info:
        xs.write("", "/local/domain/1/name", "x")
    assert info.value.args[0] == errno.EROFS


def test_closed_handle_is_einval(hv: xb.Hypervisor) -> None:
    """After close() every call raises Error(EINVAL)."""
    xs = Xs(hv)
    xs.close()
    with pytest.raises(Error) as info:
        xs.read("", "/local")
    assert info.value.args[0] == errno.EINVAL


def test_watch_fires_on_registration_and_on_change(hv: xb.Hypervisor) -> None:
    """read_watch returns (path, token), the very token object given."""
    xs, token = Xs(hv), object()
    xs.watch("/local/domain/1/memory", token)
    assert xs.read_watch() == ("/local/domain/1/memory", token)
    hv.mem_set(1, 2048)
    path, got = xs.read_watch()
    assert path == "/local/domain/1/memory/target" and got is token
    assert xs.check_watch() is None


def test_relative_watch_gets_relative_paths(hv: xb.Hypervisor) -> None:
    """A watch on a relative path reports paths relative to dom0's home."""
    xs = Xs(hv)
    xs.watch("tool", "t")
    xs.read_watch()
    xs.write("", "/local/domain/0/tool/x", "1")
    assert xs.read_watch() == ("tool/x", "t")


def test_unwatch_drops_queued_events_and_unknown_unwatch_is_enoent(hv: xb.Hypervisor) -> None:
    """Events of a removed watch are skipped, as xs.c skips unknown tokens."""
    xs = Xs(hv)
    xs.watch("/local/domain/1", "a")
    xs.unwatch("/local/domain/1", "a")
    assert xs.check_watch() is None
    with pytest.raises(Error) as info:
        xs.unwatch("/local/domain/1", "a")
    assert info.value.args[0] == errno.ENOENT


def test_read_watch_advances_simulated_time_until_an_event(hv: xb.Hypervisor) -> None:
    """It runs the Simulation to the write at t=5 s and returns then."""
    xs = Xs(hv)
    xs.watch("/local/domain/1/data/x", "x")
    xs.read_watch()
    hv.sim.call_at(5.0, lambda: hv.xenstore.write("/local/domain/1/data/x", "1"))
    assert xs.read_watch() == ("/local/domain/1/data/x", "x")
    assert hv.sim.now == 5.0


def test_read_watch_with_nothing_left_to_happen_raises(hv: xb.Hypervisor) -> None:
    """No event can ever fire: a clear EDEADLK instead of blocking forever."""
    xs = Xs(hv)
    with pytest.raises(Error, match="block forever") as info:
        xs.read_watch()
    assert info.value.args[0] == errno.EDEADLK


def test_introduce_and_release_domain_watches(hv: xb.Hypervisor) -> None:
    """@introduceDomain fires for a new domain, @releaseDomain when one goes."""
    xs = Xs(hv)
    xs.watch("@introduceDomain", "in")
    xs.watch("@releaseDomain", "out")
    assert [xs.read_watch(), xs.read_watch()] == [("@introduceDomain", "in"),
                                                  ("@releaseDomain", "out")]
    domain = hv.create_domain(256)
    assert xs.read_watch() == ("@introduceDomain", "in")
    hv.destroy_domain(domain)
    assert xs.read_watch() == ("@releaseDomain", "out")
    assert xs.check_watch() is None


def test_fileno_is_readable_while_events_are_queued(hv: xb.Hypervisor) -> None:
    """select() on fileno() says when read_watch would not block."""
    xs = Xs(hv)
    fd = xs.fileno()
    assert select.select([fd], [], [], 0)[0] == []
    xs.watch("/local/domain/1", "t")
    assert select.select([fd], [], [], 0)[0] == [fd]
    xs.read_watch()
    assert select.select([fd], [], [], 0)[0] == []
    xs.close()


def test_get_domain_path(hv: xb.Hypervisor) -> None:
    """The home path, whether or not the domain exists."""
    assert Xs(hv).get_domain_path(7) == "/local/domain/7"


def test_rm_below_a_missing_parent_is_no_error(hv: xb.Hypervisor) -> None:
    """xs.c treats ENOENT from rm as success."""
    Xs(hv).rm("", "/local/domain/9/nothing/here")
    assert not hv.xenstore.exists("/local/domain/9")


TARGET = "/local/domain/1/memory/target"


def test_transaction_conflict_returns_false_and_the_retry_commits(hv: xb.Hypervisor) -> None:
    """A node read in the transaction changed meanwhile: transaction_end is False (EAGAIN)
    and nothing of the transaction lands; redoing it, as dom0 tools loop, commits."""
    xs = Xs(hv)
    th = xs.transaction_start()
    assert isinstance(th, str) and int(th, 16) > 0
    seen = int(xs.read(th, TARGET))  # type: ignore[arg-type]
    hv.xenstore.write(TARGET, "2048")  # someone else commits first
    xs.write(th, TARGET, str(seen + 4))
    xs.write(th, "/local/domain/1/data/mark", "1")
    assert xs.transaction_end(th) is False
    assert hv.xenstore.read(TARGET) == "2048"
    assert xs.read("", "/local/domain/1/data/mark") is None
    attempts = 0
    while True:
        attempts += 1
        th = xs.transaction_start()
        seen = int(xs.read(th, TARGET))  # type: ignore[arg-type]
        xs.write(th, TARGET, str(seen + 4))
        if xs.transaction_end(th):
            break
    assert attempts == 1 and hv.xenstore.read(TARGET) == "2052"


def test_transaction_is_isolated_until_commit(hv: xb.Hypervisor) -> None:
    """Writes inside are invisible outside until transaction_end; abort drops them."""
    xs = Xs(hv)
    th = xs.transaction_start()
    xs.write(th, TARGET, "1000")
    assert xs.read(th, TARGET) == b"1000" and xs.read("", TARGET) == b"4096"
    assert xs.transaction_end(th, abort=1) is True
    assert xs.read("", TARGET) == b"4096"
    th = xs.transaction_start()
    xs.write(th, TARGET, "1000")
    assert xs.transaction_end(th) is True and xs.read("", TARGET) == b"1000"


def test_ending_an_unknown_transaction_is_an_error(hv: xb.Hypervisor) -> None:
    """A handle that was never started (or already ended) is refused with its errno."""
    xs = Xs(hv)
    th = xs.transaction_start()
    xs.transaction_end(th)
    with pytest.raises(Error) as info:
        xs.transaction_end(th)
    assert info.value.args[0] == errno.ENOENT
