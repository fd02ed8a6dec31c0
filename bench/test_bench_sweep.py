"""Sweeps on Dask: the same 200-run sweep on 1 and on 2 local worker processes, and a worker's
memory over a long sweep.

Each run is the built-in ``host-oom-deflate`` scenario (about 30-50 ms).  The clusters start
outside the timing.  The summary line of the 2-worker case gives the speed-up over 1 worker
(goal: at least 1.7x on 2 cores) and, for both, the scheduling overhead: the share of the
workers' time not spent inside a run, ``1 - sum(run wall times) / (elapsed x workers)``
(goal: under 5 %).  ``--benchmark-disable`` runs 8 runs once, as a correctness test.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import xenballoon as xb
from xenballoon.scenarios.examples import path

distributed = pytest.importorskip("distributed")

SCENARIO = path("host-oom-deflate")
VARY = {"host.memory": ["2GiB", "3GiB"], "domain[1].memory": ["256MiB", "512MiB"]}
SEEDS, SMALL_SEEDS = 50, 2          # 4 combinations: 200 runs, or 8
LONG_RUNS, SMALL_LONG_RUNS = 10_000, 400
_ELAPSED: dict[int, float] = {}


@pytest.fixture(scope="module", params=[1, 2], ids=["1-worker", "2-workers"])
def client(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A local cluster of 1, then 2, single-threaded worker processes."""
    with distributed.LocalCluster(n_workers=request.param, threads_per_worker=1,
                                  processes=True, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as c:
        c.wait_for_workers(request.param)
        c.run(lambda: __import__("xenballoon.sweep.runner"))   # imports are not the work
        yield c


def test_sweep_200_runs(benchmark: BenchmarkFixture, client: Any, small: bool,
                        record: Callable[..., None]) -> None:
    """The 200-run sweep; each round on the same warm cluster."""
    workers = len(client.nthreads())
    seeds = SMALL_SEEDS if small else SEEDS
    tables: list[Any] = []

    def sweep() -> None:
        started = time.perf_counter()
        tables.append(xb.sweep(SCENARIO, vary=VARY, seeds=seeds, client=client))
        tables[-1].attrs["elapsed"] = time.perf_counter() - started

    benchmark.pedantic(sweep, rounds=1 if small else 3, warmup_rounds=0 if small else 1)
    runs = 4 * seeds
    for table in tables:
        assert len(table) == runs and (table["error"] == "").all()
        assert list(table["seed"]) == list(range(seeds)) * 4
    fastest = min(tables, key=lambda t: t.attrs["elapsed"])
    elapsed = fastest.attrs["elapsed"]
    overhead = 1 - fastest["wall_seconds"].sum() / (elapsed * workers)
    _ELAPSED[workers] = elapsed
    note = f"overhead {overhead:.1%}, {fastest['wall_seconds'].mean() * 1e3:.0f} ms/run"
    if workers == 2 and 1 in _ELAPSED:
        note += f"; speed-up over 1 worker {_ELAPSED[1] / elapsed:.2f}x (goal >= 1.7x)"
    record(f"sweep {runs} runs", f"{workers}w", runs, unit="run", ns=elapsed * 1e9 / runs,
           note=note,
           overhead=overhead, workers=workers, cores=os.cpu_count())


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def test_worker_memory_stays_flat(benchmark: BenchmarkFixture, client: Any, small: bool,
                                  record: Callable[..., None]) -> None:
    """10,000 small runs: the largest worker's resident memory at 20 % and at the end."""
    workers = len(client.nthreads())
    tiny = {"simulation": {"duration": "20s", "cost": "instant"},
            "host": {"memory": "64MiB"},
            "domain": [{"name": "vm1", "memory": "16MiB"}],
            "event": [{"at": "2s", "action": "mem-set", "domain": "vm1", "size": "4MiB"}]}
    runs = SMALL_LONG_RUNS if small else LONG_RUNS
    samples: list[int] = []

    def progress(done: int, failed: int, total: int) -> None:
        if (not samples and done >= total // 5) or done == total:
            samples.append(max(client.run(_rss).values()))

    def sweep() -> None:
        table = xb.sweep(tiny, seeds=runs, client=client, progress=progress)
        assert len(table) == runs and (table["error"] == "").all()

    benchmark.pedantic(sweep, rounds=1)
    early, late = samples[0], samples[-1]
    growth = (late - early) / 2**20
    assert growth < 32, f"a worker grew by {growth:.1f} MiB over {runs:,} runs"
    record(f"sweep {runs} tiny runs", f"{workers}w", runs, unit="run",
           note=f"worker RSS {early / 2**20:.0f} MiB at 20 %, {late / 2**20:.0f} MiB at the end",
           rss_growth_mib=growth)
