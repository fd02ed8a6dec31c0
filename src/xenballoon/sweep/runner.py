"""Running a grid: runs in batches, on a Dask cluster or a ``concurrent.futures`` executor.

A task is a batch of consecutive runs (``run_batch``), so that scheduling costs little next
to the work: guided batches, large first (at most `MAX_BATCH` runs) and single runs last, so
the workers also finish together.  A worker reduces each run to its row before the next
starts (the world, the trace and the summary are dropped there), and the client drops each
batch's future once it has the rows, so memory stays flat however long the sweep.  A run
that raises is a row with its error; a batch that is lost (its worker died) is a row with
that error for each of its runs.  Rows are put back in run order, so the table is the same
whatever ran where and whenever it finished.

Engines: a dask ``Client`` (a cluster of any size, found by ``Client(address)``), any
``concurrent.futures.Executor`` (no dask needed), or, by default, a local Dask cluster of
worker processes made for the sweep and closed after it.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import InvalidArgument
from ..scenarios import run_scenario
from ..trace.io import require
from .grid import Grid, Run
from .table import summary_row

__all__ = ["GUIDED_SHARE", "MAX_BATCH", "Progress", "batches",
           "local_cluster", "one_line", "require_dask", "run_batch", "run_grid", "run_one"]

MAX_BATCH = 64
GUIDED_SHARE = 0.25
Progress = Callable[[int, int, int], object]   # (runs done, runs failed, runs in all)
Row = dict[str, Any]


def run_one(grid: Grid, run: Run, traces: str | None = None) -> Row:
    """One run as its row: the varied values, the seed, the error ('' if none), the wall
    time, and the summary's metrics.  With ``traces``, its trace is written there as
    ``run-<index>.parquet`` (on the machine that ran it)."""
    row: Row = dict(zip(grid.names, run.values, strict=True))
    row["seed"] = run.seed
    started = time.perf_counter()
    try:
        result = run_scenario(grid.scenario_for(run))
        if traces is not None:   # the directory as this worker's machine sees it
            Path(traces).mkdir(parents=True, exist_ok=True)
            result.trace.write(Path(traces) / f"run-{run.index:06d}.parquet")
        metrics, error = summary_row(result.summary), ""
        del result
    except Exception as exc:  # any failure of one run is that run's row, never the sweep's end
        metrics, error = {}, one_line(exc)
    row["error"] = error
    row["wall_seconds"] = time.perf_counter() - started
    row.update(metrics)
    return row


def one_line(exc: BaseException) -> str:
    """An exception as one line of the table: its type, then its lines joined by '; '."""
    text = ""
    for line in (line.strip() for line in str(exc).splitlines()):
        if line:
            text += line if not text else (" " if text.endswith(":") else "; ") + line
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_batch(grid: Grid, start: int, stop: int, traces: str | None = None
              ) -> list[tuple[int, Row]]:
    """Runs ``start .. stop-1`` of the grid, one after another (a task on a worker)."""
    return [(run.index, run_one(grid, run, traces)) for run in grid.runs(start, stop)]


def batches(runs: int, workers: int, size: int | None = None) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering runs ``0 .. runs-1``: slices of ``size`` runs, or by
    default guided, as OpenMP's ``schedule(guided)``: each batch a `GUIDED_SHARE` of what is
    left per worker, 1 .. `MAX_BATCH` runs, so the first are large (little scheduling per
    run) and the last are single runs (the workers finish together)."""
    spans, start = [], 0
    while start < runs:
        step = size or max(1, min(MAX_BATCH, math.ceil((runs - start) * GUIDED_SHARE
                                                        / max(1, workers))))
        spans.append((start, min(start + step, runs)))
        start += step
    return spans


def require_dask() -> Any:
    """The ``distributed`` module, or `MissingExtra` naming the extra that brings it."""
    return require("distributed", "a sweep on Dask (or pass a concurrent.futures executor)",
                   "sweep")


@contextmanager
def local_cluster(workers: int | None = None) -> Iterator[Any]:
    """A Client on a new local Dask cluster: ``workers`` processes (default: one per core),
    one thread each; closed on exit."""
    distributed = require_dask()
    n = (os.cpu_count() or 1) if workers is None else workers
    if n < 1:
        raise InvalidArgument(f"workers: expected at least 1, got {n}")
    with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=logging.ERROR
                                  ) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def _workers(client: Any) -> int:
    """How many runs the engine can do at once."""
    if isinstance(client, concurrent.futures.Executor):  # no public size: assume the cores
        return os.cpu_count() or 1
    return max(1, sum(client.nthreads().values()))


def _submit_all(client: Any, grid: Grid, spans: list[tuple[int, int]],
                traces: str | None) -> Iterator[tuple[tuple[int, int], Any]]:
    """Submit every batch; yield (span, future) as each one finishes."""
    if isinstance(client, concurrent.futures.Executor):
        pending = {client.submit(run_batch, grid, a, b, traces): (a, b) for a, b in spans}
        for future in concurrent.futures.as_completed(pending):
            yield pending.pop(future), future
        return
    distributed = require_dask()
    futures = {client.submit(run_batch, grid, a, b, traces, pure=False): (a, b)
               for a, b in spans}
    keys = {f.key: span for f, span in futures.items()}
    done = distributed.as_completed(list(futures))
    futures.clear()                      # as_completed holds them until they are yielded
    for future in done:
        yield keys.pop(future.key), future


def _lost(grid: Grid, span: tuple[int, int], exc: BaseException) -> list[tuple[int, Row]]:
    """Rows for the runs of a batch that never came back."""
    rows = []
    for run in grid.runs(*span):
        row: Row = dict(zip(grid.names, run.values, strict=True))
        row.update(seed=run.seed, error=f"batch lost: {one_line(exc)}",
                   wall_seconds=math.nan)
        rows.append((run.index, row))
    return rows


def run_grid(grid: Grid, client: Any = None, *, workers: int | None = None,
             batch: int | None = None, traces: str | os.PathLike[str] | None = None,
             progress: Progress | None = None) -> list[Row]:
    """Every run of ``grid`` as its row, in run order.

    ``client``: a dask Client, a concurrent.futures Executor, or None for a local Dask
    cluster of ``workers`` processes.  ``batch``: runs per task (default: guided `batches`).
    ``progress(done, failed, total)`` is called as batches come back.
    """
    if batch is not None and batch < 1:
        raise InvalidArgument(f"batch: expected at least 1 run per task, got {batch}")
    if client is None:
        with local_cluster(workers) as local:
            return run_grid(grid, local, batch=batch, traces=traces, progress=progress)
    where = None if traces is None else str(Path(traces).resolve())
    if where is not None:
        Path(where).mkdir(parents=True, exist_ok=True)
    total = len(grid)
    spans = batches(total, _workers(client), batch)
    found: dict[int, Row] = {}
    failed = 0
    for span, future in _submit_all(client, grid, spans, where):
        try:
            rows = future.result()
        except Exception as exc:   # the worker died or the batch could not be sent
            rows = _lost(grid, span, exc)
        del future
        failed += sum(1 for _, row in rows if row["error"])
        found.update(rows)
        if progress is not None:
            progress(len(found), failed, total)
    return [found[i] for i in range(total)]

