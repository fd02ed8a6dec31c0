"""``xenballoon demo``: run the built-in ``demo`` example and print what happened.

The story (`xenballoon.scenarios.examples`, ``demo.toml``): two PV guests trade memory, the
host is squeezed until a guest cannot deflate, and a third guest grows by memory hotplug.
``--scale`` multiplies every size of it.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from ..errors import InvariantError
from ..scenarios import examples, run_scenario
from ..scenarios.load import read_toml, scale_sizes
from .render import domain_table, events_table, mib

__all__ = ["add_parser", "cmd_demo"]


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    result = run_scenario(scale_sizes(read_toml(examples.path("demo")), args.scale))
    hv = result.world.hypervisor
    table = events_table(result.events)
    table.title = (f"xenballoon demo: three guests on a {mib(hv.total_pages)} MiB host "
                   f"(backend {hv.backend})")
    console.print(table)
    console.print(domain_table(hv))
    for name, balloon in result.world.balloons.items():
        s = balloon.stats
        console.print(f"{name}: current {mib(s.current_pages)} MiB, target "
                      f"{mib(s.target_pages)} MiB, state {balloon.state.name}")
    try:
        hv.check(guests=True)
    except InvariantError as exc:
        console.print(f"[red]invariant check FAILED: {exc}[/]")
        return 1
    console.print(f"invariant check: OK (every frame accounted for, {hv.leaks} data leaks)")
    return 0


def add_parser(sub: Any) -> None:
    """Register ``xenballoon demo`` on the CLI's subparsers."""
    demo = sub.add_parser("demo", help="run the built-in demo scenario and print its timeline",
                          description="Two PV guests trade memory with `xl mem-set`; then the "
                                      "host is squeezed until a guest cannot deflate; at the "
                                      "end a third guest grows past its boot memory by "
                                      "memory hotplug. (`xenballoon run --example demo`, "
                                      "with an `xl list` and an invariant check.)")
    demo.add_argument("--scale", type=int, default=1,
                      help="multiply every size (1 = a 1 GiB host); default 1")
    demo.set_defaults(func=cmd_demo)
