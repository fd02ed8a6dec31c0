"""The Linux guest: its pages and page allocator, the iomem resource tree, memory hotplug.

Models ``mm/page_alloc.c`` (free pages, the reserve, ``si_mem_available``), ``mm/vmscan.c``
and ``mm/oom_kill.c`` (page cache, reclaim, swap, the OOM killer: `Guest.step_workload`),
``kernel/resource.c`` and ``mm/memory_hotplug.c`` / ``drivers/base/memory.c``; the
workloads that make demand (``linux/workloads/``) and the metrics (``linux/vmstat``).
Room is left, by name, for ``linux/agents.py``.
"""

from __future__ import annotations

from .guest import Guest
from .memory_hotplug import (
           MEM_GOING_ONLINE,
           MEM_ONLINE,
           PAGES_PER_SECTION,
           MemoryBlock,
           MemoryHotplug,
)
from .resource import Resource, ResourceTree
from .vmstat import METRICS, VmStat, VmStatReader, meminfo
from .workloads import (
           Composite,
           Constant,
           Periodic,
           Ramp,
           RandomWalk,
           Replay,
           Step,
           Workload,
           WorkloadStepper,
)

__all__ = ["METRICS", "MEM_GOING_ONLINE", "MEM_ONLINE", "PAGES_PER_SECTION", "Composite",
           "Constant", "Guest", "MemoryBlock", "MemoryHotplug", "Periodic", "Ramp", "RandomWalk",
           "Replay", "Resource", "ResourceTree", "Step", "VmStat", "VmStatReader", "Workload",
           "WorkloadStepper", "meminfo"]
