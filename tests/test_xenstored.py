"""xenstored's wire protocol served for real clients: xenstore-utils' tools and pyxs.

The world runs in the server's thread (``ServerThread``); the tests reach it only through
the sockets and ``call``.  The command-line tools come from Debian's ``xenstore-utils``
(libxenstore); tests that need them are skipped, saying so, where it is not installed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import xenballoon as xb
from xenballoon.xenstored import ServerThread, serve

pyxs = pytest.importorskip("pyxs", reason="pyxs (the test extra) is not installed")

GIB_PAGES = 1 << 18
TARGET = "/local/domain/1/memory/target"


def make_world() -> xb.Hypervisor:
    """Two 4 GiB guests with balloons on a 16 GiB host; events are logged in ``hv.log``."""
    hv = xb.Hypervisor(xb.Simulation(), 16 * GIB_PAGES)
    log: list[tuple[str, float, object]] = []
    hv.log = log  # type: ignore[attr-defined]
    for _ in range(2):
        balloon = xb.Balloon(xb.Guest(hv.create_domain(4 * GIB_PAGES)))
        balloon.add_listener(lambda b: log.append(("run", hv.sim.now, b.stats.current_pages)))
    hv.xenstore.watch(TARGET, lambda p: log.append(("target", hv.sim.now, p)))
    return hv


@pytest.fixture
def served() -> Iterator[tuple[ServerThread, str]]:
    """A served world at 20 simulated seconds per second, with guest sockets."""
    folder = tempfile.mkdtemp(prefix="xs", dir="/tmp")  # Unix socket paths are short
    path = os.path.join(folder, "socket")
    with ServerThread(make_world, path, speed=20, guest_sockets=True) as server:
        yield server, path
    assert not os.path.exists(path)
    os.rmdir(folder)


def tool(socket: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one of xenstore-utils' tools against ``socket``."""
    if shutil.which(args[0]) is None:
        pytest.skip(f"{args[0]} is missing: install Debian's xenstore-utils package")
    env = dict(os.environ, XENSTORED_PATH=socket)
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def wait_for(server: ServerThread, predicate: Callable[[xb.Hypervisor], Any]) -> Any:
    """Wait (wall clock, a generous bound) until ``predicate(hv)`` holds in the server."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        result = server.call(predicate)
        if result:
            return result
        time.sleep(0.01)
    raise AssertionError("the simulated host never got there")


def test_xenstore_write_makes_the_balloon_reach_the_target(
        served: tuple[ServerThread, str]) -> None:
    """`xenstore-write .../memory/target 262144`: guest 1 shrinks to 262144 KiB at once.

    memory/target is in KiB (as xl writes it), so 262144 is 256 MiB (65536 pages); then
    1048576 brings it back up to 1 GiB.
    """
    server, path = served
    for kib in (262144, 1048576):
        pages = kib // 4
        tool(path, "xenstore-write", TARGET, str(kib))
        wait_for(server, lambda hv, p=pages: hv.domains[1].guest.balloon.stats.current_pages == p)
        log = server.call(lambda hv: list(hv.log))
        written = [t for kind, t, _ in log if kind == "target"][-1]
        reached = min(t for kind, t, got in log if kind == "run" and got == pages)
        assert 0 <= reached - written <= 0.01  # the next jiffy: the instant cost model
    assert server.call(lambda hv: hv.domains[2].guest.balloon.stats.current_pages) \
        == 4 * GIB_PAGES
    assert tool(path, "xenstore-read", TARGET).stdout == "1048576\n"


def test_ls_read_list_behave_as_on_a_real_host(served: tuple[ServerThread, str]) -> None:
    """xenstore-ls prints the tree with values and permissions; directories read as ""."""
    _, path = served
    out = tool(path, "xenstore-ls", "-p", "/local/domain/1").stdout.splitlines()
    assert out[0].startswith('data = "" ') and out[0].endswith("(n1)")
    assert any(line.startswith('memory = "" ') and line.endswith("(n0,r1)") for line in out)
    assert any(line.startswith(' target = "4194304" ') for line in out)
    assert tool(path, "xenstore-list", "/local/domain").stdout == "1\n2\n"
    assert tool(path, "xenstore-read", "/local/domain/1/memory").stdout == "\n"
    missing = tool(path, "xenstore-read", "/local/domain/9", check=False)
    assert missing.returncode == 1 and "couldn't read" in missing.stderr


def test_write_rm_chmod_behave_as_on_a_real_host(served: tuple[ServerThread, str]) -> None:
    """Writes create parents, rm takes subtrees, chmod sets what get_perms reads back."""
    server, path = served
    tool(path, "xenstore-write", "/tool/a/b", "v1", "/tool/a/c", "v2")
    assert tool(path, "xenstore-ls", "-f", "/tool").stdout.splitlines() == [
        '/tool/a = ""', '/tool/a/b = "v1"', '/tool/a/c = "v2"']
    tool(path, "xenstore-chmod", "/tool/a/b", "n0", "r1")
    assert server.call(lambda hv: hv.xenstore.get_perms("/tool/a/b")) == ["n0", "r1"]
    tool(path, "xenstore-rm", "/tool/a")
    assert server.call(lambda hv: hv.xenstore.ls("/tool")) == []
    assert tool(path, "xenstore-exists", "/tool/a", check=False).returncode == 1


def test_xenstore_watch_sees_the_first_event_and_changes(
        served: tuple[ServerThread, str]) -> None:
    """xenstore-watch prints the registration event, then each change below the path."""
    server, path = served
    env = dict(os.environ, XENSTORED_PATH=path)
    if shutil.which("xenstore-watch") is None:
        pytest.skip("xenstore-watch is missing: install Debian's xenstore-utils package")
    with subprocess.Popen(["xenstore-watch", "-n", "3", "/local/domain/2/memory"], env=env,
                          stdout=subprocess.PIPE, text=True) as watcher:
        assert watcher.stdout is not None
        assert watcher.stdout.readline() == "/local/domain/2/memory\n"
        tool(path, "xenstore-write", "/local/domain/1/memory/target", "1")
        tool(path, "xenstore-write", "/local/domain/2/memory/target", "3145728")
        server.call(lambda hv: hv.mem_max(2, 4 * 1024 * 1024))
        rest = watcher.stdout.read()
        assert watcher.wait(timeout=30) == 0
    assert rest == "/local/domain/2/memory/target\n/local/domain/2/memory/static-max\n"


def test_pyxs_reads_lists_and_watches(served: tuple[ServerThread, str]) -> None:
    """pyxs: read, list, perms, domain path, and a monitor's events."""
    server, path = served
    with pyxs.Client(unix_socket_path=path) as client:
        assert client.read(TARGET.encode()) == b"4194304"
        assert client.list(b"/local/domain") == [b"1", b"2"]
        assert client.get_perms(b"/local/domain/1") == [b"n0", b"r1"]
        assert client.get_domain_path(2) == b"/local/domain/2"
        assert client.is_domain_introduced(1) and not client.is_domain_introduced(7)
        with client.monitor() as monitor:
            monitor.watch(b"@releaseDomain", b"gone")
            events = monitor.wait()
            assert next(events) == (b"@releaseDomain", b"gone")
            server.call(lambda hv: hv.destroy_domain(2))
            assert next(events) == (b"@releaseDomain", b"gone")


def test_pyxs_transaction_that_conflicts_is_retried(served: tuple[ServerThread, str]) -> None:
    """A commit that conflicts (EAGAIN) returns False; the retry commits."""
    server, path = served
    attempts = 0
    with pyxs.Client(unix_socket_path=path) as client, \
            pyxs.Client(unix_socket_path=path) as other:
        client.write(b"/tool/counter", b"0")
        while True:
            attempts += 1
            client.transaction()
            value = int(client.read(b"/tool/counter"))
            if attempts == 1:
                other.write(b"/tool/counter", b"10")
            client.write(b"/tool/counter", str(value + 1).encode())
            if client.commit():
                break
        assert attempts == 2 and other.read(b"/tool/counter") == b"11"


def test_guest_socket_has_the_guests_view(served: tuple[ServerThread, str]) -> None:
    """On guest 1's socket: its own target readable, another domain's nodes refused."""
    server, path = served
    with pyxs.Client(unix_socket_path=path + ".1") as guest:
        assert guest.read(b"memory/target") == b"4194304"
        for attempt in (lambda: guest.write(b"/local/domain/2/data/x", b"1"),
                        lambda: guest.write(b"memory/target", b"1"),
                        lambda: guest.read(b"/local/domain/2/memory/target"),
                        lambda: guest.delete(b"/local/domain/2")):
            with pytest.raises(pyxs.PyXSError) as exc:
                attempt()
            assert exc.value.args[0] == 13  # EACCES
        guest.write(b"data/note", b"hello")
    assert server.call(lambda hv: hv.xenstore.read("/local/domain/1/data/note")) == "hello"
    assert server.call(lambda hv: hv.xenstore.ls("/local/domain/2/data")) == []


def test_guest_sockets_follow_domains(served: tuple[ServerThread, str]) -> None:
    """A new domain gets its socket; a destroyed one loses it."""
    server, path = served
    domid = server.call(lambda hv: hv.create_domain(1024).domid)
    wait_for(server, lambda hv: os.path.exists(f"{path}.{domid}"))
    server.call(lambda hv: hv.destroy_domain(domid))
    wait_for(server, lambda hv: not os.path.exists(f"{path}.{domid}"))


def test_long_directory_is_listed_in_parts(served: tuple[ServerThread, str]) -> None:
    """Over 4096 bytes of names: DIRECTORY is E2BIG and libxenstore uses DIRECTORY_PART."""
    server, path = served

    def fill(hv: xb.Hypervisor) -> None:
        for i in range(1500):
            hv.xenstore.write(f"/tool/many/node{i}", "")

    server.call(fill)
    listed = tool(path, "xenstore-list", "/tool/many").stdout.split()
    assert listed == sorted(f"node{i}" for i in range(1500))


def test_serve_runs_the_simulation_until_the_given_time() -> None:
    """``serve(hv, path, speed, until)``: paced clock, socket removed when it returns."""
    hv = make_world()
    folder = tempfile.mkdtemp(prefix="xs", dir="/tmp")
    path = os.path.join(folder, "socket")
    hv.mem_set(1, 1024 * 1024)
    server = asyncio.run(serve(hv, path, speed=1000.0, until=2.0))
    assert hv.sim.now == 2.0 and not os.path.exists(path) and server.clients == 0
    assert hv.domains[1].guest.balloon.stats.current_pages == GIB_PAGES  # type: ignore[union-attr]
    os.rmdir(folder)
    with pytest.raises(ValueError):
        asyncio.run(serve(hv, path, speed=0))
