"""``xenballoon bench``: the canonical balloon cycle, timed on both cores.

The canonical cycle (DESIGN.md, "Performance targets"): a guest of ``2 * pages`` pages on a
host of ``4 * pages`` frames; the balloon inflates by ``pages`` and deflates again, through
the real worker loop (``Balloon.set_target``, then ``Simulation.run``).  Only the two runs
are timed (wall clock, ``time.perf_counter``); booting the machine before and checking it
after are not.  Every page moves twice, so the cost per page is ``total / (2 * pages)``.

The same functions drive the pytest-benchmark suite in ``bench/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .balloon import Balloon
from .errors import InvariantError
from .guest import Guest
from .hypervisor import PAGE_SIZE, Hypervisor
from .sim import Simulation

__all__ = ["CycleResult", "Machine", "add_parser", "boot", "cycle", "run_cycle",
           "state_breakdown", "verify", "CANONICAL_PAGES"]

CANONICAL_PAGES = 1 << 20       # 4 GiB of balloon: an 8 GiB guest on a 16 GiB host
REFERENCE_CAP = 1 << 18         # the reference core's default size in `xenballoon bench`
GIB = 1 << 30

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
         host_pages: int | None = None, **balloon_kw: Any) -> Machine:
    """A machine for a cycle of ``pages``: guest ``2 * pages``, host ``4 * pages`` by default."""
    guest_pages = 2 * pages if guest_pages is None else guest_pages
    host_pages = 2 * guest_pages if host_pages is None else host_pages
    hv = Hypervisor(Simulation(), host_pages, backend=backend)
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
    impl = hv._impl
    physmap = int(impl.domain_state_bytes(guest.domain._core))
    return {
        "host": int(impl.host_state_bytes(hv._core)),    # free stack + data tag per frame
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


def run_cycle(backend: str, pages: int, *, check: bool = True,
              phase: Phase | None = None) -> CycleResult:
    """Boot a fresh machine, time one canonical cycle on it, then verify it."""
    if phase is not None:
        phase("boot", None)
    machine = boot(backend, pages)
    state = state_breakdown(machine)
    inflate_s, deflate_s = cycle(machine, pages, phase)
    if check:
        if phase is not None:
            phase("check", machine)
        verify(machine)
    return CycleResult(backend, pages, machine.guest_pages, machine.hv.total_pages,
                       inflate_s, deflate_s, state)


# --- the command -----------------------------------------------------------------------------

class _Watch:
    """Drives a progress task from the balloon's counters while the worker runs.

    The cycle runs in the calling thread; a poller thread reads ``current_pages`` a few
    times a second (a read of one counter; the C core releases the GIL while it works).
    """

    def __init__(self, progress: Progress, task: Any, label: str, pages: int,
                 done: int) -> None:
        self.progress, self.task, self.label = progress, task, label
        self.pages, self.done = pages, done
        self.machine: Machine | None = None
        self.step = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def __call__(self, step: str, machine: Machine | None) -> None:
        self.step, self.machine = step, machine
        self._show()

    def moved(self) -> int:
        m = self.machine
        if m is None or self.step == "boot":
            return 0
        if self.step == "check":
            return 2 * self.pages
        out = m.guest_pages - int(m.balloon._s.current_pages)
        return out if self.step == "inflate" else 2 * self.pages - out

    def _show(self) -> None:
        self.progress.update(self.task, completed=self.done + self.moved(),
                             description=f"{self.label}: {self.step}")

    def _poll(self) -> None:
        while not self._stop.wait(0.1):
            self._show()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _table(results: list[CycleResult]) -> Table:
    table = Table(title="xenballoon bench: inflate by `pages` and deflate",
                  title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("backend", "pages", "ns/page", "simulated GiB/s", "speed-up", "bytes/page"):
        table.add_column(col, justify="left" if col == "backend" else "right", no_wrap=True)
    ref = next((r for r in results if r.backend == "python"), None)
    for r in results:
        up = "1.0x" if r is ref else (f"{ref.ns_per_page / r.ns_per_page:,.0f}x"
                                      if ref is not None else "")
        table.add_row(r.backend, f"{r.pages:,}", f"{r.ns_per_page:,.2f}",
                      f"{r.gib_per_s:,.2f}", up, f"{r.bytes_per_page:.2f}")
    return table


def _environment() -> dict[str, Any]:
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


def cmd_bench(args: argparse.Namespace, console: Console) -> int:
    backends = ("c", "python") if args.backend == "both" else (args.backend,)
    plan = [(b, args.pages if b == "c" else min(args.pages, args.reference_pages),
             args.repeat if b == "c" else 1) for b in backends]
    best: list[CycleResult] = []
    status = Console(stderr=True)
    with Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=status, transient=True,
                  disable=args.json or not status.is_terminal) as progress:
        for backend, pages, runs in plan:
            task = progress.add_task(backend, total=2 * pages * runs)
            results = []
            for run in range(runs):
                watch = _Watch(progress, task, backend if runs == 1 else
                               f"{backend} {run + 1}/{runs}", pages, 2 * pages * run)
                try:
                    results.append(run_cycle(backend, pages, phase=watch))
                finally:
                    watch.close()
            best.append(min(results, key=lambda r: r.ns_per_page))
    by = {r.backend: r for r in best}
    speedup = (by["python"].ns_per_page / by["c"].ns_per_page
               if "c" in by and "python" in by else None)
    if args.json:
        print(json.dumps({"results": [r.as_dict() for r in best], "speedup": speedup,
                          "environment": _environment()}, indent=2))
        return 0
    console.print(_table(best))
    r = best[0]
    console.print(f"guest 2 x pages, host 4 x pages. ns/page: total time / (2 x pages), every "
                  f"page moves out and back; the C core best of {args.repeat}, the reference "
                  f"once.\n"
                  f"state: {r.bytes_per_page:.2f} bytes per guest page (flags, list link, "
                  f"physmap entry), {r.bytes_per_frame:.2f} per host frame (free stack, data "
                  f"tag); {r.state['total'] / r.guest_pages:.2f} per guest page all-in on this "
                  f"host.", soft_wrap=True)
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_parser(sub: Any) -> None:
    """Register ``xenballoon bench`` on the CLI's subparsers."""
    p = sub.add_parser("bench", help="time the million-page balloon cycle on both cores",
                       description="Boot a guest of 2 x PAGES pages on a host of 4 x PAGES, "
                                   "inflate its balloon by PAGES and deflate it again through "
                                   "the worker loop, on the C core and the pure-Python "
                                   "reference; print ns/page, simulated GiB/s, the speed-up "
                                   "and the core's bytes of state per page.")
    p.add_argument("--pages", type=_positive, default=CANONICAL_PAGES,
                   help=f"pages to inflate and deflate (default {CANONICAL_PAGES:,}: 4 GiB)")
    p.add_argument("--reference-pages", type=_positive, default=REFERENCE_CAP, metavar="PAGES",
                   help="cap on the reference core's size, which costs about 5 us per page "
                        f"(default {REFERENCE_CAP:,}; per-page figures are compared)")
    p.add_argument("--backend", choices=("both", "c", "python"), default="both",
                   help="which cores to run (default both)")
    p.add_argument("--repeat", type=_positive, default=3,
                   help="runs of the C core, each on a fresh machine; the fastest is "
                        "reported (default 3; the reference runs once)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_bench)
