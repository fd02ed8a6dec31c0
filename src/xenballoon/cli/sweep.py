"""``xenballoon sweep``: a scenario over a grid of parameters and seeds, on Dask.

Rich progress while it runs (runs done, failed, ETA) and a closing table of the metrics
averaged per combination of the varied keys; the full table (one row per run) goes to
``--out``.  Engines: a local Dask cluster of ``--workers`` processes (default one per core),
or an existing cluster at ``--scheduler tcp://host:port``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ..sweep.api import make_grid
from ..sweep.grid import parse_vary
from ..sweep.runner import local_cluster, require_dask, run_grid
from ..sweep.table import (
    OOM_TOTAL,
    SHORT_TOTAL,
    SLOWEST,
    aggregate,
    check_out,
    frame,
    write,
)

__all__ = ["add_parser", "cmd_sweep"]

# The closing table's metrics (of the aggregate), with their headings, when present.
SHOWN = ((OOM_TOTAL, "OOM kills"), (SHORT_TOTAL, "below target"),
         (SLOWEST, "max wait s"), ("host.min_free_pages", "min free"))
LEGEND = ("per combination, the mean over its seeds of: OOM kills and domains below target "
          "(all domains), the slowest domain's time_to_target (s), host.min_free_pages")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


@contextmanager
def _client(args: argparse.Namespace) -> Iterator[Any]:
    """The engine the options ask for: a Client on ``--scheduler``, or a local cluster."""
    if args.scheduler is None:
        with local_cluster(args.workers) as client:
            yield client
        return
    distributed = require_dask()
    try:
        client = distributed.Client(args.scheduler, timeout="10s")
    except OSError as exc:
        raise OSError(f"no Dask scheduler at {args.scheduler}: {exc}") from None
    with client:
        yield client


def _progress_bar(console: Console) -> Progress:
    return Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("runs, [red]{task.fields[failed]} failed[/]"),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=console, transient=True)


def _cell(value: Any) -> str:
    """A number as a short text; an empty cell where no run succeeded (NaN, pandas' NA)."""
    if value is None or str(value) in ("nan", "<NA>"):
        return ""
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def closing_table(df: Any, keys: tuple[str, ...]) -> Table:
    """The metrics averaged per combination of the varied keys (successful runs only)."""
    agg = aggregate(df, keys)
    shown = [(column, title) for column, title in SHOWN if column in agg.columns]
    table = Table(caption=LEGEND, caption_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for key in keys or ("sweep",):   # the key's name whole: it says what the rows are
        table.add_column(escape(key), min_width=min(len(key), 24))
    table.add_column("runs", justify="right")
    for _, title in shown:
        table.add_column(title, justify="right")
    for _, row in agg.iterrows():
        failed, runs = int(row["failed"]), int(row["runs"])
        cells = [escape(_cell(row[k])) for k in keys or ("sweep",)]
        cells.append(f"{runs}, [red]{failed} failed[/]" if failed else str(runs))
        cells += [_cell(row[column]) for column, _ in shown]
        table.add_row(*cells)
    return table


def cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    grid = make_grid(args.file, [parse_vary(v) for v in args.vary], args.seeds)
    check_out(args.out)
    with _client(args) as client, _progress_bar(console) as bar:
        task = bar.add_task("sweep", total=len(grid), failed=0)

        def report(done: int, failed: int, total: int) -> None:
            bar.update(task, completed=done, failed=failed)

        rows = run_grid(grid, client, batch=args.batch, traces=args.traces, progress=report)
    df = frame(rows, grid.names)
    write(df, args.out)
    console.print(closing_table(df, grid.names))
    failed = df[df["error"] != ""]
    console.print(f"{len(df):,} runs, {len(failed):,} failed, "
                  f"{df['wall_seconds'].mean():.3g} s per run (wall); table: {args.out}",
                  markup=False, highlight=False)
    if len(failed):
        console.print(f"first failure (run {failed.index[0]}): {failed['error'].iloc[0]}",
                      style="red", markup=False, highlight=False)
    return 0


def add_parser(sub: Any) -> None:
    """Register ``xenballoon sweep`` on the CLI's subparsers."""
    p = sub.add_parser(
        "sweep", help="run a scenario over a grid of parameters and seeds (Dask)",
        description="Run FILE once per combination of the --vary values and per seed, on a "
                    "local Dask cluster (default) or an existing one (--scheduler), and write "
                    "one row per run to --out: the varied keys, seed, error, wall_seconds and "
                    "the summary as <domain>.<metric> and host.<metric>. Needs the 'sweep' "
                    "extra (pip install 'xenballoon[sweep]').")
    p.add_argument("file", metavar="FILE", help="the scenario (TOML)")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2",
                   help="a scenario key path and its values, e.g. policy.name=none,qmemman, "
                        "host.memory=8GiB,16GiB or domain[0].workload.amplitude=1GiB,2GiB "
                        "(repeatable; values are read as TOML values, else as text)")
    p.add_argument("--seeds", type=_positive, default=1, metavar="N",
                   help="runs per combination, with simulation.seed = 0 .. N-1 (default 1)")
    engine = p.add_mutually_exclusive_group()
    engine.add_argument("--workers", type=_positive, metavar="K",
                        help=f"worker processes of the local cluster (default: one per core, "
                             f"{os.cpu_count() or 1} here)")
    engine.add_argument("--scheduler", metavar="ADDRESS",
                        help="an existing Dask cluster's scheduler, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--out", required=True, metavar="PATH",
                   help="the table: PATH.csv or PATH.parquet (Parquet needs pyarrow)")
    p.add_argument("--traces", metavar="DIR",
                   help="write each run's trace to DIR/run-<n>.parquet on the worker that ran "
                        "it (a shared directory for a cluster); by default traces are dropped")
    p.add_argument("--batch", type=_positive, metavar="N",
                   help="runs per Dask task (default: guided, from up to 64 down to 1)")
    p.set_defaults(func=cmd_sweep)
