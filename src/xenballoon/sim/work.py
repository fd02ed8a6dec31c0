"""Linux delayed work (``include/linux/workqueue.h``) on the simulated clock."""

from __future__ import annotations

from collections.abc import Callable

from .clock import Simulation, Timer

__all__ = ["DelayedWork"]


class DelayedWork:
    """``struct delayed_work``: queueing a pending item does nothing; it may requeue itself.

    The item runs as an ordinary event of the simulation, so it never runs twice at
    once; while it runs it is no longer pending, so it can be queued again.
    """

    __slots__ = ("sim", "fn", "_timer", "running")

    def __init__(self, sim: Simulation, fn: Callable[[], object]) -> None:
        self.sim = sim
        self.fn = fn
        self._timer: Timer | None = None
        self.running = False

    @property
    def pending(self) -> bool:
        return self._timer is not None

    @property
    def expires(self) -> float | None:
        """When the pending item will run, or None."""
        return None if self._timer is None else self._timer.when

    def schedule(self, delay_jiffies: int) -> bool:
        """``schedule_delayed_work``: False (and no change) if already pending.

        The timer expires on a tick, at ``jiffies + delay_jiffies`` with ``jiffies =
        floor(now * hz)`` (``__queue_delayed_work``: ``timer->expires = jiffies + delay``);
        a delay of 0 queues the work at once.
        """
        if self._timer is not None:
            return False
        # NOTE: no argument checks (a jiffies count from the driver) for performance reasons.
        sim = self.sim
        now = sim.now
        when = now if delay_jiffies == 0 else max(now, (sim.jiffies + delay_jiffies) / sim.hz)
        self._timer = sim.enqueue(when, self._run)
        return True

    def cancel(self) -> bool:
        """``cancel_delayed_work``: True if it was pending."""
        if self._timer is None:
            return False
        self._timer.cancel()
        self._timer = None
        return True

    def _run(self) -> None:
        self._timer = None
        self.running = True
        try:
            self.fn()
        finally:
            self.running = False
