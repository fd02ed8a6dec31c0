"""One scenario with a demand spike, run under each policy: what users compare.

The host (1 GiB) runs three guests booted with 256 MiB that may grow to 640 MiB.  Each
guest's workload wants 150 MiB of anonymous memory; vm1's ramps (50 MiB/s) to 500 MiB
from 20 s and back down from 60 s.  Every ``step`` (0.1 s) each workload takes or gives
back pages to hold what it wants; when it has wanted more than the guest has free for a
second, the guest's OOM killer kills it (it gives back everything and restarts after
``restart`` seconds, its demand unmet meanwhile).  A guest agent reports
what the workload holds to ``memory/meminfo`` (KiB) with meminfo-writer's 30 MB threshold,
and the nodes squeezed needs (``dynamic-min`` 200 MiB, ``dynamic-max`` 640 MiB,
``control/feature-balloon``) are written as xenopsd and its agent would.

Per policy: ``oom_kills``, ``unmet_mib_s`` (demand not held, MiB x seconds),
``pages_moved`` (pages ballooned in or out, all guests), ``settle_s`` (from the spike's end
until the last page moves), ``min_free_mib`` (host free memory, lowest).

This workload is a stand-in (no page cache, no reclaim, no swap): a crude but explicit
model, enough to see how the policies differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..frontend import Balloon
from ..linux import Guest
from ..sim import Simulation
from ..xen import Hypervisor
from .base import attach_policy, make_policy
from .qmemman import create_xs_entries
from .squeezed import xenopsd_nodes

__all__ = ["SpikeResult", "compare", "run_spike"]

MIB = 256  # pages
BASE_MIB, SPIKE_MIB = 150, 500
SPIKE = (20.0, 60.0)
RAMP = 50.0  # MiB/s
OOM_AFTER = 1.0  # seconds of unmet demand before the OOM killer acts


@dataclass
class SpikeResult:
    policy: str
    oom_kills: int
    unmet_mib_s: float
    pages_moved: int
    settle_s: float
    min_free_mib: float


class _Workload:
    """A guest's anonymous demand, its pages, its OOM kills and its agent's reports."""

    def __init__(self, hv: Hypervisor, guest: Guest, spiky: bool, restart: float) -> None:
        self.hv, self.guest, self.spiky, self.restart = hv, guest, spiky, restart
        self.held = np.zeros(0, dtype=np.uint64)
        self.dead_until = -1.0
        self.short_since: float | None = None
        self.kills = 0
        self.reported = 0
        self.xs = hv.xenstore.connect(guest.domain.domid)

    def demand(self, now: float) -> int:
        """Pages wanted: the base, ramping up to the spike and back at RAMP MiB/s."""
        mib = float(BASE_MIB)
        if self.spiky:
            up = min(SPIKE_MIB, BASE_MIB + RAMP * max(0.0, now - SPIKE[0]))
            down = max(BASE_MIB, SPIKE_MIB - RAMP * max(0.0, now - SPIKE[1]))
            mib = min(up, down) if now >= SPIKE[0] else mib
        return int(mib * MIB)

    def step(self, now: float) -> int:
        """Hold what is wanted if possible; the pages still missing."""
        want = self.demand(now)
        if now < self.dead_until:
            return want
        have = self.held.size
        if have > want:
            self.guest.free_pages(self.held[want:])
            self.held = self.held[:want]
        elif have < want:
            take = min(want - have, self.guest.nr_free_pages)
            if take:
                self.held = np.concatenate([self.held, self.guest.alloc_pages(take)])
        short = want - self.held.size
        if short <= 0:
            self.short_since = None
        elif self.short_since is None:
            self.short_since = now
        elif now - self.short_since >= OOM_AFTER:  # stalled too long: the OOM killer
            self.guest.free_pages(self.held)
            self.held = np.zeros(0, dtype=np.uint64)
            self.kills += 1
            self.dead_until, self.short_since = now + self.restart, None
        used_kb = max(self.held.size * 4, 1)
        if abs(used_kb - self.reported) > 30000:  # meminfo-writer's threshold
            self.xs.write("memory/meminfo", str(used_kb))
            self.reported = used_kb
        return max(0, short)


def run_spike(policy: str, *, duration: float = 90.0, step: float = 0.1,
              restart: float = 5.0, backend: str | None = None,
              **params: Any) -> SpikeResult:
    """The spike scenario under ``policy`` (a name or path for `make_policy`)."""
    sim = Simulation()
    hv = Hypervisor(sim, 1024 * MIB, backend=backend)
    balloons = []
    for _ in range(3):
        domain = hv.create_domain(256 * MIB, maxmem=640 * MIB)
        balloons.append(Balloon(Guest(domain, pv=True)))
    attachment = attach_policy(hv, make_policy(policy, **params))
    for b in balloons:
        domid = b.guest.domain.domid
        create_xs_entries(attachment.xs, domid)
        xenopsd_nodes(attachment.xs, domid, 200 * 1024, 640 * 1024)
    workloads = [_Workload(hv, b.guest, i == 0, restart) for i, b in enumerate(balloons)]
    unmet = moved = 0
    min_free = hv.free_pages
    last = [b.stats.current_pages for b in balloons]
    last_move = SPIKE[1]
    for n in range(int(duration / step)):
        unmet += sum(w.step(n * step) for w in workloads)
        sim.advance(step)
        current = [b.stats.current_pages for b in balloons]
        delta = sum(abs(c - p) for c, p in zip(current, last, strict=True))
        moved, last = moved + delta, current
        if delta and sim.now > SPIKE[1]:
            last_move = sim.now
        min_free = min(min_free, hv.free_pages)
    attachment.detach()
    hv.check(guests=True)
    return SpikeResult(policy, sum(w.kills for w in workloads), unmet * step / MIB, moved,
                       last_move - SPIKE[1], min_free / MIB)


def compare(policies: tuple[str, ...] = ("none", "static", "squeezed", "qmemman"),
            **kwargs: Any) -> list[SpikeResult]:
    """`run_spike` for each policy, in order."""
    return [run_spike(name, **kwargs) for name in policies]
