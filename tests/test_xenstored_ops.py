"""The table of operations, request by request, without a socket: replies, errnos, ordering."""

from __future__ import annotations

import struct

import pytest

import xenballoon as xb
from xenballoon.xenstored import HANDLERS, Decoder, Message, ProtocolError, Session, XsType
from xenballoon.xenstored import dispatch as answer
from xenballoon.xenstored.wire import encode

HEADER = struct.Struct("<IIII")


class Client:
    """A session on a fresh two-domain host; ``ask`` returns every message sent back."""

    def __init__(self, hv: xb.Hypervisor, domid: int = 0) -> None:
        self.sent: list[bytes] = []
        self.session = Session(hv.xenstore.connect(domid), self.sent.append)

    def ask(self, type_: int, payload: bytes, tx: int = 0, req: int = 7) -> list[Message]:
        wire = answer(self.session, Message(type_, req, tx, payload))
        messages = Decoder().feed(b"".join(self.sent) + wire)
        self.sent.clear()
        return messages


@pytest.fixture
def hv() -> xb.Hypervisor:
    hv = xb.Hypervisor(xb.Simulation(), 4096)
    hv.create_domain(256)
    hv.create_domain(256)
    return hv


def error(messages: list[Message]) -> str:
    assert messages[-1].type == XsType.ERROR
    return messages[-1].payload[:-1].decode()


def test_reply_echoes_type_and_ids(hv: xb.Hypervisor) -> None:
    """A reply has the request's type, req_id and tx_id; READ has no trailing NUL."""
    (reply,) = Client(hv).ask(XsType.READ, b"/local/domain/1/memory/target\0", req=42)
    assert (reply.type, reply.req_id, reply.tx_id, reply.payload) == (2, 42, 0, b"1024")


@pytest.mark.parametrize("type_, payload, tx, name", [
    (XsType.READ, b"/local/domain/9\0", 0, "ENOENT"),
    (XsType.READ, b"/local/domain/1", 0, "EINVAL"),  # no NUL
    (XsType.READ, b"/a\0b\0", 0, "EINVAL"),  # two arguments
    (XsType.READ, b"/a b\0", 0, "EINVAL"),
    (XsType.READ, b"@releaseDomain\0", 0, "EINVAL"),
    (XsType.WRITE, b"/a", 0, "EINVAL"),
    (XsType.RM, b"/\0", 0, "EINVAL"),
    (XsType.SET_PERMS, b"/local\0x9\0", 0, "EINVAL"),
    (XsType.SET_PERMS, b"/local\0", 0, "EINVAL"),
    (XsType.TRANSACTION_START, b"\0", 5, "EBUSY"),
    (XsType.TRANSACTION_END, b"T\0", 0, "ENOENT"),
    (XsType.READ, b"/local\0", 99, "ENOENT"),
    (XsType.UNWATCH, b"/a\0tok\0", 0, "ENOENT"),
    (XsType.WATCH, b"/a\0tok\0" + b"1\0", 0, "EINVAL"),  # a depth: not offered
    (XsType.GET_DOMAIN_PATH, b"x\0", 0, "EINVAL"),
    (XsType.GET_DOMAIN_PATH, b"70000\0", 0, "EINVAL"),
    (XsType.INTRODUCE, b"3\0 1\0 2\0", 0, "ENOSYS"),
    (XsType.WATCH_EVENT, b"", 0, "ENOSYS"),
    (99, b"", 0, "ENOSYS"),
])
def test_refusals_answer_xenstoreds_errno(hv: xb.Hypervisor, type_: int, payload: bytes,
                                          tx: int, name: str) -> None:
    """Each malformed or refused request is an ERROR naming xenstored's errno."""
    messages = Client(hv).ask(type_, payload, tx=tx)
    assert error(messages) == name and messages[-1].tx_id == tx


def test_guest_refusals(hv: xb.Hypervisor) -> None:
    """A guest's connection: EACCES for others' nodes and for IS_DOMAIN_INTRODUCED."""
    guest = Client(hv, 1)
    assert error(guest.ask(XsType.WRITE, b"/local/domain/2/data/x\0" + b"1")) == "EACCES"
    assert error(guest.ask(XsType.IS_DOMAIN_INTRODUCED, b"2\0")) == "EACCES"
    assert guest.ask(XsType.READ, b"memory/target\0")[0].payload == b"1024"


def test_watch_answers_ok_then_first_event(hv: xb.Hypervisor) -> None:
    """WATCH: OK, then the registration event; the same path and token again is EEXIST."""
    client = Client(hv)
    ok, event = client.ask(XsType.WATCH, b"/local/domain/1\0tok\0")
    assert ok.payload == b"OK\0"
    assert (event.type, event.req_id, event.payload) == (15, 0, b"/local/domain/1\0tok\0")
    assert error(client.ask(XsType.WATCH, b"/local/domain/1\0tok\0")) == "EEXIST"


def test_own_write_event_comes_before_the_reply(hv: xb.Hypervisor) -> None:
    """A client watching what it writes gets the event before the WRITE's OK."""
    client = Client(hv)
    client.ask(XsType.WATCH, b"memory\0rel\0")  # relative: /local/domain/0/memory
    event, ok = client.ask(XsType.WRITE, b"/local/domain/0/memory/x\0" + b"1")
    assert event.payload == b"memory/x\0rel\0" and ok.payload == b"OK\0"


def test_transaction_over_the_wire(hv: xb.Hypervisor) -> None:
    """START gives an id; requests carry it; a conflicting END answers EAGAIN."""
    client, other = Client(hv), Client(hv)
    (start,) = client.ask(XsType.TRANSACTION_START, b"\0")
    tid = int(start.payload[:-1])
    client.ask(XsType.READ, b"/local/domain/1/name\0", tx=tid)
    client.ask(XsType.WRITE, b"/local/domain/1/name\0mine", tx=tid)
    assert other.ask(XsType.READ, b"/local/domain/1/name\0", tx=tid)[0].type == XsType.ERROR
    other.ask(XsType.WRITE, b"/local/domain/1/name\0theirs")
    assert error(client.ask(XsType.TRANSACTION_END, b"T\0", tx=tid)) == "EAGAIN"
    assert hv.xenstore.read("/local/domain/1/name") == "theirs"


def test_reset_watches_drops_watches_and_transactions(hv: xb.Hypervisor) -> None:
    """RESET_WATCHES: the connection's watches and transactions are gone."""
    client = Client(hv)
    client.ask(XsType.WATCH, b"/\0t\0")
    tid = int(client.ask(XsType.TRANSACTION_START, b"\0")[0].payload[:-1])
    before = hv.xenstore.watch_count
    assert client.ask(XsType.RESET_WATCHES, b"\0")[0].payload == b"OK\0"
    assert hv.xenstore.watch_count == before - 1
    assert error(client.ask(XsType.TRANSACTION_END, b"F\0", tx=tid)) == "ENOENT"


def test_domain_queries(hv: xb.Hypervisor) -> None:
    """GET_DOMAIN_PATH and IS_DOMAIN_INTRODUCED for dom0."""
    client = Client(hv)
    assert client.ask(XsType.GET_DOMAIN_PATH, b"2\0")[0].payload == b"/local/domain/2\0"
    assert client.ask(XsType.IS_DOMAIN_INTRODUCED, b"2\0")[0].payload == b"T\0"
    assert client.ask(XsType.IS_DOMAIN_INTRODUCED, b"5\0")[0].payload == b"F\0"


def test_decoder_reassembles_split_messages_and_refuses_oversized() -> None:
    """Messages split anywhere come out whole; a length over 4096 is a ProtocolError."""
    stream = encode(2, 1, 0, b"/a\0") + encode(11, 2, 0, b"/b\0v")
    decoder = Decoder()
    got = [m for byte in range(len(stream)) for m in decoder.feed(stream[byte:byte + 1])]
    assert [(m.type, m.req_id, m.payload) for m in got] == [(2, 1, b"/a\0"), (11, 2, b"/b\0v")]
    with pytest.raises(ProtocolError):
        Decoder().feed(HEADER.pack(2, 0, 0, 4097))


def test_one_table_covers_the_issue_operations() -> None:
    """Every operation of issue 14 has its handler in the one table."""
    wanted = {"DIRECTORY", "READ", "GET_PERMS", "WATCH", "UNWATCH", "TRANSACTION_START",
              "TRANSACTION_END", "GET_DOMAIN_PATH", "WRITE", "MKDIR", "RM", "SET_PERMS",
              "IS_DOMAIN_INTRODUCED", "RESET_WATCHES"}
    assert wanted <= {XsType(t).name for t in HANDLERS}
