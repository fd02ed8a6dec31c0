"""``xenballoon run``: run a scenario file (or a built-in example) and show what happened.

Prints the timeline, then a summary table (one row per domain, or per balloon state when
there are many domains) and the host's numbers; writes the trace (``--trace``, .csv or
.parquet), a plot (``--plot``, .png or .svg) and the summary (``--json``) on request.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import InvalidArgument
from ..scenarios import examples
from ..scenarios.run import Result, run_scenario
from ..trace.io import MissingExtra
from .render import events_table, mib, summary_table

__all__ = ["add_parser", "check_output", "cmd_run", "report_result"]

EXTRAS = {".png": ("matplotlib", "plot"), ".svg": ("matplotlib", "plot"),
          ".parquet": ("pyarrow", "trace"), ".pq": ("pyarrow", "trace"), ".csv": (None, "")}


def check_output(path: str | None, option: str, allowed: tuple[str, ...]) -> None:
    """Refuse an unknown suffix or a missing extra before the run, not after it."""
    if path is None:
        return
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise InvalidArgument(f"{option} {path}: expected a {' or '.join(allowed)} file name")
    module, extra = EXTRAS[suffix]
    if module is not None and importlib.util.find_spec(module) is None:
        raise MissingExtra(f"{option} {suffix}", extra, module)


def _host(console: Console, summary: dict[str, Any], result: Result) -> None:
    host = summary["host"]
    console.print(f"host: {mib(host['total_pages'])} MiB, free {mib(host['free_pages'])} "
                  f"MiB at the end, at least {mib(host['min_free_pages'])} MiB free "
                  f"throughout; {host['leaks']} data leaks")
    console.print(f"ran {summary['duration']:g} simulated s in {result.wall_seconds:.2f} s "
                  f"(backend {summary['backend']})")


def _run_with_bar(source: Path, console: Console) -> Result:
    """Run with a rich progress bar in simulated time (on a terminal only)."""
    if not console.is_terminal:
        return run_scenario(source)
    columns = (TextColumn("simulating"), BarColumn(),
               TextColumn("{task.completed:,.0f} / {task.total:,.0f} s simulated"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("run", total=1.0)
        return run_scenario(source, progress=lambda now, end: bar.update(
            task, completed=now, total=end))


def report_result(console: Console, result: Result, args: argparse.Namespace) -> None:
    """Print the timeline, the summary and the host's numbers; write ``args.trace``,
    ``args.plot`` and ``args.json`` when given (``run`` and ``serve`` alike)."""
    if result.spec.description:
        console.print(result.spec.description, highlight=False, markup=False)
    console.print(events_table(result.events))
    console.print(summary_table(result.summary))
    _host(console, result.summary, result)
    if args.trace:
        result.trace.write(args.trace)
        console.print(f"trace written to {args.trace}")
    if args.plot:
        result.plot(args.plot)
        console.print(f"plot written to {args.plot}")
    if args.json:
        Path(args.json).write_text(json.dumps(result.summary, indent=2) + "\n",
                                   encoding="utf-8")
        console.print(f"summary written to {args.json}")


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    if args.list or (args.file is None and args.example is None):
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="built-in examples "
                      "(xenballoon run --example NAME)", title_justify="left")
        table.add_column("name", no_wrap=True)
        table.add_column("what it shows")
        for name in examples.names():
            table.add_row(name, examples.describe(name))
        console.print(table)
        return 0 if args.list else 2
    if args.file is not None and args.example is not None:
        raise InvalidArgument("give a FILE or --example NAME, not both")
    check_output(args.trace, "--trace", (".csv", ".parquet", ".pq"))
    check_output(args.plot, "--plot", (".png", ".svg"))
    source = examples.path(args.example) if args.example else Path(args.file)
    report_result(console, _run_with_bar(source, console), args)
    return 0


def add_parser(sub: Any) -> None:
    """Register ``xenballoon run`` on the CLI's subparsers."""
    p = sub.add_parser("run", help="run a scenario file and summarise it",
                       description="Run a scenario (a TOML file: host, guests, policy and a "
                                   "timeline of events) in simulated time; print the "
                                   "timeline and a summary; optionally write the trace, a "
                                   "plot and the summary as JSON.")
    p.add_argument("file", nargs="?", metavar="FILE", help="the scenario file (.toml)")
    p.add_argument("--example", metavar="NAME", help="run a built-in example instead")
    p.add_argument("--list", action="store_true", help="list the built-in examples")
    p.add_argument("--trace", metavar="PATH", help="write the trace (.csv, or .parquet "
                   "with the 'trace' extra)")
    p.add_argument("--plot", metavar="PATH", help="write a plot (.png or .svg; the 'plot' "
                   "extra)")
    p.add_argument("--json", metavar="PATH", help="write the summary as JSON")
    p.set_defaults(func=cmd_run)
