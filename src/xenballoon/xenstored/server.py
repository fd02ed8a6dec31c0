"""xenstored for the simulated host: the store on Unix sockets, the clock paced to the wall.

``XenstoredServer(hv, socket_path)`` serves ``hv.xenstore`` on ``socket_path`` as domain 0
sees it (what libxenstore finds through ``XENSTORED_PATH``), and with ``guest_sockets=True``
one more socket per guest, ``<socket_path>.<domid>``, with that guest's view and
permissions (opened and closed as domains come and go).  Many clients at once, on one
asyncio loop: each request is answered at the current simulated time, and its watch events
go to the client that set the watch.  A malformed or oversized message closes that client's
connection only; nothing a client sends stops the server or another client.

``run()`` drives the simulation: every ``tick`` wall seconds it runs it up to
``speed`` simulated seconds per wall second since the start (``speed=1``: real time), so
requests land between simulated events.  ``serve(hv, path, ...)`` is start + run + close
in one coroutine; ``ServerThread`` runs one in a background thread for blocking clients
(command-line tools, pyxs) and tests.  Signals and the CLI are the caller's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import os
import stat
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import InvalidArgument
from .ops import Session, dispatch
from .wire import Decoder, ProtocolError

if TYPE_CHECKING:
    from ..xen.hypervisor import Hypervisor

__all__ = ["XenstoredServer", "ClientProtocol", "serve", "ServerThread"]

log = logging.getLogger("xenballoon.xenstored")
T = TypeVar("T")


class XenstoredServer:
    """The wire protocol for ``hv.xenstore`` on Unix sockets; see the module docstring."""

    def __init__(self, hv: Hypervisor, socket_path: str | os.PathLike[str], *,
                 speed: float = 1.0, guest_sockets: bool = False, tick: float = 0.01,
                 advance: Callable[[float], object] | None = None) -> None:
        for name, value in (("speed", speed), ("tick", tick)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value <= 0:
                raise InvalidArgument(f"{name} must be a positive number of seconds, got {value!r}")
        self.hv = hv
        self.socket_path = os.fspath(socket_path)
        self.speed = float(speed)
        self.tick = float(tick)
        self.guest_sockets = bool(guest_sockets)
        # How the clock moves to a time: the simulation's own run, or a scenario's (which
        # also samples its trace on the way).
        self.advance: Callable[[float], object] = advance or self._run_sim
        self._servers: dict[int, asyncio.AbstractServer] = {}  # by the domid they serve
        self.connections: set[ClientProtocol] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.requests = 0

    def _run_sim(self, until: float) -> None:
        self.hv.sim.run(until=until)

    def guest_socket_path(self, domid: int) -> str:
        return f"{self.socket_path}.{domid}"

    @property
    def clients(self) -> int:
        return len(self.connections)

    async def start(self) -> None:
        """Listen on the sockets (a stale socket file at the path is replaced)."""
        await self._listen(0, self.socket_path)
        if self.guest_sockets:
            await self._sync_guests()
            for special in ("@introduceDomain", "@releaseDomain"):
                self.hv.xenstore.watch(special, self._domains_changed)

    async def run(self, until: float | None = None) -> None:
        """Run the simulation paced to the wall clock until ``until`` or ``stop()``."""
        loop = asyncio.get_running_loop()
        sim = self.hv.sim
        wall0, sim0 = loop.time(), sim.now
        while True:
            target = sim0 + (loop.time() - wall0) * self.speed
            if until is not None:
                target = min(target, until)
            if target > sim.now:
                self.advance(target)
            # Checked after the step: requests answered before ``stop()`` take effect at
            # the time they came, even if it came within one tick of them.
            if self._stopping or (until is not None and sim.now >= until):
                return
            await asyncio.sleep(self.tick)

    def stop(self) -> None:
        """Make ``run()`` return (call from the loop's thread)."""
        self._stopping = True

    async def close(self) -> None:
        """Stop listening, disconnect every client, remove the socket files."""
        for domid in list(self._servers):
            await self._unlisten(domid)
        for connection in list(self.connections):
            connection.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let the transports call connection_lost

    # --- sockets ------------------------------------------------------------------------------
    async def _listen(self, domid: int, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISSOCK(os.stat(path).st_mode):
                raise FileExistsError(f"{path} exists and is not a socket")
            os.unlink(path)
        loop = asyncio.get_running_loop()
        self._servers[domid] = await loop.create_unix_server(
            lambda: ClientProtocol(self, domid), path=path)

    async def _unlisten(self, domid: int) -> None:
        server = self._servers.pop(domid)
        server.close()
        path = self.socket_path if domid == 0 else self.guest_socket_path(domid)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def _domains_changed(self, path: str) -> None:
        task = asyncio.get_running_loop().create_task(self._sync_guests())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sync_guests(self) -> None:
        live = set(self.hv.domains)
        for domid in sorted(live - set(self._servers)):
            await self._listen(domid, self.guest_socket_path(domid))
        for domid in sorted(set(self._servers) - live - {0}):
            await self._unlisten(domid)



class ClientProtocol(asyncio.Protocol):
    """One client connection: requests answered as they arrive, in order.

    NOTE: a Protocol rather than streams, for performance reasons (no coroutine per read).
    A client that does not read its replies is paused (flow control) until it does; others
    are not affected.  Any failure closes this connection only.
    """

    def __init__(self, server: XenstoredServer, domid: int) -> None:
        self.server = server
        self.domid = domid
        self.decoder = Decoder()
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.session = Session(self.server.hv.xenstore.connect(self.domid), transport.write)
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None and self.session is not None
        try:
            messages = self.decoder.feed(data)
            write, session = self.transport.write, self.session
            for message in messages:
                write(dispatch(session, message))
            self.server.requests += len(messages)
        except ProtocolError as exc:
            log.warning("closing a client of domain %d: %s", self.domid, exc)
            self.transport.abort()
        except Exception:  # a bug must cost this client its connection, never the server
            log.exception("closing a client of domain %d", self.domid)
            self.transport.abort()

    def pause_writing(self) -> None:
        assert self.transport is not None
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        assert self.transport is not None
        self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None
        self.server.connections.discard(self)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def serve(hv: Hypervisor, socket_path: str | os.PathLike[str], *, speed: float = 1.0,
                guest_sockets: bool = False, until: float | None = None) -> XenstoredServer:
    """Serve ``hv`` until simulated time ``until`` (forever if None, until cancelled)."""
    server = XenstoredServer(hv, socket_path, speed=speed, guest_sockets=guest_sockets)
    await server.start()
    try:
        await server.run(until)
    finally:
        await server.close()
    return server


class ServerThread:
    """A server and its world in a background thread, for blocking clients and tests.

    ``make_world()`` builds the Hypervisor in the server's thread, which owns it from then
    on; ``call(fn)`` runs ``fn(hv)`` there and returns its result.  Use as a context manager.
    """

    def __init__(self, make_world: Callable[[], Hypervisor], socket_path: str | os.PathLike[str],
                 **kwargs: Any) -> None:
        self._make_world = make_world
        self._socket_path = socket_path
        self._kwargs = kwargs
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="xenstored", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: XenstoredServer | None = None
        self._error: BaseException | None = None

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by __enter__/__exit__ in the caller's thread
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        server = XenstoredServer(self._make_world(), self._socket_path, **self._kwargs)
        await server.start()
        self._loop, self._server = asyncio.get_running_loop(), server
        self._ready.set()
        try:
            await server.run()
        finally:
            await server.close()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError("the xenstored thread failed to start") from self._error
        return self

    def call(self, fn: Callable[[Hypervisor], T], timeout: float = 60.0) -> T:
        """``fn(hv)`` run in the server's thread, between two simulated steps."""
        assert self._loop is not None and self._server is not None
        server = self._server
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(server.hv))
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout)

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._server is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._server.stop)
        self._thread.join()
        if self._error is not None:
            raise RuntimeError("the xenstored thread failed") from self._error
