"""The simulated clock in plain Python: the reference twin of the compiled loop.

``xenballoon.sim.clock`` picks this one under ``XENBALLOON_BACKEND=python`` and the
compiled one (``cloop``, on ``csrc/sim/clock.c``) otherwise; both keep the semantics
below, and tests/test_clock_twins.py runs the same random programs through both.

Events are bucketed by time: a dict from each pending time to the list of its timers, in
the order they were scheduled, and a heap of the distinct times.  Simulated events mostly
fall on the same instants (whole jiffies, the same backoff delays), so scheduling is
usually one dict lookup and a list append, and the heap holds only the distinct times:
its cost does not grow with the number of timers.  Same-time events run in the order they
were scheduled (FIFO); an event scheduled for the current instant runs in this instant,
after the ones already queued for it.

A cancelled timer drops its callback at once; its empty slot stays in its bucket until
the loop reaches it or, when cancelled slots are more than half of all, the queue is
compacted.  The wall clock is never read.

Threads: the simulation owns its world's lock (`Simulation.lock`, see
`xenballoon.sim.lock`).  `run` holds it while it runs events; `call_at`/`call_later`
take it unless called from an event (whose thread holds it already).  `run` may not
be re-entered from a callback: time would go backwards.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from heapq import heapify, heappop, heappush
from operator import length_hint
from threading import get_ident

from ..errors import InvalidArgument, InvalidType, ReentrancyError

__all__ = ["Simulation", "Timer"]

_INF = math.inf
# Compaction is considered once this many cancelled slots are queued, then as often as a
# quarter of the queue's slots more have been cancelled (amortised O(1) per cancel).
_COMPACT_MIN = 64


class Timer:
    """A scheduled call; ``cancel()`` stops it from running (idempotent).

    ``fn`` is the callback while the timer is pending, None once it ran or was cancelled
    (a cancelled timer holds nothing: what its callback referenced can be freed at once).
    """

    __slots__ = ("sim", "when", "fn")

    def __init__(self, sim: Simulation, when: float, fn: Callable[[], object] | None) -> None:
        self.sim: Simulation | None = sim  # None once cancelled
        self.when = when
        self.fn = fn

    @property
    def cancelled(self) -> bool:
        return self.sim is None

    @property
    def pending(self) -> bool:
        """Queued and neither run nor cancelled."""
        return self.fn is not None

    def cancel(self) -> None:
        sim = self.sim
        if self.fn is None or sim is None:  # ran, or already cancelled
            return
        sim.lock.acquire()
        try:
            if self.fn is not None:
                self.fn = None
                self.sim = None
                sim._cancelled_one()
        finally:
            sim.lock.release()

    def __repr__(self) -> str:
        state = " cancelled" if self.cancelled else "" if self.fn is not None else " done"
        return f"<Timer at {self.when:g}s{state}>"


_new_timer = object.__new__


def _check_time(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidType(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value):
        raise InvalidArgument(f"{name} must be finite, got {value!r}")
    return float(value)


class Simulation:
    """The simulated clock and event queue shared by a hypervisor and its guests.

    ``lock``: the world's lock (an `threading.RLock`): every public call of the hypervisor,
    its guests, balloons and xenstore holds it, and so does `run`.  Hold it yourself
    (``with sim.lock:``) to make several calls one atomic step.
    """

    def __init__(self, hz: int = 250) -> None:
        if isinstance(hz, bool) or not isinstance(hz, int) or hz < 1:
            raise InvalidArgument(f"hz must be a positive integer, got {hz!r}")
        self.hz = hz
        self.lock = threading.RLock()
        self._now = 0.0
        self._times: list[float] = []             # heap of the distinct pending times
        self._buckets: dict[float, list[Timer]] = {}
        self._cancelled = 0                        # cancelled slots still in buckets
        self._compact_at = _COMPACT_MIN
        self._runner: int | None = None            # the thread running `run`, if any
        self._until: float | None = None           # the `until` of the latest run

    @property
    def now(self) -> float:
        """Simulated seconds since the start."""
        return self._now

    @property
    def jiffies(self) -> int:
        """Timer ticks since the start (``now * hz``, rounded down)."""
        # NOTE: the epsilon keeps k/hz seconds at exactly k jiffies despite float rounding.
        return int(self._now * self.hz + 1e-6)

    @property
    def until(self) -> float | None:
        """The ``until`` of the latest run(): where it stops, and time can be observed."""
        return self._until

    @property
    def running(self) -> bool:
        """`run` is running events (in some thread)."""
        return self._runner is not None

    def call_at(self, when: float, fn: Callable[[], object]) -> Timer:
        """Run ``fn()`` at simulated time ``when`` (not in the past)."""
        lock = None
        if self._runner != get_ident():  # not from an event: take the lock (re-entrant)
            lock = self.lock
            lock.acquire()
        try:
            if type(when) is not float:
                when = _check_time(when, "when")
            if not self._now <= when < _INF:
                _check_time(when, "when")
                raise InvalidArgument(
                    f"cannot schedule at {when:g}s, before now ({self._now:g}s)")
            if not callable(fn):
                raise InvalidType("fn must be callable")
            return self.enqueue(when, fn)
        finally:
            if lock is not None:
                lock.release()

    def call_later(self, delay: float, fn: Callable[[], object]) -> Timer:
        """Run ``fn()`` ``delay`` simulated seconds from now."""
        # NOTE: the lock test, the checks, the timer and the queueing are inlined, and the
        # timer is built without calling __init__: this is the hot path of every callback.
        lock = None
        if self._runner != get_ident():  # not from an event: take the lock (re-entrant)
            lock = self.lock
            lock.acquire()
        try:
            if type(delay) is not float:
                delay = _check_time(delay, "delay")
            if not 0.0 <= delay < _INF:
                _check_time(delay, "delay")
                raise InvalidArgument(f"delay must not be negative, got {delay:g}")
            if not callable(fn):
                raise InvalidType("fn must be callable")
            when = self._now + delay
            timer = _new_timer(Timer)
            timer.sim = self
            timer.when = when
            timer.fn = fn
            bucket = self._buckets.get(when)
            if bucket is None:
                self._buckets[when] = [timer]
                heappush(self._times, when)
            else:
                bucket.append(timer)
            return timer
        finally:
            if lock is not None:
                lock.release()

    def enqueue(self, when: float, fn: Callable[[], object]) -> Timer:
        """Queue ``fn`` at ``when`` without checks; the caller holds `lock`.

        NOTE: no argument checks, for performance reasons (for callers whose arguments are
        known valid).
        """
        timer = Timer(self, when, fn)
        bucket = self._buckets.get(when)
        if bucket is None:
            self._buckets[when] = [timer]
            heappush(self._times, when)
        else:
            bucket.append(timer)
        return timer

    def requeue(self, timer: Timer, when: float, fn: Callable[[], object]) -> None:
        """Queue an idle timer again (one that ran: not pending, not cancelled) at ``when``.

        For an owner that reuses one timer (delayed work), so that an event allocates
        nothing.  The caller holds `lock`; only the timer's state is checked.
        """
        if timer.fn is not None or timer.sim is not self:  # queued twice, or run once cancelled
            raise InvalidArgument("requeue: the timer must be idle (not pending, not "
                                  "cancelled) and of this simulation")
        timer.when = when
        timer.fn = fn
        bucket = self._buckets.get(when)
        if bucket is None:
            self._buckets[when] = [timer]
            heappush(self._times, when)
        else:
            bucket.append(timer)

    def run(self, until: float | None = None) -> None:
        """Run events in time order up to and including ``until`` (all of them if None).

        ``now`` ends at ``until`` when given, else at the last event run.  Raises
        `ReentrancyError` when called from an event (a callback or a listener): the inner
        run would move time past events the outer one has still to run.
        """
        lock = self.lock
        lock.acquire()
        try:
            if self._runner is not None:  # we hold the lock: it is this thread
                raise ReentrancyError(
                    f"Simulation.run() called from an event at {self._now:g}s: run may not "
                    "be re-entered (time would go backwards); schedule the work instead")
            if until is not None:
                until = _check_time(until, "until")
                if until < self._now:
                    raise InvalidArgument(
                        f"cannot run until {until:g}s, before now ({self._now:g}s)")
            self._runner = get_ident()
            self._until = until
            try:
                self._run(_INF if until is None else until)
            finally:
                self._runner = None
            if until is not None:
                self._now = until
        finally:
            lock.release()

    def _run(self, limit: float) -> None:
        times, buckets = self._times, self._buckets
        last = self._now  # the last instant that ran an event
        while times:
            when = times[0]
            if when > limit:
                break
            self._now = when
            bucket = buckets[when]
            # The list iterator also reaches timers appended for this instant by the
            # callbacks themselves.  (A reused timer may sit in a bucket twice: once run,
            # once pending; only the iterator knows which slot is being run.)
            slots = iter(bucket)
            skipped = 0  # cancelled slots
            try:
                for timer in slots:
                    fn = timer.fn
                    if fn is not None:
                        timer.fn = None
                        fn()
                    else:
                        skipped += 1
            except BaseException:
                # The timers after the one that raised stay queued, in order.
                self._cancelled -= skipped
                del bucket[: len(bucket) - length_hint(slots)]
                if not bucket:
                    heappop(times)
                    del buckets[when]
                raise
            self._cancelled -= skipped
            if skipped == len(bucket):  # only cancelled slots: no event ran at `when`
                self._now = last
            else:
                last = when
            heappop(times)
            del buckets[when]

    def advance(self, seconds: float) -> None:
        """``run(until=now + seconds)``."""
        seconds = _check_time(seconds, "seconds")
        if seconds < 0:
            raise InvalidArgument(f"cannot advance by a negative time ({seconds:g}s)")
        self.run(self._now + seconds)

    def next_event_time(self) -> float | None:
        """When the earliest pending (not cancelled) event runs; None if there is none."""
        with self.lock:
            times, buckets = self._times, self._buckets
            # Drop leading buckets that hold only cancelled slots (not the running one).
            # (A slot of the running instant may be spent: its reused timer is queued
            # again, at the time in its `when`.)
            while times:
                when = times[0]
                bucket = buckets[when]
                for timer in bucket:
                    if timer.fn is not None and timer.when == when:
                        return when
                if self._runner is not None and when == self._now:
                    break
                heappop(times)
                del buckets[when]
                self._cancelled -= len(bucket)
            # Running, and this instant has nothing left: the earliest of the others.
            later = [w for w in times if w != self._now and
                     any(t.fn is not None for t in buckets[w])]
            return min(later, default=None)

    def _cancelled_one(self) -> None:
        """Count one more cancelled slot; compact when they are more than half the queue.

        Called by `Timer.cancel` with the lock held.  Compaction leaves the bucket being
        run (if any) alone: its loop is iterating it.
        """
        self._cancelled += 1
        if self._cancelled < self._compact_at:
            return
        buckets = self._buckets
        slots = sum(map(len, buckets.values()))
        if 2 * self._cancelled > slots:
            running = self._now if self._runner is not None else None
            removed = 0
            for when in list(buckets):
                if when == running:
                    continue
                bucket = buckets[when]
                live = [t for t in bucket if t.fn is not None]
                removed += len(bucket) - len(live)
                if live:
                    bucket[:] = live
                else:
                    del buckets[when]
            self._cancelled -= removed
            slots -= removed
            self._times[:] = list(buckets)
            heapify(self._times)
        self._compact_at = self._cancelled + max(_COMPACT_MIN, slots // 4)

    @property
    def pending(self) -> int:
        """Events queued and neither run nor cancelled."""
        with self.lock:  # (a reused timer may have a spent slot too: count timers)
            return len({id(t) for bucket in self._buckets.values() for t in bucket
                        if t.fn is not None})

    @property
    def queued(self) -> int:
        """Slots in the queue: pending events plus cancelled ones not yet dropped."""
        return sum(map(len, self._buckets.values()))

    def __repr__(self) -> str:
        return f"<Simulation t={self._now:g}s hz={self.hz} pending={self.pending}>"
