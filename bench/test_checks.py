"""The invariant checks against the cycle they check: ``Hypervisor.check()`` plus
``Guest.check()`` on the 16M-page guest (a 64 GiB guest on a 128 GiB host) after its 8M-page
balloon went out and back, per guest page; the goal is to cost no more than the cycle
itself (``cycle 16M-page guest``, per page moved: the same number of pages).
"""

from __future__ import annotations

import gc
from collections.abc import Callable

from pytest_benchmark.fixture import BenchmarkFixture

from xenballoon import perf as bench

SMALL = 4096
SIXTEEN_M = 1 << 24


def test_checks_16m_guest(benchmark: BenchmarkFixture, backend: str, small: bool,
                          record: Callable[..., None]) -> None:
    """hv.check() + guest.check() after a cycle; the reference core at 262,144 pages."""
    pages = SMALL if small else SIXTEEN_M // 2 if backend == "c" else 1 << 17
    gc.collect()
    machine = bench.boot(backend, pages)
    bench.cycle(machine, pages)

    def check() -> None:
        machine.hv.check()
        machine.guest.check()

    benchmark.pedantic(check, rounds=5 if backend == "c" else 1)
    bench.verify(machine)
    record("checks 16M-page guest", backend, 2 * pages, guest_pages=2 * pages)
