"""The simulated clock on the compiled event loop (``xenballoon.sim._clock``).

The loop, the queue, the timers and delayed work are C (``csrc/sim/clock.c``): per event
no Python runs but the callback.  This module adds what is cold: the class's name and
documentation, and its ``repr``.  The semantics are those of the reference twin,
``xenballoon.sim.pyloop`` (read its docstrings): same-time events run FIFO, an event
queued for the current instant runs after those already queued for it, a cancelled timer
drops its callback at once, an exception in a callback leaves the later events queued,
`run` is not re-entrant, and ``call_at``/``call_later`` take the world's lock unless
called from an event.

One difference in the bookkeeping, none in the events: a timer's queue entry leaves the
queue when its event starts, not when its instant ends, so `queued` counts only what is
still to run (the twin counts the current instant's spent slots until it ends).
"""

from __future__ import annotations

from ._clock import DelayedWork, EventLoop, Timer

__all__ = ["DelayedWork", "Simulation", "Timer"]


class Simulation(EventLoop):
    """The simulated clock and event queue shared by a hypervisor and its guests.

    ``Simulation(hz=250)``.  ``lock``: the world's lock (an `threading.RLock`): every
    public call of the hypervisor, its guests, balloons and xenstore holds it, and so does
    `run`.  Hold it yourself (``with sim.lock:``) to make several calls one atomic step.
    """

    def __repr__(self) -> str:
        return f"<Simulation t={self.now:g}s hz={self.hz} pending={self.pending}>"
