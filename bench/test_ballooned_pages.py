"""alloc_ballooned_pages / free_ballooned_pages (grant-mapping pages) in chunks.

A guest with 16,384 lowmem pages in its balloon hands out a chunk and takes it back, over
and over; the cost is per page of a round trip.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from xenballoon import perf as bench


@pytest.mark.parametrize("chunk", [1, 64, 4096])
def test_alloc_free_ballooned_pages(benchmark: BenchmarkFixture, backend: str, chunk: int,
                                    small: bool, record: Callable[..., None]) -> None:
    """Hand out `chunk` ballooned pages and free them again."""
    ballooned = 4096 if small else 16384
    m = bench.boot(backend, ballooned, guest_pages=4 * ballooned)
    m.balloon.set_target(m.guest_pages - ballooned)
    m.sim.run()
    alloc, free = m.balloon.alloc_ballooned_pages, m.balloon.free_ballooned_pages

    def round_trip() -> np.ndarray:
        pfns = alloc(chunk)
        free(pfns)
        return pfns

    pfns = benchmark(round_trip)
    assert len(pfns) == chunk and len(set(pfns.tolist())) == chunk
    s = m.balloon.stats
    assert (s.balloon_low, s.target_unpopulated) == (ballooned, 0)
    assert s.current_pages == s.target_pages == m.guest_pages - ballooned
    assert not m.balloon.work_pending
    m.hv.check()
    m.guest.check()
    record(f"ballooned pages x{chunk}", backend, chunk, chunk=chunk)
