"""The ``xenballoon`` command: one module per subcommand (``demo``, ``steer``, ``bench``,
``run``, ``serve``).

The top of the layers, and the only package that imports rich (`render` holds the tables).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from .._version import __version__
from ..errors import XenBalloonError
from ..trace.io import MissingExtra
from ..units import size_to_pages
from . import bench, demo, run, serve, steer

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xenballoon",
        description="The Xen balloon driver (Linux balloon.c) on a simulated Xen host.")
    parser.add_argument("--version", action="version", version=f"xenballoon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo.add_parser(sub)
    steer.add_parser(sub)
    bench.add_parser(sub)
    run.add_parser(sub)
    serve.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "scale", 1) < 1:
        parser.error("--scale must be at least 1")
    if args.command == "steer" and size_to_pages(args.memory) < 1:
        parser.error("--memory must be at least one page (4K)")
    # Pipes and CI logs get a fixed width, so the tables do not wrap.
    console = Console() if sys.stdout.isatty() else Console(width=100)
    try:
        return int(args.func(args, console))
    except (XenBalloonError, ValueError, OSError, MissingExtra) as exc:
        console.print(f"[red]xenballoon {args.command}: {escape(str(exc))}[/]")
        return 1
