"""The Linux guest: its pages and page allocator, the iomem resource tree, memory hotplug.

Models ``mm/page_alloc.c`` (free pages, the reserve, ``si_mem_available``),
``kernel/resource.c`` and ``mm/memory_hotplug.c`` / ``drivers/base/memory.c``.  Room is
left, by name, for ``linux/workloads/`` (guest memory demand) and ``linux/agents.py``.
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

__all__ = ["MEM_GOING_ONLINE", "MEM_ONLINE", "PAGES_PER_SECTION", "Guest", "MemoryBlock",
           "MemoryHotplug", "Resource", "ResourceTree"]
