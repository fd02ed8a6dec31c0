"""The benchmark harness behind ``xenballoon bench``: the canonical balloon cycle, timed.

The canonical cycle (DESIGN.md, "Performance targets"): a guest of ``2 * pages`` pages on a
host of ``4 * pages`` frames; the balloon inflates by ``pages`` and deflates again, through
the real worker loop (``Balloon.set_target``, then ``Simulation.run``).  Only the two runs
are timed (wall clock, ``time.perf_counter``); booting the machine before and checking it
after are not.  Every page moves twice, so the cost per page is ``total / (2 * pages)``.

With a `CostModel` (``run_cycle(..., cost=)``) the same cycle spans simulated time; its
wall time against the instantaneous model's is what the cost model costs to simulate.
``give_back`` answers "how long until this guest gives back N GiB?" in simulated seconds.

The same functions drive the pytest-benchmark suite in ``bench/``.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from ._version import __version__
from .errors import InvariantError
from .frontend import Balloon
from .linux import Guest
from .sim import Simulation
from .units import PAGE_SIZE
from .xen import CostModel, Hypervisor

__all__ = ["CANONICAL_PAGES", "GIVE_BACK_GIB", "REFERENCE_CAP", "CycleResult", "GiveBack",
           "Machine", "boot", "cycle", "environment", "give_back", "moved_pages", "run_cycle",
           "state_breakdown", "verify"]

CANONICAL_PAGES = 1 << 20       # 4 GiB of balloon: an 8 GiB guest on a 16 GiB host
REFERENCE_CAP = 1 << 18         # the reference core's default size in `xenballoon bench`
GIB = 1 << 30
GIVE_BACK_GIB = (1, 4, 16)  # "how long until this guest gives back N GiB?"

# Called with a phase ("boot", "inflate", "deflate", "check") and the machine (None at boot).
Phase = Callable[[str, "Machine | None"], None]


@dataclass
class Machine:
    """A host with one guest and its balloon, as the canonical cycle needs them."""

    hv: Hypervisor
    guest: Guest
    balloon: Balloon

    @property
    def guest_pages(self) -> int:
        """The guest's boot memory: the target it returns to after a cycle."""
        return self.guest.boot_pages

    @property
    def sim(self) -> Simulation:
        return self.hv.sim


def boot(backend: str, pages: int, *, guest_pages: int | None = None,
         host_pages: int | None = None, cost: CostModel | None = None,
         **balloon_kw: Any) -> Machine:
    """A machine for a cycle of ``pages``: guest ``2 * pages``, host ``4 * pages`` by default."""
    guest_pages = 2 * pages if guest_pages is None else guest_pages
    host_pages = 2 * guest_pages if host_pages is None else host_pages
    hv = Hypervisor(Simulation(), host_pages, cost=cost, backend=backend)
    guest = Guest(hv.create_domain(guest_pages, name="bench"))
    return Machine(hv, guest, Balloon(guest, **balloon_kw))


def cycle(machine: Machine, pages: int, phase: Phase | None = None) -> tuple[float, float]:
    """Inflate the balloon by ``pages`` and deflate it again; seconds for each run."""
    balloon, sim, full = machine.balloon, machine.sim, machine.guest_pages
    if phase is not None:
        phase("inflate", machine)
    t0 = time.perf_counter()
    balloon.set_target(full - pages)
    sim.run()
    t1 = time.perf_counter()
    if phase is not None:
        phase("deflate", machine)
    t2 = time.perf_counter()
    balloon.set_target(full)
    sim.run()
    t3 = time.perf_counter()
    return t1 - t0, t3 - t2


def verify(machine: Machine) -> None:
    """The cycle ended where it started: current == target == boot memory; checks pass."""
    s = machine.balloon.stats
    if not s.current_pages == s.target_pages == machine.guest_pages:
        raise InvariantError(f"the cycle ended at current_pages {s.current_pages}, target "
                             f"{s.target_pages}, instead of {machine.guest_pages}")
    if machine.balloon.state.name != "DONE":
        raise InvariantError(f"the worker ended {machine.balloon.state.name}, not DONE")
    machine.hv.check()
    machine.guest.check()


def state_breakdown(machine: Machine) -> dict[str, int]:
    """Bytes the core holds, as it reports them: host frames, the physmap, the guest's pages."""
    hv, guest = machine.hv, machine.guest
    impl = hv.impl
    physmap = int(impl.domain_state_bytes(guest.domain.handle))
    return {
        "host": int(impl.host_state_bytes(hv.handle)),    # free stack + data tag per frame
        "physmap": physmap,                               # p2m entry per gfn
        "guest": guest.state_bytes(),                     # flags + list link per pfn, frame_list
        "total": hv.state_bytes() + guest.state_bytes(),  # everything (all domains)
    }


@dataclass(frozen=True)
class CycleResult:
    """One timed cycle."""

    backend: str
    pages: int              # pages inflated, then deflated
    guest_pages: int
    host_pages: int
    inflate_s: float
    deflate_s: float
    state: dict[str, int]   # state_breakdown()
    cost: bool = False      # run under a cost model (else instantaneous)
    simulated_s: float = 0.0  # simulated seconds the two runs took

    @property
    def seconds(self) -> float:
        return self.inflate_s + self.deflate_s

    @property
    def ns_per_page(self) -> float:
        """Wall time per page moved: total / (2 * pages)."""
        return self.seconds * 1e9 / (2 * self.pages)

    @property
    def gib_per_s(self) -> float:
        """Guest memory moved per wall-clock second, in GiB."""
        return 2 * self.pages * PAGE_SIZE / GIB / self.seconds

    @property
    def bytes_per_page(self) -> float:
        """Core state per guest page: its flags, list link and physmap entry."""
        return (self.state["guest"] + self.state["physmap"]) / self.guest_pages

    @property
    def bytes_per_frame(self) -> float:
        """Core state per host frame: its free-stack slot and data tag."""
        return self.state["host"] / self.host_pages

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(seconds=self.seconds, ns_per_page=self.ns_per_page, gib_per_s=self.gib_per_s,
                 bytes_per_page=self.bytes_per_page, bytes_per_frame=self.bytes_per_frame)
        return d


def run_cycle(backend: str, pages: int, *, check: bool = True, phase: Phase | None = None,
              cost: CostModel | None = None) -> CycleResult:
    """Boot a fresh machine, time one canonical cycle on it, then verify it."""
    if phase is not None:
        phase("boot", None)
    machine = boot(backend, pages, cost=cost)
    machine.sim.run()  # the watch's first run, before the clock starts
    state = state_breakdown(machine)
    start = machine.sim.now
    inflate_s, deflate_s = cycle(machine, pages, phase)
    if check:
        if phase is not None:
            phase("check", machine)
        verify(machine)
    return CycleResult(backend, pages, machine.guest_pages, machine.hv.total_pages,
                       inflate_s, deflate_s, state, cost is not None, machine.sim.now - start)


@dataclass(frozen=True)
class GiveBack:
    """How long a guest takes to give back ``gib`` GiB: simulated, and on the wall clock."""

    backend: str
    gib: float
    pages: int
    simulated_s: float      # simulated seconds from the new target to the end of the run
    wall_s: float           # wall-clock seconds the simulation took

    @property
    def mib_per_s(self) -> float:
        """Simulated MiB/s ballooned out."""
        return self.pages * PAGE_SIZE / (1 << 20) / self.simulated_s

    def as_dict(self) -> dict[str, Any]:
        return dict(asdict(self), mib_per_s=self.mib_per_s)


def give_back(backend: str, gib: float, cost: CostModel | None = None) -> GiveBack:
    """Inflate a guest's balloon by ``gib`` GiB under ``cost`` (default: the default model).

    The guest has 1/8 more memory than it gives back (its reserve stays), on a host just
    its size; only ``set_target`` and ``Simulation.run`` are timed.
    """
    model = CostModel.default() if cost is None else cost
    pages = max(1, round(gib * GIB / PAGE_SIZE))
    guest_pages = pages + pages // 8 + 512
    machine = boot(backend, pages, guest_pages=guest_pages, host_pages=guest_pages, cost=model)
    sim = machine.sim
    sim.run()
    start = sim.now
    t0 = time.perf_counter()
    machine.balloon.set_target(guest_pages - pages)
    sim.run()
    wall = time.perf_counter() - t0
    if machine.balloon.current_pages != guest_pages - pages:
        raise InvariantError(f"gave back {guest_pages - machine.balloon.current_pages} of "
                             f"{pages} pages")
    return GiveBack(backend, gib, pages, sim.now - start, wall)


def moved_pages(machine: Machine | None, step: str, pages: int) -> int:
    """Pages a cycle of ``pages`` has moved so far at ``step`` (for progress display).

    Reads one counter (``current_pages``; the C core releases the GIL while it works).
    """
    if machine is None or step == "boot":
        return 0
    if step == "check":
        return 2 * pages
    out = machine.guest_pages - machine.balloon.current_pages
    return out if step == "inflate" else 2 * pages - out


def environment() -> dict[str, Any]:
    import numpy

    return {"xenballoon": __version__, "python": platform.python_version(),
            "numpy": numpy.__version__, "machine": platform.machine(),
            "processor": _cpu_model(), "cpus": os.cpu_count()}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
