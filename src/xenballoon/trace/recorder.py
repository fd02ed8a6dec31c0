"""Recording a run into preallocated arrays, with no Python object per sample per domain.

A domain's balloon numbers change only when its worker runs, so the recorder keeps one
"live" column per domain: the balloon's listener marks the domain dirty after each run, and a
sample re-reads the dirty domains only, then copies the live columns of every domain into the
next row with one numpy assignment per metric.  The cost is in proportion to the work done
(worker runs), plus a copy per sample.  `read_balloon` is the one place that reads a
balloon's numbers: a batched core call (the stats of many guests into one array) would
replace its loop when sampling must pull rather than be pushed (e.g. the guest model's
counters, which change at every workload step).  Those (`GUEST_METRICS`, and the running
totals the summary reports, `GUEST_TOTALS`) are pulled at each sample for every running guest
with one `VmStatReader` call, rebuilt only when a guest boots or goes.

Along the way it keeps what the summary needs: the host's lowest free count (checked after
every worker run and every timeline event, so a dip between samples is not missed), each
balloon's worker runs that did not end DONE (the event log), and when each new target was
reached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..driver import BalloonDriver, BPState
from ..linux import MEM_ONLINE, MemoryBlock, VmStatReader
from ..units import PAGES_PER_MIB
from ..xen import Hypervisor
from .io import BALLOON_METRICS, GUEST_METRICS, NOT_RUNNING, PAGE_METRICS, Event, Trace

__all__ = ["GUEST_TOTALS", "Recorder", "TargetEpisode", "read_balloon"]

# The guest model's counters the summary reports per domain (`xenballoon.linux.vmstat`).
GUEST_TOTALS = ("oom_kills", "pswpout", "pswpin", "refaults", "unmet_anon_page_seconds",
                "pressure_seconds", "balloon_reclaimed")
GUEST_ROWS = len(BALLOON_METRICS)  # the guest metrics' first row in the live columns

DONE = int(BPState.DONE)


def _mib(pages: int) -> str:
    return f"{int(pages) / PAGES_PER_MIB:,.4g}"


@dataclass
class TargetEpisode:
    """A target a domain was given, when, and when its balloon first reached it."""

    target_pages: int
    set_at: float
    reached_at: float | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.reached_at is None else self.reached_at - self.set_at


def read_balloon(balloon: BalloonDriver, out: np.ndarray, column: int) -> int:
    """Store the balloon's ``PAGE_METRICS`` in ``out[:, column]``; return its state value."""
    s = balloon.stats
    out[0, column] = s.target_pages
    out[1, column] = s.current_pages
    out[2, column] = s.balloon_low
    out[3, column] = s.balloon_high
    return int(balloon.state)


class Recorder:
    """Samples of every named domain and of the host, at the given ``times``."""

    def __init__(self, hypervisor: Hypervisor, domains: Sequence[str], times: np.ndarray,
                 events: list[Event]) -> None:
        n, d = len(times), len(domains)
        self.hv = hypervisor
        self.domains = tuple(domains)
        self.column = {name: i for i, name in enumerate(self.domains)}
        self.times = np.asarray(times, dtype=np.float64)
        self.events = events
        self.live = np.zeros((len(PAGE_METRICS), d), dtype=np.uint32)
        self.live_state = np.full(d, NOT_RUNNING, dtype=np.int8)
        self.pages = np.zeros((len(PAGE_METRICS), n, d), dtype=np.uint32)
        self.state = np.full((n, d), NOT_RUNNING, dtype=np.int8)
        self.host_free = np.zeros(n, dtype=np.uint64)
        self.nr_samples = 0
        self.min_free_pages = hypervisor.free_pages
        self.episodes: dict[str, list[TargetEpisode]] = {name: [] for name in self.domains}
        self.balloons: dict[int, BalloonDriver] = {}
        self.dirty: set[int] = set()
        self.busy: set[int] = set()        # a target was written; its worker may be mid-run
        self.by_domid: dict[int, int] = {}
        self.totals = np.zeros((len(GUEST_TOTALS), d), dtype=np.float64)
        self.reader: VmStatReader | None = None
        self.reader_columns: slice | np.ndarray = slice(None)
        self.stepping = False     # some guest runs a workload: its counters move every step
        self.guests_moved = True  # a worker ran since the last read
        self.watch = hypervisor.xenstore.watch("/local/domain", self.node_written)

    # --- pushed by the world -----------------------------------------------------------------
    def attach(self, name: str, balloon: BalloonDriver) -> None:
        """Follow a domain's balloon from now on (at boot)."""
        column = self.column[name]
        self.balloons[column] = balloon
        self.reader = None
        self.by_domid[balloon.guest.domain.domid] = column
        balloon.add_listener(lambda b: self.worker_ran(column, b))
        if balloon.hotplug:
            balloon.guest.hotplug.register_memory_notifier(
                lambda event, block: self.block_event(name, event, block))
        self.live_state[column] = read_balloon(balloon, self.live, column)
        self.note_target(column, int(self.live[0, column]), int(self.live[1, column]))

    def block_event(self, name: str, event: int, block: MemoryBlock) -> None:
        """Log a memory block of a hotplug guest coming online."""
        if event == MEM_ONLINE:
            self.events.append(Event(self.hv.sim.now, name, "hotplug", f"memory{block.id} "
                                     f"online +{_mib(block.nr_pages)} MiB"))

    def worker_ran(self, column: int, balloon: BalloonDriver) -> None:
        """After each worker run: the state, the target's progress; the full stats wait for
        the next sample (NOTE: a snapshot of every stat per run costs more than the run of a
        small balloon, for performance reasons only the dirty mark is kept here)."""
        old = int(self.live_state[column])
        state = int(balloon.state)
        self.live_state[column] = state
        self.dirty.add(column)
        self.guests_moved = True
        current = balloon.current_pages
        target = current + balloon.credit
        self.note_target(column, target, current)
        if state != DONE or old != DONE:
            self.events.append(Event(self.hv.sim.now, self.domains[column], "balloon",
                                     f"{BPState(state).name}: current {_mib(current)} of "
                                     f"target {_mib(target)} MiB"))

    def node_written(self, path: str) -> None:
        """A ``memory/target`` write: the new target starts now, and until the worker is
        done its progress is re-read at each sample (with a cost model a run spans time)."""
        if not path.endswith("/memory/target"):
            return
        column = self.by_domid.get(int(path.split("/")[3]))
        balloon = None if column is None else self.balloons.get(column)
        if column is not None and balloon is not None:
            self.busy.add(column)
            current = balloon.current_pages
            self.note_target(column, current + balloon.credit, current)

    def note_target(self, column: int, target: int, current: int) -> None:
        """Open an episode for a new target; close it when current first reaches it."""
        episodes = self.episodes[self.domains[column]]
        now = self.hv.sim.now
        if not episodes or episodes[-1].target_pages != target:
            episodes.append(TargetEpisode(target, now))
        if episodes[-1].reached_at is None and current == target:
            episodes[-1].reached_at = now
        self.min_free_pages = min(self.min_free_pages, self.hv.free_pages)

    def gone(self, name: str) -> None:
        """The domain was destroyed: its columns read as not running from now on."""
        column = self.column[name]
        self.dirty.discard(column)
        self.busy.discard(column)
        self.balloons.pop(column, None)
        self.reader = None
        self.live[:, column] = 0
        self.live_state[column] = NOT_RUNNING

    def host_changed(self) -> None:
        """After a timeline event (it may have changed a workload): re-check the guests."""
        self.reader = None
        self.min_free_pages = min(self.min_free_pages, self.hv.free_pages)

    # --- pulled at each sample ---------------------------------------------------------------
    def read_guests(self) -> None:
        """The guest model's metrics and totals of every running guest, in one core call;
        skipped when no guest runs a workload and no worker ran since the last read."""
        if self.reader is None:
            columns = sorted(self.balloons)
            # every domain running (the common case): a slice, cheaper than fancy indexing
            self.reader_columns = slice(None) if len(columns) == len(self.domains) else \
                np.array(columns, dtype=np.intp)
            self.reader = VmStatReader([self.balloons[c].guest for c in columns])
            self.stepping = any(g.workload is not None for g in self.reader.guests)
            self.guests_moved = True
        if not (self.stepping or self.guests_moved) or not self.reader.guests:
            return  # nothing moved the guests' counters since the last read
        self.guests_moved = False
        stats, at = self.reader.read(), self.reader_columns
        for row, name in enumerate(GUEST_METRICS, start=GUEST_ROWS):
            self.live[row, at] = stats[name]
        for row, name in enumerate(GUEST_TOTALS):
            self.totals[row, at] = stats[name]

    def sample(self) -> None:
        """Copy the live columns and the host's free count into the next row."""
        k = self.nr_samples
        free = self.hv.free_pages
        for column in self.dirty:  # the domains whose worker ran since the last sample
            read_balloon(self.balloons[column], self.live, column)
        self.dirty.clear()
        for column in tuple(self.busy):  # and those whose run may be spanning time
            balloon = self.balloons.get(column)
            if balloon is None or not (balloon.work_running or balloon.work_pending):
                self.busy.discard(column)
            else:
                read_balloon(balloon, self.live, column)
        self.read_guests()
        self.pages[:, k, :] = self.live
        self.state[k] = self.live_state
        self.host_free[k] = free
        self.min_free_pages = min(self.min_free_pages, free)
        self.nr_samples = k + 1

    def trace(self) -> Trace:
        """The samples taken so far as a `Trace` (views, no copies)."""
        k = self.nr_samples
        return Trace(self.times[:k], self.domains,
                     {name: self.pages[i, :k] for i, name in enumerate(PAGE_METRICS)},
                     self.state[:k], self.host_free[:k], self.events)
