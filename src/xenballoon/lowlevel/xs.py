"""``xen.lowlevel.xs`` for the simulated host: dom0's xenstore connection.

Follows Xen's Python 3 binding, ``tools/python/xen/lowlevel/xs/xs.c`` (read, described,
not copied):

- Every data operation takes the transaction handle first, a hex string (``""`` for
  none; the C binding parses it with ``strtoul(.., 16)``), then the path.
- ``read(th, path)`` returns ``bytes``, or ``None`` when the node does not exist
  (``ENOENT``); a node that exists without a value (made by ``mkdir`` or as a parent)
  reads as ``b""``, as from xenstored.  ``ls`` returns a list of ``str`` or ``None``.
- ``write(th, path, data)`` takes ``str`` or ``bytes``; ``mkdir``, ``rm`` (a missing node
  is not an error), ``set_permissions`` return ``None``.
- ``get_permissions(th, path)`` returns ``[{"dom": d, "read": r, "write": w}, ...]`` where
  ``read`` is the ``XS_PERM_READ`` bit (1) and ``write`` the ``XS_PERM_WRITE`` bit (2), as
  the C binding masks them; the first entry is the owner's.  ``set_permissions`` takes the
  same dicts; when the first entry grants access to a domain other than 0, dom0 is made the
  owner in front of it, as the binding does.
- ``watch(path, token)`` / ``unwatch(path, token)``: the token is any object, matched by
  identity; a watch fires once when registered.  ``read_watch()`` blocks until an event
  and returns ``(path, token)``, skipping events of watches removed meanwhile;
  ``check_watch()`` is its non-blocking twin (``None`` when nothing fired); ``fileno()``
  is a descriptor that is readable while events are queued (usable with ``select``).
  The special paths ``@introduceDomain`` and ``@releaseDomain`` fire when the hypervisor
  introduces a new domain to the store and when it releases a destroyed one.
- ``transaction_start()`` returns the handle as ``"%X"``; the store isolates what is read
  and written under it; ``transaction_end(th, abort=0)`` returns ``True``, or ``False``
  when the commit conflicted (``EAGAIN``, as xenstored answers): redo the transaction.
- ``get_domain_path(domid)`` is ``/local/domain/<domid>`` whether or not it exists.
- Errors raise ``Error`` (``xen.lowlevel.xs.Error``, a ``RuntimeError``) with ``(errno,
  strerror)`` args, as ``PyErr_SetFromErrno(xs_error)`` does: ``EACCES``, ``ENOENT``,
  ``EINVAL``, ``EAGAIN``, ``EROFS`` on a read-only handle, ``EINVAL`` after ``close()``.
  Arguments of the wrong type raise ``InvalidType`` (a ``TypeError``), as
  ``PyArg_ParseTuple`` raises ``TypeError``.

In simulation ``read_watch`` advances simulated time, event by event, until a watch
fires; if no event is left that could make one fire, or ``block_limit`` simulated seconds
pass, it raises ``Error(EDEADLK)`` instead of blocking forever (and at once when called
from inside a Simulation event, which must use ``check_watch``).
"""

from __future__ import annotations

import errno
import os
import re
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import InvalidType, XenBalloonError
from ..xen.xenstore import SPECIAL_PATHS, errno_of

if TYPE_CHECKING:
    from ..xen.hypervisor import Hypervisor

__all__ = ["Error", "Xs", "bind"]

DOM0_HOME = "/local/domain/0"
DOMAINS = "/local/domain"
_HEX = re.compile(r"[0-9A-Fa-f]*")
_LETTER_BITS = {"n": 0, "r": 1, "w": 2, "b": 3}
_BITS_LETTER = {bits: letter for letter, bits in _LETTER_BITS.items()}


class Error(XenBalloonError, RuntimeError):
    """``xen.lowlevel.xs.Error``: a refused or failed request, args ``(errno, strerror)``."""


def error(code: int, detail: str | None = None) -> Error:
    """``Error(code, strerror)``, with the detail appended to the message."""
    message = os.strerror(code) if detail is None else f"{os.strerror(code)}: {detail}"
    exc = Error(code, message)
    exc.errno = code  # type: ignore[attr-defined]
    return exc


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidType(f"{name} must be a str, not {type(value).__name__}")
    return value


class _Watch:
    __slots__ = ("path", "token", "handle")

    def __init__(self, path: str, token: object) -> None:
        self.path = path
        self.token = token
        self.handle: Any = None


class Xs:
    """A connection to the host's xenstored as domain 0; ``bind(hv)`` makes ``xs``."""

    block_limit = 86400.0  # simulated seconds read_watch may wait

    def __init__(self, hv: Hypervisor, readonly: int = 0) -> None:
        self._hv = hv
        self._store: Any = hv.xenstore
        self._readonly = bool(readonly)
        self._open = True
        self._watches: list[_Watch] = []
        self._events: deque[tuple[str, object]] = deque()
        self._listeners: list[Callable[[], object]] = []
        self._pipe: tuple[int, int] | None = None

    # --- plumbing ---------------------------------------------------------------------------
    def _check_open(self) -> None:
        if not self._open:
            raise error(errno.EINVAL, "the xenstore handle is closed")

    def _tx(self, th: Any) -> int:
        self._check_open()
        text = _str(th, "transaction")
        if not _HEX.fullmatch(text):
            raise error(errno.EINVAL, f"bad transaction handle {text!r}")
        return int(text, 16) if text else 0

    @staticmethod
    def _abs(path: Any) -> str:
        path = _str(path, "path")
        return path if path.startswith("/") else f"{DOM0_HOME}/{path}"

    def _call(self, op: str, tx: int, *args: Any) -> Any:
        """Run one store operation, as xenstored answers it: errors become ``Error``."""
        method = getattr(self._store, op)
        try:
            return method(*args, tx=tx) if tx else method(*args)
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise error(errno_of(exc), f"{op} {args[0] if args else ''}".strip()) from exc

    def _writable(self) -> None:
        if self._readonly:
            raise error(errno.EROFS, "read-only xenstore handle")

    # --- data -------------------------------------------------------------------------------
    def read(self, th: str, path: str) -> bytes | None:
        """The node's value, ``None`` if it does not exist."""
        tx, where = self._tx(th), self._abs(path)
        try:
            value = self._call("value", tx, where)
        except Error as exc:
            if exc.args[0] == errno.ENOENT:
                return None
            raise
        return b"" if value is None else value.encode()  # a node without a value reads ""

    def write(self, th: str, path: str, data: str | bytes) -> None:
        """Store ``data`` at ``path``, creating it and its parents."""
        tx, where = self._tx(th), self._abs(path)
        if isinstance(data, bytes):
            try:
                data = data.decode()
            except UnicodeDecodeError:
                raise error(errno.EINVAL, "the simulated store holds UTF-8 text") from None
        _str(data, "data")
        self._writable()
        self._call("write", tx, where, data)

    def ls(self, th: str, path: str) -> list[str] | None:
        """The names of the node's children, ``None`` if it does not exist."""
        tx, where = self._tx(th), self._abs(path)
        try:
            return list(self._call("ls", tx, where))
        except Error as exc:
            if exc.args[0] == errno.ENOENT:
                return None
            raise

    def mkdir(self, th: str, path: str) -> None:
        tx, where = self._tx(th), self._abs(path)
        self._writable()
        self._call("mkdir", tx, where)

    def rm(self, th: str, path: str) -> None:
        """Remove the node and everything below it; a missing node is fine."""
        tx, where = self._tx(th), self._abs(path)
        self._writable()
        try:
            self._call("rm", tx, where)
        except Error as exc:
            if exc.args[0] != errno.ENOENT:  # xs.c: rm succeeds when the node is gone
                raise

    def get_permissions(self, th: str, path: str) -> list[dict[str, int]]:
        tx, where = self._tx(th), self._abs(path)
        entries = self._call("get_perms", tx, where)
        return [{"dom": int(e[1:]), "read": _LETTER_BITS[e[0]] & 1,
                 "write": _LETTER_BITS[e[0]] & 2} for e in entries]

    def set_permissions(self, th: str, path: str, perms: list[dict[str, int]]) -> None:
        tx, where = self._tx(th), self._abs(path)
        if not isinstance(perms, list):
            raise error(errno.EINVAL, "perms must be a list")
        entries: list[tuple[int, int]] = []
        for entry in perms:
            if not isinstance(entry, dict) or "dom" not in entry:
                raise InvalidType(f"each permission is a dict with 'dom' and optional 'read', "
                                f"'write', not {entry!r}")
            unknown = set(entry) - {"dom", "read", "write"}
            if unknown:
                raise InvalidType(f"unknown permission key(s) {sorted(unknown)}")
            dom = entry["dom"]
            if isinstance(dom, bool) or not isinstance(dom, int) or dom < 0:
                raise error(errno.EINVAL, f"bad domain id {dom!r} in perms")
            entries.append((dom, (1 if entry.get("read") else 0)
                            | (2 if entry.get("write") else 0)))
        if entries and entries[0][1] and entries[0][0]:
            entries.insert(0, (0, 0))  # a restricted first domain cannot be the owner
        self._writable()
        self._call("set_perms", tx, where, [f"{_BITS_LETTER[b]}{d}" for d, b in entries])

    # --- transactions -----------------------------------------------------------------------
    def transaction_start(self) -> str:
        """A new transaction's handle, as ``"%X"``."""
        self._check_open()
        return f"{self._call('transaction_start', 0):X}"

    def transaction_end(self, transaction: str, abort: int = 0) -> bool:
        """Commit (or abort) the transaction: ``False`` if it conflicted and must be redone."""
        tx = self._tx(transaction)
        if not tx:
            raise error(errno.EINVAL, "no transaction to end")
        return bool(self._call("transaction_end", 0, tx, bool(abort)))

    # --- watches ----------------------------------------------------------------------------
    def watch(self, path: str, token: object) -> None:
        """Queue ``(path, token)`` now and on every change at or below ``path``."""
        self._check_open()
        path = _str(path, "path")
        watch = _Watch(path, token)
        relative = not path.startswith("/") and path not in SPECIAL_PATHS
        where = self._abs(path) if relative else path
        strip = len(DOM0_HOME) + 1 if relative else 0
        watch.handle = self._call("watch", 0, where, lambda p: self._queue(p[strip:], token))
        self._watches.append(watch)

    def _queue(self, path: str, token: object) -> None:
        self._events.append((path, token))
        if self._pipe is not None and len(self._events) == 1:
            os.write(self._pipe[1], b"!")  # one byte while the queue is non-empty
        for listener in list(self._listeners):
            listener()

    def unwatch(self, path: str, token: object) -> None:
        self._check_open()
        path = _str(path, "path")
        for watch in self._watches:
            if watch.path == path and watch.token is token:
                self._watches.remove(watch)
                watch.handle.unwatch()
                return
        raise error(errno.ENOENT, f"no watch on {path} with that token")

    def check_watch(self) -> tuple[str, object] | None:
        """The next ``(path, token)`` of a live watch, or ``None`` if none is queued."""
        self._check_open()
        while self._events:
            path, token = self._events.popleft()
            if self._pipe is not None and not self._events:
                os.read(self._pipe[0], 1)
            if any(w.token is token for w in self._watches):
                return path, token
        return None

    def read_watch(self) -> tuple[str, object]:
        """The next ``(path, token)``, advancing simulated time until a watch fires."""
        sim = self._hv.sim
        deadline = sim.now + self.block_limit
        while True:
            event = self.check_watch()
            if event is not None:
                return event
            if sim.running:
                raise error(errno.EDEADLK, "read_watch inside a Simulation event would block "
                            "the simulation: use check_watch")
            when = sim.next_event_time()
            if when is None or when > deadline:
                why = ("no event is left in the simulation" if when is None
                       else f"none within {self.block_limit:g} simulated seconds")
                raise error(errno.EDEADLK, f"read_watch would block forever: {why}")
            sim.run(until=when)

    def fileno(self) -> int:
        """A descriptor that is readable while watch events are queued."""
        self._check_open()
        if self._pipe is None:
            self._pipe = os.pipe()
            os.set_blocking(self._pipe[0], False)
            if self._events:
                os.write(self._pipe[1], b"!")
        return self._pipe[0]

    def notify(self, listener: Callable[[], object]) -> None:
        """Simulation only: call ``listener()`` whenever an event is queued."""
        self._listeners.append(listener)

    # --- the rest ---------------------------------------------------------------------------
    def get_domain_path(self, domid: int) -> str:
        self._check_open()
        if isinstance(domid, bool) or not isinstance(domid, int):
            raise InvalidType(f"domid must be an integer, not {type(domid).__name__}")
        return f"{DOMAINS}/{domid}"

    def close(self) -> None:
        """Drop every watch and the connection; later calls raise ``Error(EINVAL)``."""
        self._check_open()
        for watch in self._watches:
            watch.handle.unwatch()
        self._watches.clear()
        self._events.clear()
        self._listeners.clear()
        if self._pipe is not None:
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None
        self._open = False

    def __del__(self) -> None:
        if getattr(self, "_pipe", None) is not None:
            for fd in self._pipe:  # type: ignore[union-attr]
                os.close(fd)

    def __repr__(self) -> str:
        state = "" if self._open else " closed"
        return f"<xen.lowlevel.xs.xs on {self._hv!r}{state}>"


def bind(hv: Hypervisor) -> type[Xs]:
    """The class ``xen.lowlevel.xs.xs`` for ``hv``: ``xs(readonly=0)``, as Xen's."""

    class xs(Xs):  # noqa: N801 -- Xen's name
        __doc__ = Xs.__doc__

        def __init__(self, readonly: int = 0) -> None:
            super().__init__(hv, readonly)

    xs.__module__ = "xen.lowlevel.xs"
    return xs
