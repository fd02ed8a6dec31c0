"""Linux delayed work (``include/linux/workqueue.h``) on the plain-Python clock.

The reference twin of the compiled ``DelayedWork`` (``csrc/sim/clock.c``); which one
``xenballoon.sim.work`` exports follows ``XENBALLOON_BACKEND``, as the clock does.
"""

from __future__ import annotations

from collections.abc import Callable

from .pyloop import Simulation, Timer

__all__ = ["DelayedWork"]


class DelayedWork:
    """``struct delayed_work``: queueing a pending item does nothing; it may requeue itself.

    The item runs as an ordinary event of the simulation, so it never runs twice at
    once; while it runs it is no longer pending, so it can be queued again.  It reuses
    one `Timer` for every run (a new one only after a cancel), so a run allocates nothing.
    Its callers hold the world's lock (`Simulation.lock`): the driver's public calls take
    it, and events run under it.
    """

    __slots__ = ("sim", "fn", "_timer", "running", "_run_bound")

    def __init__(self, sim: Simulation, fn: Callable[[], object]) -> None:
        self.sim = sim
        self.fn = fn
        self._timer = Timer(sim, 0.0, None)  # idle: not queued
        self.running = False
        self._run_bound = self._run

    @property
    def pending(self) -> bool:
        return self._timer.fn is not None

    @property
    def expires(self) -> float | None:
        """When the pending item will run, or None."""
        timer = self._timer
        return timer.when if timer.fn is not None else None

    def schedule(self, delay_jiffies: int) -> bool:
        """``schedule_delayed_work``: False (and no change) if already pending.

        The timer expires on a tick, at ``jiffies + delay_jiffies`` with ``jiffies =
        floor(now * hz)`` (``__queue_delayed_work``: ``timer->expires = jiffies + delay``);
        a delay of 0 queues the work at once.
        """
        timer = self._timer
        if timer.fn is not None:
            return False
        # NOTE: no argument checks (a jiffies count from the driver) for performance reasons.
        sim = self.sim
        now = sim.now
        when = now if delay_jiffies == 0 else max(now, (sim.jiffies + delay_jiffies) / sim.hz)
        sim.requeue(timer, when, self._run_bound)
        return True

    def cancel(self) -> bool:
        """``cancel_delayed_work``: True if it was pending."""
        timer = self._timer
        if timer.fn is None:
            return False
        timer.cancel()  # drops the callback at once
        self._timer = Timer(self.sim, 0.0, None)
        return True

    def _run(self) -> None:
        self.running = True
        try:
            self.fn()
        finally:
            self.running = False
