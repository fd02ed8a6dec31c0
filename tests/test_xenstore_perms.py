"""XenStore permissions as xenstored enforces them: owners, per-domain access, dom0, watches."""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest

import xenballoon as xb

Machine = Callable[..., xb.Hypervisor]
T1 = "/local/domain/1/memory/target"
T2 = "/local/domain/2/memory/target"


@pytest.fixture
def hv(machine: Machine) -> xb.Hypervisor:
    """A host with two 1024-page domains, 1 and 2, each running a balloon."""
    hv = machine(8192)
    for _ in range(2):
        xb.Balloon(xb.Guest(hv.create_domain(1024)))
    hv.sim.run()
    return hv


def dump(store: xb.XenStore) -> dict[str, tuple[str | None, list[str]]]:
    """Every node's value and permissions, as dom0 sees them."""
    out: dict[str, tuple[str | None, list[str]]] = {}

    def walk(path: str) -> None:
        value = store.read(path) if store.exists(path) else None
        out[path] = (value, store.get_perms(path))
        for child in store.ls(path):
            walk(f"{path.rstrip('/')}/{child}")

    walk("/")
    return out


def test_create_domain_sets_libxl_permissions(hv: xb.Hypervisor) -> None:
    """Home and memory/ are dom0's, readable by the domain only; data/ is the domain's."""
    xs = hv.xenstore
    assert xs.get_perms("/local/domain/1") == ["n0", "r1"]
    assert xs.get_perms("/local/domain/1/memory") == ["n0", "r1"]
    assert xs.get_perms(T1) == ["n0", "r1"]
    assert xs.get_perms("/local/domain/1/name") == ["n0", "r1"]
    assert xs.get_perms("/local/domain/1/data") == ["n1"]
    assert xs.get_perms("/local/domain") == ["n0"] and xs.get_perms("/") == ["n0"]


def test_guest_reads_its_own_target(hv: xb.Hypervisor) -> None:
    """A guest reads its own memory/target, by relative or absolute path."""
    guest = hv.xenstore.connect(1)
    assert guest.read("memory/target") == guest.read(T1) == "4096"
    assert guest.ls("memory") == ["static-max", "target"]
    assert guest.get_perms("memory/target") == ["n0", "r1"]


def test_guest_cannot_raise_its_own_target(hv: xb.Hypervisor) -> None:
    """Writing or removing memory/target from the guest is refused; nothing changes."""
    guest = hv.xenstore.connect(1)
    balloon = hv.domains[1].guest.balloon  # type: ignore[union-attr]
    before = dump(hv.xenstore)
    for attempt in (lambda: guest.write("memory/target", "8192"),
                    lambda: guest.write(T1, "8192"),
                    lambda: guest.rm("memory/target"),
                    lambda: guest.rm("memory"),
                    lambda: guest.set_perms("memory/target", ["b1"]),
                    lambda: guest.write("memory/static-max", "8192")):
        with pytest.raises(PermissionError):
            attempt()
    assert dump(hv.xenstore) == before
    assert balloon.stats.target_pages == 1024 and not balloon.work_pending


@pytest.mark.parametrize("op", ["read", "write", "rm", "ls", "get_perms", "set_perms",
                                "mkdir", "write_new", "read_missing"])
def test_guest_cannot_touch_another_domains_subtree(hv: xb.Hypervisor, op: str) -> None:
    """Domain 1 can neither read nor change anything under domain 2's home."""
    guest = hv.xenstore.connect(1)
    calls = {
        "read": lambda: guest.read(T2),
        "write": lambda: guest.write(T2, "1"),
        "rm": lambda: guest.rm("/local/domain/2"),
        "ls": lambda: guest.ls("/local/domain/2"),
        "get_perms": lambda: guest.get_perms(T2),
        "set_perms": lambda: guest.set_perms(T2, ["b1"]),
        "mkdir": lambda: guest.mkdir("/local/domain/2/data/x"),
        "write_new": lambda: guest.write("/local/domain/2/data/x", "1"),
        "read_missing": lambda: guest.read("/local/domain/2/data/nothing"),
    }
    before = dump(hv.xenstore)
    with pytest.raises(PermissionError):
        calls[op]()
    assert dump(hv.xenstore) == before


def test_refusals_carry_xenstoreds_errno(hv: xb.Hypervisor) -> None:
    """A refused request is PermissionError with errno EACCES, as xenstored answers."""
    with pytest.raises(PermissionError) as exc:
        hv.xenstore.connect(1).write("memory/target", "1")
    assert exc.value.errno == errno.EACCES and "domain 1 may not write" in str(exc.value)


def test_guest_cannot_list_the_domains(hv: xb.Hypervisor) -> None:
    """/local/domain is dom0's: a guest cannot list it or write at the top level."""
    guest = hv.xenstore.connect(1)
    with pytest.raises(PermissionError):
        guest.ls("/local/domain")
    with pytest.raises(PermissionError):
        guest.write("/tool/x", "1")
    with pytest.raises(PermissionError):
        guest.rm("/")


def test_missing_node_is_keyerror_only_where_readable(hv: xb.Hypervisor) -> None:
    """A missing node under a readable parent is KeyError (listing it too); else hidden."""
    guest = hv.xenstore.connect(1)
    with pytest.raises(KeyError):
        guest.read("memory/videoram")
    with pytest.raises(PermissionError):
        guest.read("/local/domain/2/memory/videoram")
    with pytest.raises(KeyError):  # xenstored's DIRECTORY answers ENOENT
        guest.ls("memory/nothing")


def test_guest_owns_what_it_creates_under_data(hv: xb.Hypervisor) -> None:
    """A guest writes under data/, owns the new nodes, and others cannot see them."""
    g1, g2 = hv.xenstore.connect(1), hv.xenstore.connect(2)
    g1.write("data/meminfo/free", "123")
    assert g1.read("data/meminfo/free") == "123"
    assert hv.xenstore.get_perms("/local/domain/1/data/meminfo") == ["n1"]
    assert hv.xenstore.get_perms("/local/domain/1/data/meminfo/free") == ["n1"]
    assert hv.xenstore.read("/local/domain/1/data/meminfo/free") == "123"
    with pytest.raises(PermissionError):
        g2.read("/local/domain/1/data/meminfo/free")
    g1.rm("data/meminfo")
    assert hv.xenstore.ls("/local/domain/1/data") == []


def test_guest_cannot_create_in_its_read_only_home(hv: xb.Hypervisor) -> None:
    """The home itself is dom0's: the guest cannot add nodes next to memory/."""
    with pytest.raises(PermissionError):
        hv.xenstore.connect(1).write("device/x", "1")
    assert "device" not in hv.xenstore.ls("/local/domain/1")


def test_owner_may_share_but_not_give_away(hv: xb.Hypervisor) -> None:
    """A guest grants another domain read access to its node but cannot change the owner."""
    g1, g2 = hv.xenstore.connect(1), hv.xenstore.connect(2)
    g1.write("data/shared", "hello")
    g1.set_perms("data/shared", ["n1", "r2"])
    assert g2.read("/local/domain/1/data/shared") == "hello"
    with pytest.raises(PermissionError):
        g2.write("/local/domain/1/data/shared", "bye")
    with pytest.raises(PermissionError) as exc:
        g1.set_perms("data/shared", ["n2"])
    assert exc.value.errno == errno.EPERM
    assert hv.xenstore.get_perms("/local/domain/1/data/shared") == ["n1", "r2"]


def test_first_entry_is_owner_and_default(machine: Machine) -> None:
    """The owner has full access whatever its letter; the letter is everyone else's default."""
    xs = machine(100).xenstore
    xs.write("/shared/node", "v")
    xs.set_perms("/shared", ["r0"])
    xs.set_perms("/shared/node", ["n5", "w3", "r4"])
    owner, writer, reader, other = (xs.connect(d) for d in (5, 3, 4, 6))
    owner.write("/shared/node", "owner")
    writer.write("/shared/node", "writer")
    with pytest.raises(PermissionError):
        writer.read("/shared/node")
    assert reader.read("/shared/node") == "writer"
    with pytest.raises(PermissionError):
        other.read("/shared/node")
    assert other.ls("/shared") == ["node"]


def test_dom0_may_do_anything(hv: xb.Hypervisor) -> None:
    """The toolstack's connection reads, writes and removes any domain's nodes."""
    dom0 = hv.xenstore.connect(0)
    dom0.write(T2, "2048")
    assert hv.xenstore.read(T2) == "2048"
    assert hv.domains[2].guest.balloon.stats.target_pages == 512  # type: ignore[union-attr]
    dom0.write("/local/domain/1/data/from-dom0", "x")
    assert hv.xenstore.get_perms("/local/domain/1/data/from-dom0") == ["n1"]
    dom0.set_perms(T1, ["n0", "b1"])
    hv.xenstore.connect(1).write("memory/target", "2048")
    assert hv.domains[1].guest.balloon.stats.target_pages == 512  # type: ignore[union-attr]


def test_mem_set_and_mem_max_go_through_dom0(hv: xb.Hypervisor) -> None:
    """mem_set writes memory/target as dom0 even though the guest may not; bad values refused."""
    hv.mem_set(1, 2048)
    assert hv.xenstore.connect(1).read("memory/target") == "2048"
    hv.mem_max(1, 8192)
    assert hv.domains[1].max_pages == 2048
    assert hv.xenstore.read("/local/domain/1/memory/static-max") == "8192"
    before = dump(hv.xenstore)
    for bad in (lambda: hv.mem_set(1, -1), lambda: hv.mem_set(1, "4096"),
                lambda: hv.mem_max(1, -4), lambda: hv.mem_max(1, 1.5), lambda: hv.mem_set(9, 4)):
        with pytest.raises((ValueError, TypeError)):
            bad()
    assert dump(hv.xenstore) == before and hv.domains[1].max_pages == 2048


# --- watches ---------------------------------------------------------------------------------

def test_guest_watch_fires_only_for_readable_nodes(hv: xb.Hypervisor) -> None:
    """Domain 2 watching domain 1's target hears only the registration event."""
    seen: list[str] = []
    hv.xenstore.connect(2).watch(T1, seen.append)
    hv.mem_set(1, 2048)
    hv.xenstore.rm(T1)
    assert seen == [T1]


def test_guest_watch_on_own_node_fires_on_writes(hv: xb.Hypervisor) -> None:
    """A relative watch fires with relative paths on every change the guest may read."""
    seen: list[str] = []
    guest = hv.xenstore.connect(1)
    guest.watch("memory", seen.append)
    hv.mem_set(1, 2048)
    hv.mem_set(2, 2048)
    guest.write("data/x", "1")
    assert seen == ["memory", "memory/target"]


def test_watch_sees_only_nodes_it_may_read_below_it(hv: xb.Hypervisor) -> None:
    """A watch on a readable directory misses writes to unreadable children."""
    seen: list[str] = []
    hv.xenstore.write("/local/domain/1/memory/secret", "x")
    hv.xenstore.set_perms("/local/domain/1/memory/secret", ["n0"])
    hv.xenstore.connect(1).watch("memory", seen.append)
    hv.xenstore.write("/local/domain/1/memory/secret", "y")
    assert seen == ["memory"]


def test_set_perms_fires_for_whoever_could_read_before_or_after(hv: xb.Hypervisor) -> None:
    """A permission change is an event for domains that could read the node before or after."""
    seen: list[str] = []
    hv.xenstore.connect(2).watch(T1, seen.append)
    hv.xenstore.set_perms(T1, ["n0", "r1", "r2"])
    hv.xenstore.set_perms(T1, ["n0", "r1"])
    hv.xenstore.set_perms(T1, ["n0"])
    assert seen == [T1, T1, T1]


def test_removing_a_parent_fires_the_watch_with_its_own_path(machine: Machine) -> None:
    """rm of a parent tells watches below it, naming the watched path."""
    xs = machine(100).xenstore
    xs.write("/a/b/c", "1")
    seen: list[str] = []
    xs.watch("/a/b/c", seen.append)
    xs.watch("/a/b/missing", seen.append)
    xs.rm("/a")
    assert seen == ["/a/b/c", "/a/b/missing", "/a/b/c"]


def test_watch_registration_fires_even_without_access(hv: xb.Hypervisor) -> None:
    """As in xenstored, registering a watch always fires once with the watched path."""
    seen: list[str] = []
    hv.xenstore.connect(2).watch("/local/domain/1", seen.append)
    assert seen == ["/local/domain/1"]


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("perms, error", [
    ([], ValueError), (["x0"], ValueError), (["r"], ValueError), (["r-1"], ValueError),
    (["r01"], ValueError), (["r32752"], ValueError), (["n0", 3], ValueError),
    ("n0", TypeError), (["R0"], ValueError), ([" r0"], ValueError)])
def test_set_perms_refuses_bad_entries(hv: xb.Hypervisor, perms: object,
                                       error: type[Exception]) -> None:
    """Malformed permission lists raise and change nothing."""
    with pytest.raises(error):
        hv.xenstore.set_perms(T1, perms)  # type: ignore[arg-type]
    assert hv.xenstore.get_perms(T1) == ["n0", "r1"]


def test_set_perms_on_a_missing_node_is_keyerror(hv: xb.Hypervisor) -> None:
    """set_perms and get_perms need the node to exist."""
    with pytest.raises(KeyError):
        hv.xenstore.set_perms("/local/domain/1/nothing", ["n0"])
    with pytest.raises(KeyError):
        hv.xenstore.get_perms("/local/domain/1/nothing")


@pytest.mark.parametrize("domid, error", [(-1, ValueError), (0x7FF0, ValueError),
                                          ("1", TypeError), (True, TypeError),
                                          (1.0, TypeError)])
def test_connect_refuses_bad_domids(domid: object, error: type[Exception]) -> None:
    """connect() takes a real domid, 0..0x7fef."""
    with pytest.raises(error):
        xb.XenStore().connect(domid)  # type: ignore[arg-type]


def test_mkdir_makes_valueless_nodes(machine: Machine) -> None:
    """mkdir creates a node (and parents) without a value; it is listed but not readable."""
    xs = machine(100).xenstore
    xs.mkdir("/a/b")
    assert xs.ls("/a") == ["b"] and not xs.exists("/a/b")
    with pytest.raises(KeyError):
        xs.read("/a/b")
    xs.write("/a/b", "now")
    xs.mkdir("/a/b")
    assert xs.read("/a/b") == "now"
