"""The balloon driver, Linux ``drivers/xen/balloon.c``: the worker, the reservations, stats.

`BalloonDriver` holds ``balloon_process`` and ``update_schedule`` (all the backoff), the
``alloc/free_xenballooned_pages`` interface, and ``reserve_additional_memory`` as a strategy
(`NoHotplug` / `Hotplug`, in `reserve`).  The front end (xen-balloon.c) is one layer up.
"""

from __future__ import annotations

from .balloon import BalloonDriver, BalloonStats, BPState
from .reserve import NO_HOTPLUG, Hotplug, NoHotplug, ReserveStrategy

__all__ = ["NO_HOTPLUG", "BPState", "BalloonDriver", "BalloonStats", "Hotplug", "NoHotplug",
           "ReserveStrategy"]
