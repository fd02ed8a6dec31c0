"""Robustness: random, malformed, truncated and oversized messages from several clients at once.

The server must never die, every other client must keep being answered, and no refused
request may change the store.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import tempfile
import threading
from collections.abc import Iterator

import pytest

import xenballoon as xb
from xenballoon.xenstored import XSD_ERRORS, ServerThread, XsType

pyxs = pytest.importorskip("pyxs", reason="pyxs (the test extra) is not installed")

HEADER = struct.Struct("<IIII")
# Bytes that can never make a valid path component: whatever a structured fuzz message
# holds, it cannot name a node, so every such request must be refused.
JUNK = bytes(b for b in range(256) if not (chr(b).isascii() and (chr(b).isalnum()
                                                                  or chr(b) in "/_@-")))


def make_world() -> xb.Hypervisor:
    hv = xb.Hypervisor(xb.Simulation(), 1 << 16)
    for _ in range(2):
        xb.Balloon(xb.Guest(hv.create_domain(1 << 12)))
    return hv


def dump(hv: xb.Hypervisor) -> dict[str, tuple[str | None, list[str]]]:
    xs, out, stack = hv.xenstore, {}, ["/"]
    while stack:
        path = stack.pop()
        out[path] = (xs.value(path), xs.get_perms(path))
        stack += [f"{path.rstrip('/')}/{c}" for c in xs.ls(path)]
    return out


@pytest.fixture
def served() -> Iterator[tuple[ServerThread, str]]:
    folder = tempfile.mkdtemp(prefix="xf", dir="/tmp")
    path = os.path.join(folder, "socket")
    with ServerThread(make_world, path, speed=5, guest_sockets=True) as server:
        yield server, path
    os.rmdir(folder)


def recv_reply(sock: socket.socket) -> tuple[int, bytes]:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    type_, _, _, length = HEADER.unpack(exactly(HEADER.size))
    return type_, exactly(length)


def fuzz(path: str, seed: int, rounds: int, failures: list[str]) -> None:
    """One client: ``rounds`` attacks, reconnecting whenever the server hangs up."""
    rng = random.Random(seed)
    for _ in range(rounds):
        kind = rng.choice(("junk", "structured", "truncated", "oversized", "guest"))
        target = path + ".1" if kind == "guest" else path
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(30)
            sock.connect(target)
            if kind == "junk":
                sock.sendall(rng.randbytes(rng.randrange(1, 200)))
            elif kind == "truncated":
                whole = HEADER.pack(XsType.WRITE, 1, 0, 12) + b"/tool/x\0abcd"
                sock.sendall(whole[:rng.randrange(1, len(whole))])
            elif kind == "oversized":
                sock.sendall(HEADER.pack(XsType.READ, 0, 0, rng.randrange(4097, 1 << 32)))
                if sock.recv(16) != b"":
                    failures.append("an oversized message was answered")
            else:
                for _ in range(rng.randrange(1, 8)):
                    if kind == "guest":
                        victim = rng.choice(("/local/domain/2/data/x", "/local/domain/2",
                                             "memory/target", "/tool/x"))
                        type_ = rng.choice((XsType.WRITE, XsType.MKDIR, XsType.RM))
                        payload = victim.encode() + b"\0" + (b"1" if type_ == XsType.WRITE
                                                             else b"")
                        tx = 0
                    else:
                        type_ = rng.randrange(0, 40)
                        payload = bytes(rng.choice(JUNK) for _ in range(rng.randrange(0, 40)))
                        tx = rng.choice((0, 0, rng.randrange(1 << 32)))
                    sock.sendall(HEADER.pack(type_, rng.randrange(1 << 32), tx, len(payload))
                                 + payload)
                    got, body = recv_reply(sock)
                    if type_ in (XsType.RESET_WATCHES, XsType.TRANSACTION_START) \
                            and got == type_:
                        continue  # as in xenstored, these ignore their payload; no node changes
                    if got != XsType.ERROR or body[:-1].decode() not in XSD_ERRORS:
                        failures.append(f"type {type_} {payload!r} answered {got} {body!r}")


def test_fuzzing_clients_never_stop_the_server_or_change_the_store(
        served: tuple[ServerThread, str]) -> None:
    """Four attackers at once; a pyxs client keeps working; the store is as before."""
    server, path = served
    before = server.call(dump)
    watches = server.call(lambda hv: hv.xenstore.watch_count)
    failures: list[str] = []
    attackers = [threading.Thread(target=fuzz, args=(path, seed, 150, failures))
                 for seed in range(4)]
    with pyxs.Client(unix_socket_path=path) as good:
        for thread in attackers:
            thread.start()
        reads = 0
        while any(thread.is_alive() for thread in attackers):
            assert good.read(b"/local/domain/1/memory/target") == b"16384"
            reads += 1
        for thread in attackers:
            thread.join()
        assert failures == []
        assert server.call(dump) == before
        good.write(b"/tool/after", b"still here")
        assert good.read(b"/tool/after") == b"still here" and reads > 0
    assert server.call(lambda hv: hv.xenstore.watch_count) == watches
