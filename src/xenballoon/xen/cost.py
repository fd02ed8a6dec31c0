"""What ballooning costs in time: the cost model a `Hypervisor` prices worker turns with.

With ``Hypervisor(..., cost=None)`` a worker run is instantaneous (the first part of the
API).  With a `CostModel`, each turn of ``balloon_process`` (one frame_list) takes the time
its hypercall and its pages cost, and the run spans simulated time: other events run
between its turns, as between the seed's ``mutex_unlock`` and the next ``mutex_lock``.

Every field is in nanoseconds of simulated time.  Where each default comes from, and how to
measure the estimates on a real host, is in `CostModel.default` and the README ("Time").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from ..errors import InvalidArgument, InvalidType
from ..units import PAGE_SIZE

__all__ = ["CostModel"]

PAGES_PER_MIB = (1 << 20) // PAGE_SIZE


def _check_ns(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidType(f"CostModel.{name} must be a number of nanoseconds, "
                          f"not {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise InvalidArgument(f"CostModel.{name} must be a finite number of nanoseconds "
                              f">= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class CostModel:
    """Simulated nanoseconds per step of ballooning (frozen; every field >= 0).

    - ``hypercall_ns``: one ``XENMEM_populate_physmap`` / ``XENMEM_decrease_reservation``
      round trip (one per turn of the worker).
    - ``populate_ns``: per page Xen populates (deflate: the balloon gives memory back).
    - ``release_ns``: per page Xen takes back (inflate): p2m removal and heap free.
    - ``scrub_ns``: per page the guest clears before giving it back (``xen_scrub_pages``,
      the balloon's ``scrub_pages``).
    - ``xen_scrub_ns``: per frame the hypervisor clears when a domain gives it back
      (charged when the host has ``scrub_freed``).
    - ``alloc_page_ns`` / ``free_page_ns``: per page taken from (inflate) / given to
      (deflate) the guest's page allocator.
    - ``reclaim_ns``: per page of clean page cache reclaimed to make room (for guests
      with a page cache).
    - ``wakeup_ns``: per run of the worker, from being queued to running.
    - ``update_va_mapping_ns``: PV guests only: per lowmem page moved either way, the
      extra ``HYPERVISOR_update_va_mapping`` of ``drivers/xen/mem-reservation.c``.
    """

    hypercall_ns: float = 0.0
    populate_ns: float = 0.0
    release_ns: float = 0.0
    scrub_ns: float = 0.0
    xen_scrub_ns: float = 0.0
    alloc_page_ns: float = 0.0
    free_page_ns: float = 0.0
    reclaim_ns: float = 0.0
    wakeup_ns: float = 0.0
    update_va_mapping_ns: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _check_ns(getattr(self, f.name), f.name))

    @classmethod
    def default(cls) -> CostModel:
        """The calibrated profile: x86-64, 4 KiB pages, an HVM/PVH guest on a 2-3 GHz host.

        Sources (``/work/shared/research/ballooning-costs.md`` gathers them; "estimate"
        marks a value no source measures, with how to measure it):

        - hypercall 600 ns: estimate from a null hypercall of ~1,228 cycles on x86 Xen
          (Dall et al., ISCA 2016, Table III) and a VM exit of ~2,000 cycles (Landau et
          al., "SplitX") at 2-3 GHz, plus argument copying.  Measure: time 10^6
          zero-extent ``XENMEM_decrease_reservation`` calls from a guest module.
        - populate 1,500 ns: estimate below the ~1.8 us/page derived from xen commit
          415b58c184 (Lagerwall 2015: order-9 extents cut a 128 GiB PV build by ~60 s),
          which includes the toolstack.  Measure: ``xl mem-set`` a guest up by 4 GiB and
          time ``memory/target`` to ``tot_pages`` with ``xentrace``.
        - release 400 ns: estimate: Xen's heap free measured at ~61 ns/page (xen commit
          72b02bc75b, Xia 2021) plus p2m removal and TLB work.  Measure: as populate, down.
        - scrub 1,600 ns, xen_scrub 1,600 ns: measured page clearing at 2.6 GB/s on one
          CPU (xen commit 7430a86de0, Crossley 2014; a modern CPU may reach ~400 ns).
        - alloc_page 150 ns, free_page 150 ns: derived from L. Li, "[PATCH] virtio-balloon:
          speed up inflate/deflate process" (linux-mm, 2016): ``alloc_page`` was 6.5 % of
          4,126 ms for 1.835 M pages, 146 ns/page.
        - reclaim 1,000 ns: estimate (nothing published): a few times the allocator cost
          for LRU isolation, unmapping and deleting from the mapping.  Measure:
          ``/proc/vmstat`` pgsteal against time in a guest whose balloon inflates into
          clean page cache.
        - wakeup 10,000 ns: estimate of a kworker's queue-to-run latency.  Measure: the
          ``workqueue:workqueue_queue_work`` to ``workqueue:workqueue_execute_start``
          tracepoints for ``balloon_process`` with ``perf trace``.
        - update_va_mapping 400 ns: estimate of a PV hypercall (no figure found; ~1 us
          with XPTI), one per lowmem page (Linux ``drivers/xen/mem-reservation.c``).

        End to end this gives 1,041 MiB/s ballooned out (7,087 with neither the guest nor
        the host scrubbing) and 2,366 MiB/s given back; published end-to-end figures are
        slower: ~512 MB/s for a 2015 PV dom0 (xen commit 0c8d70336b), at most 256 MiB/s in
        a 2021 lockup report (xen-devel, Beulich).  For such a host use `from_rates`.
        """
        return cls(hypercall_ns=600, populate_ns=1500, release_ns=400, scrub_ns=1600,
                   xen_scrub_ns=1600, alloc_page_ns=150, free_page_ns=150,
                   reclaim_ns=1000, wakeup_ns=10_000, update_va_mapping_ns=400)

    @classmethod
    def from_rates(cls, inflate_mib_s: float, deflate_mib_s: float) -> CostModel:
        """A model of a host measured end to end: MiB/s ballooned out, MiB/s given back.

        Each rate becomes a per-page cost (``release_ns`` out, ``populate_ns`` in) with
        everything else 0, so the rates hold whatever the host and guest scrub.
        """
        rates = {"inflate_mib_s": inflate_mib_s, "deflate_mib_s": deflate_mib_s}
        for name, value in rates.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidType(f"{name} must be a number of MiB/s, not {type(value).__name__}")
            if not math.isfinite(value) or value <= 0:
                raise InvalidArgument(f"{name} must be a positive number of MiB/s, got {value!r}")
        return cls(release_ns=1e9 / (inflate_mib_s * PAGES_PER_MIB),
                   populate_ns=1e9 / (deflate_mib_s * PAGES_PER_MIB))

    def with_changes(self, **changes: float) -> CostModel:
        """A copy with some fields changed (validated like the constructor)."""
        names = {f.name for f in fields(self)}
        for name in changes:
            if name not in names:
                raise InvalidArgument(f"CostModel has no field {name!r}")
        return replace(self, **changes)

    def turn_cost(self, *, scrub_pages: bool, scrub_freed: bool,
                  pv: bool) -> tuple[float, float, float, float]:
        """What the core charges a turn: (hypercall, per page out, per page in, per lowmem
        page) in ns, for a guest that scrubs or not on a host that scrubs or not."""
        page_out = self.alloc_page_ns
        if scrub_pages:
            page_out += self.scrub_ns
        page_out += self.release_ns
        if scrub_freed:
            page_out += self.xen_scrub_ns
        page_in = self.populate_ns + self.free_page_ns
        return (self.hypercall_ns, page_out, page_in, self.update_va_mapping_ns if pv else 0.0)

    def rates_mib_s(self, *, batch: int = 512, scrub_pages: bool = True,
                    scrub_freed: bool = True, pv: bool = False) -> tuple[float, float]:
        """Steady-state (inflate, deflate) MiB/s of full frame_lists of ``batch`` pages."""
        hypercall, out, page_in, lowmem = self.turn_cost(scrub_pages=scrub_pages,
                                                         scrub_freed=scrub_freed, pv=pv)
        rates = []
        for page in (out, page_in):
            turn = hypercall + batch * (page + lowmem)
            rates.append(math.inf if turn == 0 else batch * 1e9 / turn / PAGES_PER_MIB)
        return rates[0], rates[1]
