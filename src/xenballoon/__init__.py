"""xenballoon: the Xen memory balloon driver (Linux ``balloon.c``) on a simulated Xen host.

>>> import xenballoon as xb
>>> sim = xb.Simulation()
>>> hv = xb.Hypervisor(sim, total_pages=65536)
>>> guest = xb.Guest(hv.create_domain(16384, name="vm1"))
>>> balloon = xb.Balloon(guest)
>>> hv.mem_set(guest.domain.domid, 32 * 1024)     # KiB, as `xl mem-set` takes it
>>> sim.run()
>>> balloon.stats.current_pages, balloon.state.name
(8192, 'DONE')
"""

from __future__ import annotations

from .balloon import Balloon, BalloonStats, BPState
from .core import BACKEND
from .core.abi import (
    PG_BALLOON,
    PG_FREE,
    PG_HANDED,
    PG_HIGHMEM,
    PG_OFFLINE,
    PG_WORKLOAD,
)
from .errors import InvariantError, OutOfMemory, XenBalloonError
from .guest import Guest
from .hotplug import PAGES_PER_SECTION, MemoryBlock, MemoryHotplug, Resource
from .hypervisor import PAGE_SIZE, Domain, Hypervisor
from .sim import Simulation, Timer
from .sysfs import BalloonSysfs
from .xenstore import WatchHandle, XenStore, XenStoreConnection

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``xb.sweep``, imported when first used (so ``import xenballoon`` never loads dask)."""
    if name == "sweep":
        import importlib

        return importlib.import_module(".sweep", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "BACKEND",
    "Balloon",
    "BalloonStats",
    "BalloonSysfs",
    "BPState",
    "Domain",
    "Guest",
    "Hypervisor",
    "InvariantError",
    "MemoryBlock",
    "MemoryHotplug",
    "OutOfMemory",
    "PAGE_SIZE",
    "PAGES_PER_SECTION",
    "PG_BALLOON",
    "PG_FREE",
    "PG_HANDED",
    "PG_HIGHMEM",
    "PG_OFFLINE",
    "PG_WORKLOAD",
    "Resource",
    "Simulation",
    "Timer",
    "WatchHandle",
    "XenBalloonError",
    "XenStore",
    "XenStoreConnection",
    "__version__",
]
