"""The cost model's price in wall time: the canonical cycle, instantaneous and with the default
`CostModel`, side by side in one run (issue 10: at most 1.5x at 1M pages), on both cores.

With a cost model a run spans simulated time, yet when nothing else is due the core runs all
its turns in one call; the summary prints the wall-time ratio.
"""

from __future__ import annotations

from collections.abc import Callable

from pytest_benchmark.fixture import BenchmarkFixture
from test_cycle import ONE_M, SMALL, timed_cycles

import xenballoon as xb


def test_cycle_1m_default_cost(benchmark: BenchmarkFixture, backend: str, small: bool,
                               reference_pages: int | None, record: Callable[..., None]) -> None:
    """The 1M-page cycle of test_cycle_1m under the default cost model."""
    pages = SMALL if small else ONE_M if backend == "c" else reference_pages or ONE_M
    timed_cycles(benchmark, backend, pages, rounds=10 if backend == "c" else 1,
                 cost=xb.CostModel.default())
    record("cycle 1M pages, default cost", backend, 2 * pages, pages=pages)
