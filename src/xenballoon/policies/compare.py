"""One scenario with a demand spike, run under each policy: what users compare.

The host (1 GiB) runs three guests booted with 256 MiB that may grow to 640 MiB, each with
128 MiB of swap and processes of 50 MiB (what the OOM killer kills).  Each guest's workload
(`xenballoon.linux.workloads`, stepped every second) wants 150 MiB of anonymous memory and
reads 32 MiB of files (page cache); vm1's anonymous demand ramps (50 MiB/s) from 20 s to
500 MiB and stays there.  The guest model meets demand as Linux does: free pages, then
reclaimed page cache, then swap, then the OOM killer.

Each balancer's guests run the agent it reads (`xenballoon.linux.agents`): under qmemman
Qubes's ``meminfo-writer`` (``memory/meminfo`` made guest-writable as qubesd does), under
squeezed XenServer's ``xe-daemon`` (``~/control`` and ``~/data`` guest-owned as xenopsd
makes them, so ``control/feature-balloon`` is written; ``dynamic-min`` 200 MiB,
``dynamic-max`` 640 MiB).  ``selfballoon`` is no host balancer: each guest runs
``xen-selfballoon.c`` (`xenballoon.frontend.SelfBalloon`, its defaults).

Per policy, from the guests' own counters (`Guest.vmstat`): ``oom_kills``, ``unmet_mib_s``
(anonymous demand not resident, swapped or killed, MiB x seconds), ``pages_moved`` (pages
ballooned in or out, all guests), ``settle_s`` (from the end of the ramp until the last
page moves), ``min_free_mib`` (host free memory, lowest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..frontend import Balloon, SelfBalloon
from ..linux import Constant, Guest, Ramp
from ..linux.agents import attach_agent
from ..sim import Simulation
from ..xen import Hypervisor
from ..xen.libxl import xenopsd_guest_nodes
from .base import attach_policy, make_policy
from .qmemman import create_xs_entries
from .squeezed import xenopsd_nodes

__all__ = ["POLICIES", "SpikeResult", "compare", "run_spike"]

MIB = 256  # pages
BASE_MIB, SPIKE_MIB, FILE_MIB = 150, 500, 32
SPIKE_AT, RAMP = 20.0, 50.0  # s, MiB/s
RAMP_END = SPIKE_AT + (SPIKE_MIB - BASE_MIB) / RAMP
POLICIES = ("none", "static", "squeezed", "qmemman", "selfballoon")
AGENT = {"qmemman": "meminfo-writer", "squeezed": "xe-daemon"}


@dataclass
class SpikeResult:
    policy: str
    oom_kills: int
    unmet_mib_s: float
    pages_moved: int
    settle_s: float
    min_free_mib: float


def run_spike(policy: str, *, duration: float = 90.0, step: float = 0.1,
              backend: str | None = None, **params: Any) -> SpikeResult:
    """The spike scenario under ``policy`` (a name or path for `make_policy`, or
    ``"selfballoon"``); host free memory and pages moved are sampled every ``step`` s."""
    sim = Simulation()
    hv = Hypervisor(sim, 1024 * MIB, backend=backend)
    balloons = []
    for _ in range(3):
        domain = hv.create_domain(256 * MIB, maxmem=640 * MIB)
        balloons.append(Balloon(Guest(domain, pv=True, swap_pages=128 * MIB,
                                      kill_unit=50 * MIB)))
    selfballoon = policy == "selfballoon"
    attachment = attach_policy(hv, make_policy("none" if selfballoon else policy, **params))
    for b in balloons:
        domain = b.guest.domain
        if policy == "qmemman":
            create_xs_entries(attachment.xs, domain.domid)
        if policy == "squeezed":
            xenopsd_guest_nodes(hv.xenstore.connect(0), domain)
            xenopsd_nodes(attachment.xs, domain.domid, 200 * 1024, 640 * 1024,
                          feature_balloon=False)  # the agent writes it
        if policy in AGENT:
            attach_agent(b.guest, AGENT[policy])
        if selfballoon:
            SelfBalloon(b)
    balloons[0].guest.run_workload(Ramp(BASE_MIB * MIB, FILE_MIB * MIB, at=SPIKE_AT,
                                        over=RAMP_END - SPIKE_AT, anon_to=SPIKE_MIB * MIB))
    for b in balloons[1:]:
        b.guest.run_workload(Constant(BASE_MIB * MIB, FILE_MIB * MIB))
    moved = 0
    min_free = hv.free_pages
    last = [b.current_pages for b in balloons]
    last_move = RAMP_END
    for _ in range(int(round(duration / step))):
        sim.run(until=sim.now + step)
        current = [b.current_pages for b in balloons]
        delta = sum(abs(c - p) for c, p in zip(current, last, strict=True))
        moved, last = moved + delta, current
        if delta and sim.now > RAMP_END:
            last_move = sim.now
        min_free = min(min_free, hv.free_pages)
    attachment.detach()
    hv.check(guests=True)
    stats = [b.guest.vmstat() for b in balloons]
    return SpikeResult(policy, sum(s.oom_kills for s in stats),
                       round(sum(s.unmet_anon_page_seconds for s in stats) / MIB, 1), moved,
                       round(last_move - RAMP_END, 1), round(min_free / MIB, 1))


def compare(policies: tuple[str, ...] = POLICIES, **kwargs: Any) -> list[SpikeResult]:
    """`run_spike` for each policy, in order."""
    return [run_spike(name, **kwargs) for name in policies]
