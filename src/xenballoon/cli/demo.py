"""``xenballoon demo``: run the built-in scenario and print its timeline."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from ..core import BACKEND
from ..errors import InvariantError
from ..scenarios.demo import run_demo
from .render import demo_table, domain_table, mib

__all__ = ["add_parser", "cmd_demo"]


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    result = run_demo(scale=args.scale)
    hv = result.hypervisor
    console.print(demo_table(result, BACKEND))
    console.print(domain_table(hv))
    for name, balloon in result.balloons.items():
        s = balloon.stats
        console.print(f"{name}: current {mib(s.current_pages)} MiB, target "
                      f"{mib(s.target_pages)} MiB, state {balloon.state.name}")
    try:
        hv.check()
        for balloon in result.balloons.values():
            balloon.guest.check()
    except InvariantError as exc:
        console.print(f"[red]invariant check FAILED: {exc}[/]")
        return 1
    console.print(f"invariant check: OK (every frame accounted for, {hv.leaks} data leaks)")
    return 0


def add_parser(sub: Any) -> None:
    """Register ``xenballoon demo`` on the CLI's subparsers."""
    demo = sub.add_parser("demo", help="run a built-in scenario and print its timeline",
                          description="Two PV guests trade memory with `xl mem-set`; then the "
                                      "host is squeezed until a guest cannot deflate; at the "
                                      "end a third guest grows past its boot memory by "
                                      "memory hotplug.")
    demo.add_argument("--scale", type=int, default=1,
                      help="multiply every size (1 = a 1 GiB host); default 1")
    demo.set_defaults(func=cmd_demo)
