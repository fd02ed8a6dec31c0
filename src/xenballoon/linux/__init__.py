"""The Linux guest: its pages and page allocator, the iomem resource tree, memory hotplug.

Models ``mm/page_alloc.c`` (free pages, the reserve, ``si_mem_available``), ``mm/vmscan.c``
and ``mm/oom_kill.c`` (page cache, reclaim, swap, the OOM killer: `Guest.step_workload`),
``kernel/resource.c`` and ``mm/memory_hotplug.c`` / ``drivers/base/memory.c``; the
workloads that make demand (``linux/workloads/``), the metrics (``linux/vmstat``) and the
guest agents that publish them to xenstore (``linux/agents``: `attach_agent`).
"""

from __future__ import annotations

from .agents import AGENTS, attach_agent
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

__all__ = ["AGENTS", "METRICS", "MEM_GOING_ONLINE", "MEM_ONLINE", "PAGES_PER_SECTION",
           "Composite", "Constant", "Guest", "MemoryBlock", "MemoryHotplug", "Periodic", "Ramp",
           "RandomWalk", "Replay", "Resource", "ResourceTree", "Step", "VmStat", "VmStatReader",
           "Workload", "WorkloadStepper", "attach_agent", "meminfo"]
