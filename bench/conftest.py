"""Benchmarks: every case on both cores, side by side in one run.

``pytest bench/ --benchmark-only`` times them at full size (a few minutes, most of it the
reference core).  ``pytest bench/ --benchmark-disable`` runs each case once at a small size:
a correctness test for CI.  Every case asserts its result.

Environment: ``XENBALLOON_BENCH_SMALL=1`` uses the small sizes while timing (a quick look);
``XENBALLOON_BENCH_REFERENCE_PAGES=N`` runs the reference core's canonical cycle at N pages
(default: the full 1,048,576; it reports per page, so the speed-up stays comparable).

At the end of a timed run a summary gives each case's cost per page (or per event), from
the fastest round, and the C core's speed-up over the reference (for the event loop: the
speed-up over SimPy's callbacks).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from _pytest.terminal import TerminalReporter
from pytest_benchmark.fixture import BenchmarkFixture

BACKENDS = ("c", "python")
SIMPY = "simpy callbacks"  # the event loop's rows: speed-up against this one


@dataclass
class Row:
    group: str
    backend: str
    size: int       # pages (or events) per round
    unit: str       # what ns are counted per: "page", "event"
    ns: float       # fastest round / size
    note: str = ""


_ROWS = pytest.StashKey[list[Row]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_ROWS] = []


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Both cores: the compiled one and the pure-Python reference."""
    return str(request.param)


@pytest.fixture
def small(benchmark: BenchmarkFixture) -> bool:
    """Small sizes: when benchmarking is disabled (a correctness run), or asked for."""
    return bool(benchmark.disabled or os.environ.get("XENBALLOON_BENCH_SMALL"))


@pytest.fixture
def reference_pages() -> int | None:
    """XENBALLOON_BENCH_REFERENCE_PAGES: the reference core's canonical size, if set."""
    value = os.environ.get("XENBALLOON_BENCH_REFERENCE_PAGES")
    return int(value) if value else None


@pytest.fixture
def record(benchmark: BenchmarkFixture, request: pytest.FixtureRequest
           ) -> Callable[..., None]:
    """``record(group, backend, size, unit="page", ns=None, note="", **info)`` after it ran.

    Sets the benchmark's group (so both cores sit in one table) and extra_info, including
    ns per unit (from the fastest round unless ``ns`` is given), and adds the row to the
    end-of-run summary.
    """

    def add(group: str, backend: str, size: int, unit: str = "page", ns: float | None = None,
            note: str = "", **info: object) -> None:
        benchmark.group = group
        benchmark.extra_info.update(backend=backend, size=size, unit=unit, **info)
        if benchmark.stats is None:  # benchmarking disabled: nothing was timed
            return
        if ns is None:
            ns = benchmark.stats.stats.min * 1e9 / size
        benchmark.extra_info[f"ns_per_{unit}"] = ns
        request.config.stash[_ROWS].append(Row(group, backend, size, unit, ns, note))

    return add


def pytest_terminal_summary(terminalreporter: TerminalReporter, config: pytest.Config) -> None:
    rows = config.stash.get(_ROWS, [])
    if not rows:
        return
    tr = terminalreporter
    tr.section("xenballoon: cost per page (fastest round)")
    tr.write_line(f"{'case':<28} {'backend':<16} {'size':>12} {'cost':>20} {'speed-up':>11}")
    by_group: dict[str, dict[str, Row]] = {}
    for row in rows:
        by_group.setdefault(row.group, {})[row.backend] = row
    for group, pair in by_group.items():
        for row in pair.values():
            up = ""
            if row.backend == "c" and "python" in pair:
                up = f"{pair['python'].ns / row.ns:,.0f}x"
            elif SIMPY in pair and not row.backend.startswith("simpy"):
                up = f"{pair[SIMPY].ns / row.ns:,.2f}x"  # against SimPy's callbacks
            cost = f"{row.ns:,.2f} ns/{row.unit}"
            tr.write_line(f"{group:<28} {row.backend:<16} {row.size:>12,} {cost:>20} {up:>11}"
                          f"  {row.note}".rstrip())
    one, big = by_group.get("cycle 1M pages", {}), by_group.get("cycle 16M-page guest", {})
    timed = by_group.get("cycle 1M pages, default cost", {})
    for backend in BACKENDS:
        if backend in one and backend in timed:
            tr.write_line(f"{backend} core, 1M-page cycle, default cost model / instantaneous: "
                          f"{timed[backend].ns / one[backend].ns:.2f}x (target: at most 1.5x)")
    if "c" in one and "c" in big:
        tr.write_line(f"C core per page, 16M-page guest / 1M-page cycle: "
                      f"{big['c'].ns / one['c'].ns:.2f}x (target: within 1.5x)")
    checks = by_group.get("checks 16M-page guest", {})
    if "c" in checks and "c" in big:
        tr.write_line(f"C core, hv.check() + guest.check() / the 16M-page cycle, per page: "
                      f"{checks['c'].ns / big['c'].ns:.2f}x (target: at most 1x)")
