"""The simulated clock: a deterministic discrete-event loop (jiffies, timers).

A heap of ``(when, seq, timer)``; the sequence number makes events at the same
time run in the order they were scheduled.  The wall clock is never read.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable

from ..errors import InvalidArgument, InvalidType

__all__ = ["Simulation", "Timer"]


class Timer:
    """A scheduled call; ``cancel()`` stops it from running (idempotent)."""

    __slots__ = ("when", "fn", "cancelled")

    def __init__(self, when: float, fn: Callable[[], object]) -> None:
        self.when = when
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __repr__(self) -> str:
        state = " cancelled" if self.cancelled else ""
        return f"<Timer at {self.when:g}s{state}>"


def _check_time(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidType(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value):
        raise InvalidArgument(f"{name} must be finite, got {value!r}")
    return float(value)


class Simulation:
    """The simulated clock and event queue shared by a hypervisor and its guests."""

    def __init__(self, hz: int = 250) -> None:
        if isinstance(hz, bool) or not isinstance(hz, int) or hz < 1:
            raise InvalidArgument(f"hz must be a positive integer, got {hz!r}")
        self.hz = hz
        self._now = 0.0
        self._queue: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._until: float | None = None
        self._running = 0  # nesting depth of run()

    @property
    def now(self) -> float:
        """Simulated seconds since the start."""
        return self._now

    @property
    def jiffies(self) -> int:
        """Timer ticks since the start (``now * hz``, rounded down)."""
        # NOTE: the epsilon keeps k/hz seconds at exactly k jiffies despite float rounding.
        return int(self._now * self.hz + 1e-6)

    def call_at(self, when: float, fn: Callable[[], object]) -> Timer:
        """Run ``fn()`` at simulated time ``when`` (not in the past)."""
        when = _check_time(when, "when")
        if when < self._now:
            raise InvalidArgument(f"cannot schedule at {when:g}s, before now ({self._now:g}s)")
        if not callable(fn):
            raise InvalidType("fn must be callable")
        return self.enqueue(when, fn)

    def enqueue(self, when: float, fn: Callable[[], object]) -> Timer:
        """Queue ``fn`` at ``when`` without checks: for callers whose arguments are known valid.

        NOTE: no argument checks, for performance reasons (delayed work queues itself here).
        """
        timer = Timer(when, fn)
        heapq.heappush(self._queue, (when, next(self._seq), timer))
        return timer

    def call_later(self, delay: float, fn: Callable[[], object]) -> Timer:
        """Run ``fn()`` ``delay`` simulated seconds from now."""
        delay = _check_time(delay, "delay")
        if delay < 0:
            raise InvalidArgument(f"delay must not be negative, got {delay:g}")
        return self.call_at(self._now + delay, fn)

    def run(self, until: float | None = None) -> None:
        """Run events in time order up to and including ``until`` (all of them if None)."""
        if until is not None:
            until = _check_time(until, "until")
            if until < self._now:
                raise InvalidArgument(f"cannot run until {until:g}s, before now ({self._now:g}s)")
        queue = self._queue
        self._until = until
        self._running += 1
        try:
            while queue:
                when, _, timer = queue[0]
                if until is not None and when > until:
                    break
                heapq.heappop(queue)
                if timer.cancelled:
                    continue
                self._now = when
                timer.fn()
        finally:
            self._running -= 1
        if until is not None:
            self._now = until

    def advance(self, seconds: float) -> None:
        """``run(until=now + seconds)``."""
        seconds = _check_time(seconds, "seconds")
        if seconds < 0:
            raise InvalidArgument(f"cannot advance by a negative time ({seconds:g}s)")
        self.run(self._now + seconds)

    @property
    def until(self) -> float | None:
        """The ``until`` of the latest run(): where it stops, and time can be observed."""
        return self._until

    @property
    def running(self) -> bool:
        """An event is running now (code that would block must not run the loop again)."""
        return self._running > 0

    def next_event_time(self) -> float | None:
        """When the earliest pending (not cancelled) event is due; None if there is none."""
        queue = self._queue
        while queue and queue[0][2].cancelled:  # reached: dropped as run() would drop it
            heapq.heappop(queue)
        return queue[0][0] if queue else None

    @property
    def pending(self) -> int:
        """Events still queued (cancelled ones included until they are reached)."""
        return len(self._queue)

    def __repr__(self) -> str:
        return f"<Simulation t={self._now:g}s hz={self.hz} pending={len(self._queue)}>"

