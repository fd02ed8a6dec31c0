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

from ._backend import BACKEND
from ._pycore import (
    PG_BALLOON,
    PG_FREE,
    PG_HANDED,
    PG_HIGHMEM,
    PG_OFFLINE,
    PG_WORKLOAD,
)
from .balloon import Balloon, BalloonStats, BPState
from .errors import InvariantError, OutOfMemory, XenBalloonError
from .guest import Guest
from .hotplug import PAGES_PER_SECTION, MemoryBlock, MemoryHotplug, Resource
from .hypervisor import PAGE_SIZE, Domain, Hypervisor
from .sim import Simulation, Timer
from .sysfs import BalloonSysfs
from .xenstore import WatchHandle, XenStore, XenStoreConnection

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # Scenarios pull in pydantic: load them on first use, not at ``import xenballoon``.
    if name in ("run_scenario", "ScenarioError"):
        from . import scenarios

        return getattr(scenarios, name)
    raise AttributeError(f"module 'xenballoon' has no attribute {name!r}")


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
    "run_scenario",
    "Resource",
    "ScenarioError",
    "Simulation",
    "Timer",
    "WatchHandle",
    "XenBalloonError",
    "XenStore",
    "XenStoreConnection",
    "__version__",
]
