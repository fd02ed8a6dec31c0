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

from ._version import __version__
from .core import BACKEND
from .core.abi import (
    PG_BALLOON,
    PG_CACHE,
    PG_FREE,
    PG_HANDED,
    PG_HIGHMEM,
    PG_OFFLINE,
    PG_WORKLOAD,
)
from .driver import BalloonStats, BPState
from .errors import (
    InvalidArgument,
    InvalidType,
    InvariantError,
    OutOfMemory,
    ReentrancyError,
    XenBalloonError,
)
from .frontend import Balloon, BalloonSysfs
from .linux import (
    PAGES_PER_SECTION,
    Guest,
    MemoryBlock,
    MemoryHotplug,
    Resource,
    VmStat,
    VmStatReader,
    workloads,
)
from .sim import Simulation, Timer
from .units import PAGE_SIZE
from .xen import CostModel, Domain, Hypervisor, WatchHandle, XenStore, XenStoreConnection


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
    "CostModel",
    "Domain",
    "Guest",
    "Hypervisor",
    "InvalidArgument",
    "InvalidType",
    "InvariantError",
    "MemoryBlock",
    "MemoryHotplug",
    "OutOfMemory",
    "PAGE_SIZE",
    "PAGES_PER_SECTION",
    "PG_BALLOON",
    "PG_CACHE",
    "PG_FREE",
    "PG_HANDED",
    "PG_HIGHMEM",
    "PG_OFFLINE",
    "PG_WORKLOAD",
    "ReentrancyError",
    "run_scenario",
    "Resource",
    "ScenarioError",
    "Simulation",
    "Timer",
    "VmStat",
    "VmStatReader",
    "WatchHandle",
    "XenBalloonError",
    "XenStore",
    "XenStoreConnection",
    "__version__",
    "workloads",
]
