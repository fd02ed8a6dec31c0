"""``xb.sweep``: a scenario over a grid of parameters and seeds, as one table."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..scenarios import ScenarioError, load_spec
from ..scenarios.load import read_toml
from .grid import Grid, SweepError
from .runner import Progress, run_grid
from .table import frame

__all__ = ["check_keys", "make_grid", "sweep"]

Vary = Mapping[str, Sequence[Any]] | Iterable[tuple[str, Sequence[Any]]]


def check_keys(grid: Grid) -> None:
    """SweepError for a varied key the scenario format does not know (e.g. a typo), found
    by checking the first run's scenario; other problems are left to each run's row."""
    try:
        load_spec(grid.scenario_for(grid.run(0)))
    except ScenarioError as exc:
        for path, message in exc.problems:
            if path in grid.names and message.startswith("unknown key"):
                raise SweepError(f"--vary key {path!r}: {message}") from None


def make_grid(scenario: str | os.PathLike[str] | Mapping[str, Any], vary: Vary,
              seeds: int | Iterable[int] = 1) -> Grid:
    """The checked grid of a scenario (a TOML file path or a dict)."""
    data = (read_toml(scenario) if isinstance(scenario, (str, os.PathLike))
            else dict(scenario))
    grid = Grid.build(data, vary, seeds)
    check_keys(grid)
    return grid


def sweep(scenario: str | os.PathLike[str] | Mapping[str, Any], vary: Vary = (),
          seeds: int | Iterable[int] = 1, client: Any = None, *, workers: int | None = None,
          batch: int | None = None, traces: str | os.PathLike[str] | None = None,
          progress: Progress | None = None) -> Any:
    """Run ``scenario`` for every combination of ``vary`` times every seed; a DataFrame.

    ``scenario``: a TOML file path or a dict.  ``vary``: ``{key path: [values]}``, e.g.
    ``{"policy.name": ["qmemman", "squeezed"], "host.memory": ["8GiB", "16GiB"]}``; values
    are what the scenario file would hold.  ``seeds``: a count N (seeds 0..N-1, written to
    ``simulation.seed``) or the seeds themselves.  ``client``: a dask ``Client``, any
    ``concurrent.futures.Executor``, or None for a local Dask cluster of ``workers``
    processes (default: one per core) made for this sweep.  ``traces``: a directory where each
    run's trace is written (``run-<n>.parquet``, on the machine that ran it; a shared
    filesystem for a cluster).  ``progress(done, failed, total)``: called as batches finish.

    One row per run, in run order (the first key varies slowest, the seed fastest): the
    varied keys, ``seed``, ``error`` ('' if the run succeeded), ``wall_seconds``, and the
    summary as ``<domain>.<metric>`` and ``host.<metric>``.  A run that raises is a row with
    its error.  A bad key raises `SweepError` before anything runs.
    """
    grid = make_grid(scenario, vary, seeds)
    rows = run_grid(grid, client, workers=workers, batch=batch, traces=traces,
                    progress=progress)
    return frame(rows, grid.names)
