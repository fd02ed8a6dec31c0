"""``xenballoon bench``: time the canonical balloon cycle (`xenballoon.perf`) and print it."""

from __future__ import annotations

import argparse
import json
import threading
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .. import perf
from ..xen import CostModel

__all__ = ["add_parser", "cmd_bench"]


class _Watch:
    """Drives a progress task from the balloon's counters while the worker runs.

    The cycle runs in the calling thread; a poller thread reads ``current_pages`` a few
    times a second.  That follows the world's thread rule (``xenballoon.sim.lock``): a
    getter of one value is read without the world's lock, from any thread, and never
    waits (the cycle's ``run`` holds the lock throughout); the poller calls nothing else.
    """

    def __init__(self, progress: Progress, task: Any, label: str, pages: int,
                 done: int) -> None:
        self.progress, self.task, self.label = progress, task, label
        self.pages, self.done = pages, done
        self.machine: perf.Machine | None = None
        self.step = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def __call__(self, step: str, machine: perf.Machine | None) -> None:
        self.step, self.machine = step, machine
        self._show()

    def _show(self) -> None:
        moved = perf.moved_pages(self.machine, self.step, self.pages)
        self.progress.update(self.task, completed=self.done + moved,
                             description=f"{self.label}: {self.step}")

    def _poll(self) -> None:
        while not self._stop.wait(0.1):
            self._show()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _table(results: list[perf.CycleResult]) -> Table:
    table = Table(title="xenballoon bench: inflate by `pages` and deflate",
                  title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    # GiB/s: bytes ballooned out and back per second of wall-clock time (not simulated time)
    for col in ("backend", "pages", "ns/page", "wall-clock GiB/s", "speed-up", "bytes/page"):
        table.add_column(col, justify="left" if col == "backend" else "right", no_wrap=True)
    ref = next((r for r in results if r.backend == "python"), None)
    for r in results:
        up = "1.0x" if r is ref else (f"{ref.ns_per_page / r.ns_per_page:,.0f}x"
                                      if ref is not None else "")
        table.add_row(r.backend, f"{r.pages:,}", f"{r.ns_per_page:,.2f}",
                      f"{r.gib_per_s:,.2f}", up, f"{r.bytes_per_page:.2f}")
    return table


def _give_back_table(gave: list[perf.GiveBack]) -> Table:
    table = Table(title="time to give back memory (inflate), default cost model",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("GiB", "simulated s", "simulated MiB/s", "wall ms", "backend"):
        table.add_column(col, justify="right", no_wrap=True)
    for g in gave:
        table.add_row(f"{g.gib:g}", f"{g.simulated_s:,.3f}", f"{g.mib_per_s:,.0f}",
                      f"{g.wall_s * 1e3:,.1f}", g.backend)
    return table


def cmd_bench(args: argparse.Namespace, console: Console) -> int:
    backends = ("c", "python") if args.backend == "both" else (args.backend,)
    plan = [(b, args.pages if b == "c" else min(args.pages, args.reference_pages),
             args.repeat if b == "c" else 1) for b in backends]
    best: list[perf.CycleResult] = []
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
                    results.append(perf.run_cycle(backend, pages, phase=watch))
                finally:
                    watch.close()
            best.append(min(results, key=lambda r: r.ns_per_page))
    by = {r.backend: r for r in best}
    speedup = (by["python"].ns_per_page / by["c"].ns_per_page
               if "c" in by and "python" in by else None)
    # The C cycle again under the default cost model (same sizes, fastest of as many runs),
    # and the simulated time to give back each size in --give-back.
    cost_cycle = ratio = None
    if "c" in by:
        model = CostModel.default()
        cost_cycle = min((perf.run_cycle("c", by["c"].pages, cost=model)
                          for _ in range(args.repeat)), key=lambda r: r.ns_per_page)
        ratio = cost_cycle.seconds / by["c"].seconds
    gave = [perf.give_back("c", gib) for gib in args.give_back] if "c" in by else []
    if args.json:
        print(json.dumps({"results": [r.as_dict() for r in best], "speedup": speedup,
                          "cost_cycle": cost_cycle.as_dict() if cost_cycle else None,
                          "cost_wall_ratio": ratio,
                          "give_back": [g.as_dict() for g in gave],
                          "environment": perf.environment()}, indent=2))
        return 0
    console.print(_table(best))
    if cost_cycle is not None:
        console.print(f"default cost model: the C cycle took {cost_cycle.ns_per_page:,.2f} "
                      f"ns/page, {ratio:.2f}x the wall time of the instantaneous model, for "
                      f"{cost_cycle.simulated_s:,.3f} simulated seconds.", soft_wrap=True)
    if gave:
        console.print(_give_back_table(gave))
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


def _gib(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of GiB: {text!r}") from None
    if not 0 < value <= 1024:
        raise argparse.ArgumentTypeError(f"must be in (0, 1024] GiB, got {text}")
    return value


def add_parser(sub: Any) -> None:
    """Register ``xenballoon bench`` on the CLI's subparsers."""
    p = sub.add_parser("bench", help="time the million-page balloon cycle on both cores",
                       description="Boot a guest of 2 x PAGES pages on a host of 4 x PAGES, "
                                   "inflate its balloon by PAGES and deflate it again through "
                                   "the worker loop, on the C core and the pure-Python "
                                   "reference; print ns/page, wall-clock GiB/s (GiB "
                                   "ballooned out and back per wall-clock second), the speed-up "
                                   "and the core's bytes of state per page.")
    p.add_argument("--pages", type=_positive, default=perf.CANONICAL_PAGES,
                   help=f"pages to inflate and deflate (default {perf.CANONICAL_PAGES:,}: 4 GiB)")
    p.add_argument("--reference-pages", type=_positive, default=perf.REFERENCE_CAP, metavar="PAGES",
                   help="cap on the reference core's size, which costs about 5 us per page "
                        f"(default {perf.REFERENCE_CAP:,}; per-page figures are compared)")
    p.add_argument("--backend", choices=("both", "c", "python"), default="both",
                   help="which cores to run (default both)")
    p.add_argument("--repeat", type=_positive, default=3,
                   help="runs of the C core, each on a fresh machine; the fastest is "
                        "reported (default 3; the reference runs once)")
    p.add_argument("--give-back", type=_gib, nargs="*", default=list(perf.GIVE_BACK_GIB),
                   metavar="GIB",
                   help="sizes to give back under the default cost model on the C core, "
                        "reporting the simulated seconds (default: 1 4 16; none: skip)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_bench)
