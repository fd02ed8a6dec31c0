"""What a guest's memory model counts: /proc/vmstat and /proc/meminfo, for one or many guests.

The counters live in the core (``struct xb_vmstat``); reading them is a copy.  `VmStat` is
one guest's snapshot, `meminfo` its ``/proc/meminfo`` lines, and `VmStatReader` reads every
metric of many guests into arrays with one core call (for recorders sampling every tick).

Definitions (pages unless named in seconds):
- ``anon_pages``: anonymous pages resident (the workload model's and those the user took
  with ``alloc_pages``); ``anon_demand`` what the workload asked for at its last step.
- ``file_pages``: the page cache; ``file_working_set``: what the workload reads.
- ``refaults``: per step, the file working set the cache did not hold (read again).
- ``pgsteal``: cache reclaimed for the workload; ``balloon_reclaimed``: for the balloon.
- ``unmet_anon_page_seconds``: the integral of (anonymous demand - resident) over time
  (swapped out or killed); ``pressure_seconds``: time in steps with some demand not
  resident, cache reclaimed for the workload, or a refault.
- ``committed_as``: anonymous pages plus swap in use (Linux's ``Committed_AS`` counts the
  private writable memory processes have been promised: here, all their anonymous memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from ..core.abi import VMSTAT_DTYPE
from ..errors import InvalidArgument
from ..units import PAGE_SIZE

__all__ = ["METRICS", "VmStat", "VmStatReader", "meminfo"]

KIB = PAGE_SIZE // 1024


@dataclass(frozen=True)
class VmStat:
    """One guest's memory-model metrics (see the module docstring)."""

    totalram_pages: int
    free_pages: int
    mem_available: int
    anon_pages: int
    anon_demand: int
    file_pages: int
    file_working_set: int
    swap_total: int
    swap_used: int
    pswpout: int
    pswpin: int
    refaults: int
    pgsteal: int
    balloon_reclaimed: int
    oom_kills: int
    oom_killed_pages: int
    unmet_anon_page_seconds: float
    pressure_seconds: float
    committed_as: int


METRICS = tuple(VmStat.__dataclass_fields__)


class VmStatReader:
    """Every `METRICS` column of ``guests`` (objects with ``.impl`` and ``.handle``, all on
    one core), read with one core call into arrays reused from read to read."""

    def __init__(self, guests: Sequence[Any]) -> None:
        self.guests = list(guests)
        impls = {g.impl for g in self.guests}
        self.impl: ModuleType | None = impls.pop() if len(impls) == 1 else None
        if len(impls) > 0:
            raise InvalidArgument("all guests of a VmStatReader must run on one core")
        n = len(self.guests)
        self._handles = None if self.impl is None else \
            self.impl.guest_array([g.handle for g in self.guests])
        self._vm = np.zeros(n, dtype=VMSTAT_DTYPE)
        self._mem = np.zeros((n, 4), dtype=np.uint64)

    def read(self) -> dict[str, np.ndarray]:
        """The metrics now, one array per name (length: the guests), fresh arrays."""
        if self.impl is not None and len(self.guests):
            self.impl.read_vmstats(self._handles, self._vm, self._mem)
        vm, mem = self._vm, self._mem.astype(np.int64)
        totalram, free, cache, available = mem.T
        anon = totalram - free - cache
        swap_used = vm["swap_used"].astype(np.int64)
        out = {
            "totalram_pages": totalram, "free_pages": free, "mem_available": available,
            "anon_pages": anon, "file_pages": cache, "swap_used": swap_used,
            "anon_demand": vm["anon_demand"], "file_working_set": vm["file_ws"],
            "swap_total": vm["swap_pages"], "committed_as": anon + swap_used,
            "unmet_anon_page_seconds": vm["unmet_page_seconds"],
        }
        for name in ("pswpout", "pswpin", "refaults", "pgsteal", "balloon_reclaimed",
                     "oom_kills", "oom_killed_pages", "pressure_seconds"):
            out[name] = vm[name]
        return {name: np.array(out[name]) for name in METRICS}

    def snapshot(self, i: int) -> VmStat:
        """Guest ``i``'s metrics as a `VmStat` (after `read`)."""
        columns = self.read()
        values = {name: columns[name][i].item() for name in METRICS}
        return VmStat(**values)


def meminfo(stat: VmStat) -> dict[str, int]:
    """``/proc/meminfo`` (KiB, its names) from a guest's metrics.

    The model has no buffers and no dirty pages: ``Buffers`` and ``Dirty`` are 0; ``Cached``
    is the page cache; ``MemTotal`` is ``totalram_pages`` (what the balloon leaves the
    guest, as Linux's MemTotal shrinks with ballooning).
    """
    return {
        "MemTotal": stat.totalram_pages * KIB,
        "MemFree": stat.free_pages * KIB,
        "MemAvailable": stat.mem_available * KIB,
        "Buffers": 0,
        "Cached": stat.file_pages * KIB,
        "Dirty": 0,
        "AnonPages": stat.anon_pages * KIB,
        "SwapTotal": stat.swap_total * KIB,
        "SwapFree": (stat.swap_total - stat.swap_used) * KIB,
        "Committed_AS": stat.committed_as * KIB,
    }
