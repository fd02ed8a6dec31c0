"""The simulated machine's time: the clock, Linux delayed work, notifier chains.

Models the kernel's timer ticks (jiffies), ``kernel/workqueue.c``'s delayed work and
``kernel/notifier.c``'s notifier chains; no wall clock is ever read.  `guarded` makes a
class part of a world that one lock serialises (``xenballoon.sim.lock``).
"""

from __future__ import annotations

from .clock import Simulation, Timer
from .lock import guarded, locked
from .notifier import NOTIFY_DONE, NOTIFY_OK, NotifierChain
from .work import DelayedWork

__all__ = ["NOTIFY_DONE", "NOTIFY_OK", "DelayedWork", "NotifierChain", "Simulation", "Timer",
           "guarded", "locked"]
