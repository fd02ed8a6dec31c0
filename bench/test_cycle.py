"""The canonical cycle: inflate a balloon by `pages` and deflate it, through the worker loop.

Each round starts from a freshly booted machine (guest 2 x pages, host 4 x pages); only
``set_target`` + ``Simulation.run`` for the two directions are timed.  The previous round's
machine is checked (``Hypervisor.check``, ``Guest.check``, current == target) in the next
round's setup, outside the timing, and the last one after the benchmark.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

from pytest_benchmark.fixture import BenchmarkFixture

import xenballoon as xb
from xenballoon import perf as bench

SMALL = 4096
ONE_M = 1 << 20     # 4 GiB balloon: an 8 GiB guest on a 16 GiB host
SIXTEEN_M = 1 << 24  # a 64 GiB guest: its balloon is half of it


def timed_cycles(benchmark: BenchmarkFixture, backend: str, pages: int, rounds: int,
                 cost: xb.CostModel | None = None) -> None:
    """Time `rounds` cycles of `pages`, each on a fresh machine; verify every one."""
    machines: list[bench.Machine] = []

    def setup() -> tuple[tuple[bench.Machine, int], dict[str, object]]:
        if machines:
            bench.verify(machines.pop())
        gc.collect()  # the previous machine (a reference cycle) goes before the next boots
        machines.append(bench.boot(backend, pages, cost=cost))
        return (machines[-1], pages), {}

    benchmark.pedantic(bench.cycle, setup=setup, rounds=rounds)
    bench.verify(machines.pop())


def test_cycle_1m(benchmark: BenchmarkFixture, backend: str, small: bool,
                  reference_pages: int | None, record: Callable[..., None]) -> None:
    """A 1,048,576-page balloon out and back (the reference: one round)."""
    pages = SMALL if small else ONE_M if backend == "c" else reference_pages or ONE_M
    timed_cycles(benchmark, backend, pages, rounds=10 if backend == "c" else 1)
    record("cycle 1M pages", backend, 2 * pages, pages=pages, guest_pages=2 * pages)


def test_cycle_16m_guest(benchmark: BenchmarkFixture, backend: str, small: bool,
                         record: Callable[..., None]) -> None:
    """A 16,777,216-page (64 GiB) guest: its 8M-page balloon out and back; per page as at 1M.

    The reference core takes a reduced size (131,072 pages) and reports per page.
    """
    pages = SMALL if small else SIXTEEN_M // 2 if backend == "c" else 1 << 17
    timed_cycles(benchmark, backend, pages, rounds=5 if backend == "c" else 1)
    record("cycle 16M-page guest", backend, 2 * pages, pages=pages, guest_pages=2 * pages)
