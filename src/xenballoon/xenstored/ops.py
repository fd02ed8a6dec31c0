"""The requests xenstored answers: one table from message type to handler.

Each handler takes the client's ``Session`` and the request, and returns the reply's
payload; a refusal raises and the server answers ERROR with ``errno_of`` of it (see
``xenstore/limits.py``).  Behaviour follows C xenstored (``tools/xenstored/core.c``,
``watch.c``, ``transaction.c``, ``domain.c``) and ``docs/misc/xenstore.txt``:

- READ of a node without a value answers an empty value; DIRECTORY over 4096 bytes E2BIG,
  after which libxenstore reads the list in chunks with DIRECTORY_PART (``path|offset|``
  answers the node's generation, the names from that byte offset, and one more NUL after
  the last chunk).
- WATCH answers OK and then the first event; the same path and token twice is EEXIST.
  Events are ``path\\0token\\0`` with ids 0; an event caused by the client's own request
  is sent before that request's reply.
- TRANSACTION_START inside a transaction is EBUSY; TRANSACTION_END takes ``T`` (commit)
  or ``F`` (abort) and answers EAGAIN on a conflict.  Transactions and watches belong to
  the connection; RESET_WATCHES drops both.
- IS_DOMAIN_INTRODUCED is for domain 0 only (EACCES otherwise).
- Every other type (INTRODUCE, RELEASE, RESUME, SET_TARGET, CONTROL, features and
  quotas...) answers ENOSYS: the simulated host introduces its own domains.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable

from ..errors import InvalidArgument
from ..xen.xenstore import WatchHandle, XenStoreConnection, errno_of, raised_after_commit
from .wire import NUL, OK, XENSTORE_PAYLOAD_MAX, Message, XsType, args_of, encode, error_payload

__all__ = ["Session", "Refused", "HANDLERS", "Handler", "dispatch"]

log = logging.getLogger("xenballoon.xenstored")


class Refused(Exception):
    """A request refused with an errno the store does not raise itself."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.errno = code


class Session:
    """One client's state: its domain's connection, its watches and its transactions.

    ``send`` writes bytes to the client.  Events raised while a request runs go out at once
    (before the reply), except a new watch's first event, which xenstored sends after OK:
    it waits in ``after_reply``.
    """

    def __init__(self, xs: XenStoreConnection, send: Callable[[bytes], None]) -> None:
        self.xs = xs
        self.send = send
        self.watches: dict[tuple[str, str], WatchHandle] = {}
        self.transactions: set[int] = set()
        self.after_reply: list[bytes] = []

    @property
    def domid(self) -> int:
        return self.xs.domid

    def tx(self, message: Message) -> int:
        """The request's transaction, which must be one of this connection's (else ENOENT)."""
        if message.tx_id and message.tx_id not in self.transactions:
            raise Refused(errno.ENOENT, f"no transaction {message.tx_id} on this connection")
        return message.tx_id

    def close(self) -> None:
        """Drop every watch and abort every transaction (a reset or a disconnect)."""
        for handle in self.watches.values():
            handle.unwatch()
        self.watches.clear()
        for tid in sorted(self.transactions):
            self.xs.transaction_end(tid, abort=True)
        self.transactions.clear()


Handler = Callable[[Session, Message], bytes]


def _path(message: Message) -> str:
    payload = message.payload
    if payload[-1:] == NUL and NUL not in payload[:-1]:  # NOTE: a fast path for one argument
        return payload[:-1].decode("utf-8", "surrogateescape")
    return args_of(payload, 1)[0]


def _directory(s: Session, m: Message) -> bytes:
    reply = b"".join(name.encode() + NUL for name in s.xs.ls(_path(m), tx=s.tx(m)))
    if len(reply) > XENSTORE_PAYLOAD_MAX:
        raise Refused(errno.E2BIG, "the directory does not fit in one reply")
    return reply


def _directory_part(s: Session, m: Message) -> bytes:
    path, offset_text = args_of(m.payload, 2)
    if not (offset_text.isascii() and offset_text.isdigit()):
        raise InvalidArgument(f"bad offset {offset_text!r}")
    tx = s.tx(m)
    gen = str(s.xs.generation(path, tx=tx)).encode() + NUL
    names = b"".join(name.encode() + NUL for name in s.xs.ls(path, tx=tx))
    offset = int(offset_text)
    if offset > len(names):
        raise InvalidArgument(f"offset {offset} past the {len(names)} bytes of names")
    room = XENSTORE_PAYLOAD_MAX - len(gen) - 1
    end = offset + room
    if end >= len(names):  # the last chunk: one more NUL marks the end
        return gen + names[offset:] + NUL
    end = names.rindex(NUL, offset, end) + 1  # whole names only
    return gen + names[offset:end]


def _read(s: Session, m: Message) -> bytes:
    value = s.xs.value(_path(m), tx=s.tx(m))
    return b"" if value is None else value.encode("utf-8", "surrogateescape")


def _get_perms(s: Session, m: Message) -> bytes:
    return b"".join(p.encode() + NUL for p in s.xs.get_perms(_path(m), tx=s.tx(m)))


def _write(s: Session, m: Message) -> bytes:
    path, sep, value = m.payload.partition(NUL)
    if not sep:
        raise InvalidArgument("WRITE needs a path, NUL and the value")
    s.xs.write(path.decode("utf-8", "surrogateescape"),
               value.decode("utf-8", "surrogateescape"), tx=s.tx(m))
    return OK


def _mkdir(s: Session, m: Message) -> bytes:
    s.xs.mkdir(_path(m), tx=s.tx(m))
    return OK


def _rm(s: Session, m: Message) -> bytes:
    s.xs.rm(_path(m), tx=s.tx(m))
    return OK


def _set_perms(s: Session, m: Message) -> bytes:
    path, *perms = args_of(m.payload)
    s.xs.set_perms(path, perms, tx=s.tx(m))
    return OK


def _watch(s: Session, m: Message) -> bytes:
    path, token = args_of(m.payload, 2)  # a third (depth) needs a feature we do not offer
    if (path, token) in s.watches:
        raise Refused(errno.EEXIST, f"already watching {path} with token {token!r}")
    token_bytes = token.encode("utf-8", "surrogateescape") + NUL
    registering = True

    def fired(event_path: str) -> None:
        event = encode(XsType.WATCH_EVENT, 0, 0, event_path.encode() + NUL + token_bytes)
        (s.after_reply.append if registering else s.send)(event)

    s.watches[(path, token)] = s.xs.watch(path, fired)
    registering = False
    return OK


def _unwatch(s: Session, m: Message) -> bytes:
    path, token = args_of(m.payload, 2)
    handle = s.watches.pop((path, token), None)
    if handle is None:
        raise Refused(errno.ENOENT, f"no watch on {path} with token {token!r}")
    handle.unwatch()
    return OK


def _transaction_start(s: Session, m: Message) -> bytes:
    if m.tx_id:
        raise Refused(errno.EBUSY, "transactions do not nest")
    tid = s.xs.transaction_start()
    s.transactions.add(tid)
    return str(tid).encode() + NUL


def _transaction_end(s: Session, m: Message) -> bytes:
    (verdict,) = args_of(m.payload, 1)
    if verdict not in ("T", "F"):
        raise InvalidArgument("TRANSACTION_END takes T (commit) or F (abort)")
    tid = s.tx(m)
    if not tid:
        raise Refused(errno.ENOENT, "TRANSACTION_END outside a transaction")
    s.transactions.discard(tid)
    if not s.xs.transaction_end(tid, abort=verdict == "F"):
        raise Refused(errno.EAGAIN, f"transaction {tid} conflicts: redo it")
    return OK


def _domid(m: Message) -> int:
    (text,) = args_of(m.payload, 1)
    if not text.isdigit() or not text.isascii() or int(text) > 0xFFFF:
        raise InvalidArgument(f"bad domid {text!r}")
    return int(text)


def _get_domain_path(s: Session, m: Message) -> bytes:
    return f"/local/domain/{_domid(m)}".encode() + NUL


def _is_domain_introduced(s: Session, m: Message) -> bytes:
    if s.domid != 0:
        raise Refused(errno.EACCES, "only domain 0 may ask")
    domid = _domid(m)
    return b"T\0" if domid < 0x7FF0 and s.xs.store.is_domain_introduced(domid) else b"F\0"


def _reset_watches(s: Session, m: Message) -> bytes:
    s.close()
    return OK


HANDLERS: dict[int, Handler] = {
    XsType.DIRECTORY: _directory,
    XsType.DIRECTORY_PART: _directory_part,
    XsType.READ: _read,
    XsType.GET_PERMS: _get_perms,
    XsType.WATCH: _watch,
    XsType.UNWATCH: _unwatch,
    XsType.TRANSACTION_START: _transaction_start,
    XsType.TRANSACTION_END: _transaction_end,
    XsType.GET_DOMAIN_PATH: _get_domain_path,
    XsType.WRITE: _write,
    XsType.MKDIR: _mkdir,
    XsType.RM: _rm,
    XsType.SET_PERMS: _set_perms,
    XsType.IS_DOMAIN_INTRODUCED: _is_domain_introduced,
    XsType.RESET_WATCHES: _reset_watches,
}


def dispatch(session: Session, message: Message) -> bytes:
    """Answer one request: the encoded reply, then any first event of a new watch.

    A refusal is an ERROR with its errno; a change whose watch callbacks raised (inside the
    simulation, e.g. a buggy guest-side watcher) is still a success, and the errors logged.
    """
    handler = HANDLERS.get(message.type)
    try:
        if handler is None:
            raise Refused(errno.ENOSYS, f"message type {message.type} is not modelled")
        type_, payload = message.type, handler(session, message)
    except Exception as exc:
        if raised_after_commit(exc):
            log.error("watch callbacks raised after a committed request", exc_info=exc)
            type_, payload = message.type, OK
        else:
            type_, payload = XsType.ERROR, error_payload(errno_of(exc))
    reply = encode(type_, message.req_id, message.tx_id, payload)
    if session.after_reply:
        reply += b"".join(session.after_reply)
        session.after_reply.clear()
    return reply
