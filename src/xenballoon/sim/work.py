"""Linux delayed work (``include/linux/workqueue.h``) on the simulated clock.

``struct delayed_work``: queueing a pending item does nothing; it may requeue itself; it
reuses one timer.  Compiled (``csrc/sim/clock.c``) or the plain-Python twin
(``pywork``), as ``xenballoon.sim.clock`` chooses the clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import BACKEND

__all__ = ["DelayedWork"]

if TYPE_CHECKING or BACKEND == "python":
    from .pywork import DelayedWork
else:
    from .cloop import DelayedWork
