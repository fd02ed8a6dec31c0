"""xenstored's rules for paths, values and quotas: each refusal its errno, nothing changes."""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest

import xenballoon as xb
from xenballoon.xen.xenstore import (
    QUOTA_NODES,
    QUOTA_WATCHES,
    XENSTORE_ABS_PATH_MAX,
    XENSTORE_PAYLOAD_MAX,
    XENSTORE_REL_PATH_MAX,
    errno_of,
)


def world() -> xb.Hypervisor:
    hv = xb.Hypervisor(xb.Simulation(), 4096)
    hv.create_domain(256)
    return hv


def dump(xs: xb.XenStore, path: str = "/") -> dict[str, tuple[str | None, list[str]]]:
    out = {path: (xs.value(path), xs.get_perms(path))}
    for child in xs.ls(path):
        out.update(dump(xs, f"{path.rstrip('/')}/{child}"))
    return out


Call = Callable[[xb.Hypervisor], object]
D0 = "/local/domain/1/data"
CASES: list[tuple[str, Call, int]] = [
    ("relative-dom0", lambda hv: hv.xenstore.write("relative", "1"), errno.EINVAL),
    ("empty", lambda hv: hv.xenstore.write("", "1"), errno.EINVAL),
    ("double-slash", lambda hv: hv.xenstore.write("/a//b", "1"), errno.EINVAL),
    ("trailing-slash", lambda hv: hv.xenstore.write("/a/", "1"), errno.EINVAL),
    ("space", lambda hv: hv.xenstore.write("/a b", "1"), errno.EINVAL),
    ("dot", lambda hv: hv.xenstore.write("/a/./b", "1"), errno.EINVAL),
    ("dotdot", lambda hv: hv.xenstore.write("/a/../b", "1"), errno.EINVAL),
    ("nul", lambda hv: hv.xenstore.write("/a\0b", "1"), errno.EINVAL),
    ("non-ascii", lambda hv: hv.xenstore.write("/caf\u00e9", "1"), errno.EINVAL),
    ("newline", lambda hv: hv.xenstore.write("/a\n", "1"), errno.EINVAL),
    ("not-a-str", lambda hv: hv.xenstore.write(7, "1"), errno.EINVAL),  # type: ignore[arg-type]
    ("special-write", lambda hv: hv.xenstore.write("@releaseDomain", "1"), errno.EINVAL),
    ("special-read", lambda hv: hv.xenstore.read("@introduceDomain"), errno.EINVAL),
    ("special-unknown", lambda hv: hv.xenstore.watch("@other", print), errno.EINVAL),
    ("abs-path-max", lambda hv: hv.xenstore.write("/" + "a" * XENSTORE_ABS_PATH_MAX, "1"),
     errno.EINVAL),
    ("guest-path-max", lambda hv: hv.xenstore.connect(1).write(
        "data/" + "a" * XENSTORE_REL_PATH_MAX, "1"), errno.EINVAL),
    ("value-payload", lambda hv: hv.xenstore.write("/v", "x" * (XENSTORE_PAYLOAD_MAX - 2)),
     errno.E2BIG),
    ("value-utf8-bytes", lambda hv: hv.xenstore.write("/v", "\u00e9" * 2047), errno.E2BIG),
    ("guest-node-size", lambda hv: hv.xenstore.connect(1).write("data/v", "x" * 2049),
     errno.ENOSPC),
    ("guest-perms-quota", lambda hv: hv.xenstore.connect(1).set_perms(
        "data", ["n1", "r2", "r3", "r4", "r5", "r6"]), errno.ENOSPC),
    ("value-not-str", lambda hv: hv.xenstore.write("/v", b"1"), errno.EINVAL),  # type: ignore[arg-type]
    ("rm-root", lambda hv: hv.xenstore.rm("/"), errno.EINVAL),
    ("rm-missing-parent", lambda hv: hv.xenstore.rm("/nothing/here"), errno.ENOENT),
    ("ls-missing", lambda hv: hv.xenstore.ls("/nothing"), errno.ENOENT),
    ("guest-write", lambda hv: hv.xenstore.connect(1).write("memory/target", "1"),
     errno.EACCES),
    ("guest-give-away", lambda hv: hv.xenstore.connect(1).set_perms("data", ["n2"]),
     errno.EPERM),
    ("bad-perms", lambda hv: hv.xenstore.set_perms("/local", ["x0"]), errno.EINVAL),
]


@pytest.mark.parametrize("call, code", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refusal_has_xenstoreds_errno_and_changes_nothing(call: Call, code: int) -> None:
    """Each refusal raises with xenstored's errno (through errno_of); the store is unchanged."""
    hv = world()
    before = dump(hv.xenstore)
    watches = hv.xenstore.watch_count
    with pytest.raises(Exception) as exc:
        call(hv)
    assert errno_of(exc.value) == code, exc.value
    assert dump(hv.xenstore) == before and hv.xenstore.watch_count == watches


def test_limits_accept_what_xenstored_accepts() -> None:
    """The largest values and paths within the limits, and every allowed character, pass."""
    hv = world()
    xs = hv.xenstore
    xs.write("/Az09-_@/x", "v")
    xs.write("/v", "x" * (XENSTORE_PAYLOAD_MAX - len("/v") - 1))
    xs.write("/" + "a" * (XENSTORE_ABS_PATH_MAX - 1), "")
    hv.xenstore.connect(1).write("data/v", "\u00e9" * 1024)  # 2048 bytes: the quota exactly
    assert xs.read("/Az09-_@/x") == "v" and len(xs.read("/v")) == 4093


def test_guest_node_quota_as_xenstoreds_default() -> None:
    """A guest creating nodes past its quota of 1000 gets ENOSPC; none of the batch is made."""
    hv = world()
    guest = hv.xenstore.connect(1)
    for i in range(QUOTA_NODES - 1):  # the guest owns data/ already
        guest.write(f"data/n{i}", "")
    with pytest.raises(OSError) as exc:
        guest.write("data/one/too/many", "")
    assert exc.value.errno == errno.ENOSPC
    assert "one" not in hv.xenstore.ls("/local/domain/1/data")
    guest.rm("data/n0")
    guest.write("data/again", "")
    hv.xenstore.write("/local/domain/1/data/by-dom0/x", "1")  # dom0 has no quota


def test_guest_watch_quota() -> None:
    """A guest may hold 128 watches; the next one is ENOSPC."""
    hv = world()
    guest = hv.xenstore.connect(1)
    handles = [guest.watch(f"data/w{i}", lambda p: None) for i in range(QUOTA_WATCHES)]
    with pytest.raises(OSError) as exc:
        guest.watch("data/more", lambda p: None)
    assert exc.value.errno == errno.ENOSPC
    handles[0].unwatch()
    guest.watch("data/more", lambda p: None)


def test_guest_transaction_quota() -> None:
    """A guest may hold 10 transactions open at once."""
    guest = world().xenstore.connect(1)
    tids = [guest.transaction_start() for _ in range(10)]
    with pytest.raises(OSError):
        guest.transaction_start()
    guest.transaction_end(tids[0], abort=True)
    guest.transaction_start()
