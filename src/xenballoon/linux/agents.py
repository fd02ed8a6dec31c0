"""Guest agents: the daemons in a guest that publish its memory use to xenstore.

Each writes through the guest's OWN xenstore connection, so the toolstack's permissions
decide what it may write (see ``research/guest-agents-and-nodes.md``; sources cited per
class, described, not copied):

- `MeminfoWriter`: Qubes's ``meminfo-writer`` (QubesOS/qubes-linux-utils
  ``qmemman/meminfo-writer.c``), for qmemman: ``memory/meminfo`` = used KiB.
- `XeDaemon`: the XenServer / XCP-ng guest agent ``xe-daemon`` (xenserver/xe-guest-utilities
  ``guestmetric/guestmetric_linux.go``, ``xe-daemon/xe-daemon.go``), for squeezed/xapi:
  ``data/meminfo_free``, ``data/meminfo_total``, ``data/updated``, ``control/feature-balloon``.
- `XenGuestAgent`: XCP-ng's Rust ``xen-guest-agent`` (xcp-ng/xen-guest-agent ``src/main.rs``,
  ``src/xenstore_schema_std.rs``).
- `NoAgent`: nothing runs.

`attach_agent(guest, kind, **params)` picks one per domain.  The agents of one simulation,
core and period share one timer (`AgentTicker`), which reads every member guest's counters
with ONE core call per tick (`VmStatReader`) and hands each agent class its rows; the
meminfo-writer compares all its guests in numpy and writes only where its rule says so,
so 1,000 guests polled every 0.1 s cost one core call and a few array operations per tick.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import numpy as np

from .._log import log
from ..errors import InvalidArgument, InvalidType
from ..sim import Simulation
from ..units import PAGE_SIZE
from .guest import Guest
from .vmstat import VmStatReader

__all__ = ["AGENTS", "Agent", "AgentTicker", "MeminfoWriter", "NoAgent", "XeDaemon",
           "XenGuestAgent", "attach_agent"]

KIB = PAGE_SIZE // 1024
_TICKERS: weakref.WeakValueDictionary[tuple[int, str, float], AgentTicker] = \
    weakref.WeakValueDictionary()


class Agent(Protocol):
    """A guest agent: `start` runs it in a guest, `stop` ends it."""

    name: str
    guest: Guest | None

    def start(self, guest: Guest) -> None: ...

    def stop(self) -> None: ...


def _positive(value: float, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 < value < float("inf"):
        raise InvalidArgument(f"{label} must be a positive number, got {value!r}")
    return float(value)


class AgentTicker:
    """The polling agents of one simulation and core with one period: one timer for all."""

    def __init__(self, sim: Simulation, interval: float) -> None:
        self.sim, self.interval = sim, interval
        self.members: list[PollingAgent] = []
        self._timer: Any = None
        self._reader: VmStatReader | None = None
        self._groups: list[tuple[type[PollingAgent], list[PollingAgent], np.ndarray]] = []

    @classmethod
    def of(cls, guest: Guest, interval: float) -> AgentTicker:
        key = (id(guest.sim), guest.impl.__name__, interval)
        ticker = _TICKERS.get(key)
        if ticker is None:
            ticker = _TICKERS[key] = cls(guest.sim, interval)
        return ticker

    def add(self, agent: PollingAgent) -> None:
        self.members.append(agent)
        self._reader = None
        if self._timer is None:
            self._timer = self.sim.call_later(self.interval, self._tick)

    def remove(self, agent: PollingAgent) -> None:
        self.members = [m for m in self.members if m is not agent]
        self._reader = None
        if not self.members and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        if self._reader is None:
            self._reader = VmStatReader([m.guest for m in self.members])
            by_class: dict[type[PollingAgent], list[int]] = {}
            for i, m in enumerate(self.members):
                by_class.setdefault(type(m), []).append(i)
            self._groups = [(k, [self.members[i] for i in idx], np.array(idx))
                            for k, idx in by_class.items()]
        columns = self._reader.read()
        for kind, agents, rows in self._groups:
            kind.poll_all(agents, {name: col[rows] for name, col in columns.items()})
        if self.members:
            self._timer = self.sim.call_later(self.interval, self._tick)
        else:
            self._timer = None


class PollingAgent:
    """An agent that samples its guest's ``/proc/meminfo`` at start and then every
    ``interval`` seconds (on the shared `AgentTicker`)."""

    name: ClassVar[str] = ""
    interval: float = 1.0

    def __init__(self) -> None:
        self.guest: Guest | None = None
        self.xs: Any = None
        self.writes = 0
        self._ticker: AgentTicker | None = None
        self._unregister: Any = None

    def start(self, guest: Guest) -> None:
        """Run in ``guest``: connect to xenstore as the guest, join the shared timer."""
        if not isinstance(guest, Guest):
            raise InvalidType(f"agents run in a Guest, not {type(guest).__name__}")
        guest.require_alive()
        if self.guest is not None:
            raise InvalidArgument(f"{self.name} already runs in domain "
                                  f"{self.guest.domain.domid}")
        self.guest = guest
        self.xs = guest.domain.xenstore.connect(guest.domain.domid)
        self._unregister = guest.domain.destroy_chain.register(lambda _d: self.stop())
        self.started()
        if self.guest is not None:  # the first loop runs at once, as the daemons' loops do
            type(self).poll_all([self], VmStatReader([guest]).read())
        if self.guest is not None:  # a failed write may have made it exit
            self._ticker = AgentTicker.of(guest, self.interval)
            self._ticker.add(self)

    def started(self) -> None:
        """What the agent does once at start (before its first period)."""

    def stop(self) -> None:
        """End the agent (the nodes it wrote stay)."""
        if self._ticker is not None:
            self._ticker.remove(self)
            self._ticker = None
        if self._unregister is not None:
            self._unregister()
            self._unregister = None
        self.guest = None

    def write(self, node: str, value: str) -> bool:
        """Write through the guest's connection; False (logged by the caller) if refused."""
        try:
            self.xs.write(node, value)
        except (PermissionError, KeyError, OSError):
            return False
        self.writes += 1
        return True

    @classmethod
    def poll_all(cls, agents: Sequence[PollingAgent], columns: dict[str, np.ndarray]) -> None:
        """One period for ``agents`` (``columns``: their `VmStatReader` rows, in order)."""
        for i, agent in enumerate(agents):
            agent.poll({name: int(col[i]) for name, col in columns.items()})

    def poll(self, stat: dict[str, int]) -> None:
        """One period for this agent (``stat``: its guest's metrics, pages)."""


class MeminfoWriter(PollingAgent):
    """Qubes's ``meminfo-writer threshold_kb delay_us`` (qubes-linux-utils ``qmemman/``).

    At start and every ``interval`` (the services pass 100000 us) it computes used memory, KiB:
    MemTotal - Buffers - Cached - MemFree + SwapTotal - SwapFree, where MemTotal is the
    balloon's ``info/current_kb`` when that is non-zero, and writes it to ``memory/meminfo``
    as a decimal string when it is the first sample, when it moved by more than
    ``threshold_kb`` (30000) from the last value written, or when it rose by more than half
    the threshold while ``used * 1.3`` exceeds MemTotal (qmemman's cache factor: the guest
    nears its allocation).  A negative result is never written.  A refused write logs
    "error writing meminfo to xenstore ?" and the daemon exits, as the C one does.

    Deviation: the VM service waits for qrexec's SIGUSR1 before its first sample; this
    one starts sampling at once.  Qubes makes ``memory/meminfo`` guest-writable
    (`xenballoon.policies.qmemman.create_xs_entries`); under plain libxl the write fails.
    """

    name = "meminfo-writer"

    def __init__(self, *, threshold_kb: int = 30000, interval: float = 0.1) -> None:
        super().__init__()
        if isinstance(threshold_kb, bool) or not isinstance(threshold_kb, int) \
                or threshold_kb < 0:
            raise InvalidArgument(f"threshold_kb must be a non-negative integer, "
                                  f"got {threshold_kb!r}")
        self.threshold_kb = threshold_kb
        self.interval = _positive(interval, "interval")
        self.prev_used_kb = 0

    def current_kb(self) -> int:
        """The balloon's ``info/current_kb`` (0 without a balloon driver)."""
        balloon = None if self.guest is None else self.guest.balloon
        return 0 if balloon is None else int(balloon.current_pages) * KIB

    @classmethod
    def poll_all(cls, agents: Sequence[PollingAgent], columns: dict[str, np.ndarray]) -> None:
        writers = [a for a in agents if isinstance(a, MeminfoWriter)]
        current = np.array([w.current_kb() for w in writers], dtype=np.int64)
        total = np.where(current > 0, current, columns["totalram_pages"] * KIB)
        used = total - (columns["file_pages"] + columns["free_pages"]
                        - columns["swap_used"]) * KIB  # Buffers are 0 in the model
        prev = np.array([w.prev_used_kb for w in writers], dtype=np.int64)
        threshold = np.array([w.threshold_kb for w in writers], dtype=np.int64)
        diff = np.abs(used - prev)
        rising = (used > prev) & (used * 13 // 10 > total) & (diff > threshold // 2)
        due = (used >= 0) & ((prev == 0) | (diff > threshold) | rising)
        for i in np.flatnonzero(due).tolist():
            writers[i].publish(int(used[i]))

    def publish(self, used_kb: int) -> None:
        if self.write("memory/meminfo", str(used_kb)):
            self.prev_used_kb = used_kb
            return
        domid = self.guest.domain.domid if self.guest is not None else -1
        log.error("domain %d: meminfo-writer: error writing meminfo to xenstore ?", domid)
        self.stop()  # exit(1)


def _go_time(seconds: float) -> str:
    """Go's ``time.Format("Mon Jan _2 15:04:05 2006")`` of simulated seconds since the epoch."""
    t = time.gmtime(seconds)
    return f"{time.strftime('%a %b', t)} {t.tm_mday:2d} {time.strftime('%H:%M:%S %Y', t)}"


class XeDaemon(PollingAgent):
    """XenServer / XCP-ng's ``xe-daemon`` (xe-guest-utilities, Go).

    At start it writes ``control/feature-balloon`` = ``"1"`` (``-B``; ``feature_balloon=
    False`` writes ``"0"``); a refused write (EACCES under libxl, whose ``~/control`` is
    read-only to the guest) is logged and the daemon carries on.  Every ``interval`` (``-i``,
    60 s, the first at start) it runs its collectors; the memory one has divisor 2, so
    every second loop (the first included) it reports ``data/meminfo_total`` = MemTotal and
    ``data/meminfo_free`` = MemAvailable, KiB, as ``/proc/meminfo`` has them.  Writes are
    cached: an unchanged value is not rewritten.  ``data/updated`` = the time (Go's
    ``"Mon Jan _2 15:04:05 2006"``, of simulated seconds since the epoch) after every loop.
    """

    name = "xe-daemon"
    memory_divisor = 2

    def __init__(self, *, interval: float = 60.0, feature_balloon: bool = True) -> None:
        super().__init__()
        self.interval = _positive(interval, "interval")
        self.feature_balloon = bool(feature_balloon)
        self.loops = 0
        self.cache: dict[str, str] = {}

    def started(self) -> None:
        value = "1" if self.feature_balloon else "0"
        if not self.write("control/feature-balloon", value):
            log.warning("domain %d: xe-daemon: cannot write control/feature-balloon: "
                        "permission denied (EACCES)", self.guest.domain.domid if self.guest
                        else -1)

    def cached_write(self, node: str, value: str) -> bool:
        if self.cache.get(node) == value:
            return True
        if self.write(node, value):
            self.cache[node] = value
            return True
        return False

    def poll(self, stat: dict[str, int]) -> None:
        ok = True
        if self.loops % self.memory_divisor == 0:
            ok &= self.cached_write("data/meminfo_total", str(stat["totalram_pages"] * KIB))
            ok &= self.cached_write("data/meminfo_free", str(stat["mem_available"] * KIB))
        self.loops += 1
        if ok and self.guest is not None:
            self.write("data/updated", _go_time(self.guest.sim.now))


class XenGuestAgent(PollingAgent):
    """XCP-ng's Rust ``xen-guest-agent`` (its ``std`` xenstore schema).

    At start: ``data/meminfo_total`` (MemTotal, KiB) once and ``control/feature-balloon`` =
    ``"1"`` (on EACCES it logs and never retries); then ``data/meminfo_free`` (MemAvailable,
    KiB) at start and every ``interval`` (60 s).  No ``data/updated``.
    """

    name = "xen-guest-agent"

    def __init__(self, *, interval: float = 60.0) -> None:
        super().__init__()
        self.interval = _positive(interval, "interval")

    def started(self) -> None:
        assert self.guest is not None
        self.write("data/meminfo_total", str(self.guest.totalram_pages * KIB))
        if not self.write("control/feature-balloon", "1"):
            log.warning("domain %d: xen-guest-agent: cannot advertise ballooning "
                        "(control/feature-balloon): permission denied", self.guest.domain.domid)

    def poll(self, stat: dict[str, int]) -> None:
        self.write("data/meminfo_free", str(stat["mem_available"] * KIB))


class NoAgent:
    """No agent: the guest publishes nothing (a plain Linux guest)."""

    name = "none"

    def __init__(self) -> None:
        self.guest: Guest | None = None

    def start(self, guest: Guest) -> None:
        self.guest = guest

    def stop(self) -> None:
        self.guest = None


AGENTS: dict[str, type[Any]] = {
    "qmemman": MeminfoWriter, "meminfo-writer": MeminfoWriter,
    "xapi": XeDaemon, "xe-daemon": XeDaemon,
    "xen-guest-agent": XenGuestAgent, "none": NoAgent,
}


def attach_agent(guest: Guest, kind: str, **params: Any) -> Agent:
    """Start the agent ``kind`` (a key of `AGENTS`) in ``guest``; returns it."""
    if kind not in AGENTS:
        raise InvalidArgument(f"unknown agent {kind!r}; choose one of {sorted(AGENTS)}")
    agent: Agent = AGENTS[kind](**params)
    agent.start(guest)
    return agent
