"""The ``xenballoon`` command: ``demo``, ``steer``, ``bench`` (and more as the project grows)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table

from . import __version__, bench, cli_sweep, toolstack
from .balloon import Balloon
from .core import BACKEND
from .errors import InvariantError, XenBalloonError
from .guest import Guest
from .hypervisor import Hypervisor
from .scenario import MIB, run_demo
from .sim import Simulation


def _mib(pages: int | None) -> str:
    return "" if pages is None else f"{pages / MIB:,.1f}"


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    result = run_demo(scale=args.scale)
    hv = result.hypervisor
    table = Table(title=f"xenballoon demo: three guests on a {hv.total_pages // MIB:,} MiB host "
                        f"(MiB; backend {BACKEND})", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for col, justify in (("t (s)", "right"), ("domain", "left"), ("event", "left"),
                         ("target", "right"), ("current", "right"), ("balloon", "right"),
                         ("state", "left"), ("host free", "right")):
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    style = {"DONE": "green", "EAGAIN": "yellow", "ECANCELED": "red", "WAIT": "cyan"}
    for e in result.events:
        state = f"[{style.get(e.state, '')}]{e.state}[/]" if e.state else ""
        table.add_row(f"{e.time:.1f}", e.domain, e.what, _mib(e.target), _mib(e.current),
                      _mib(e.balloon), state, _mib(e.host_free))
    console.print(table)
    console.print(toolstack.domain_table(hv))
    for name, balloon in result.balloons.items():
        s = balloon.stats
        console.print(f"{name}: current {_mib(s.current_pages)} MiB, target "
                      f"{_mib(s.target_pages)} MiB, state {balloon.state.name}")
    try:
        hv.check()
        for balloon in result.balloons.values():
            balloon.guest.check()
    except InvariantError as exc:
        console.print(f"[red]invariant check FAILED: {exc}[/]")
        return 1
    console.print(f"invariant check: OK (every frame accounted for, {hv.leaks} data leaks)")
    return 0


def cmd_steer(args: argparse.Namespace, console: Console) -> int:
    hv = Hypervisor(Simulation(), toolstack.size_to_pages(args.host))
    dom = hv.create_domain(toolstack.size_to_pages(args.memory), name="vm1")
    balloon = Balloon(Guest(dom))
    target_kb = toolstack.size_to_kb(args.target)
    if args.via == "sysfs":
        balloon.sysfs.write("target_kb", f"{target_kb}\n")
        how = f"echo {target_kb} > {balloon.sysfs.root}/target_kb"
    else:
        toolstack.mem_set(hv, dom.name, target_kb)
        how = f"xl mem-set {dom.name} {target_kb}k"
    hv.sim.run()
    console.print(f"$ {how}", soft_wrap=True, markup=False, highlight=False)
    console.print(f"{dom.name}: {balloon.state.name} at t = {hv.sim.now:.1f} s (simulated)")
    console.print(toolstack.domain_table(hv))
    return 0


def _size(text: str) -> int:
    try:
        return toolstack.parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xenballoon",
        description="The Xen balloon driver (Linux balloon.c) on a simulated Xen host.")
    parser.add_argument("--version", action="version", version=f"xenballoon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="run a built-in scenario and print its timeline",
                          description="Two PV guests trade memory with `xl mem-set`; then the "
                                      "host is squeezed until a guest cannot deflate; at the "
                                      "end a third guest grows past its boot memory by "
                                      "memory hotplug.")
    demo.add_argument("--scale", type=int, default=1,
                      help="multiply every size (1 = a 1 GiB host); default 1")
    demo.set_defaults(func=cmd_demo)
    steer = sub.add_parser("steer", help="boot a guest, set its target, run until it settles",
                           description="Boot one guest with a balloon, set its target through "
                                       "xenstore (`xl mem-set`) or sysfs, and run until the "
                                       "driver settles. SIZE: 512M, 4GiB, 1024K (powers of "
                                       "1024; a bare number is bytes).")
    steer.add_argument("--host", type=_size, default="1GiB", metavar="SIZE",
                       help="the host's memory; default 1GiB")
    steer.add_argument("--memory", type=_size, default="512MiB", metavar="SIZE",
                       help="the guest's boot memory; default 512MiB")
    steer.add_argument("--target", type=_size, required=True, metavar="SIZE",
                       help="the new target")
    steer.add_argument("--via", choices=("xenstore", "sysfs"), default="xenstore",
                       help="set the target in xenstore as dom0 (default) or in the guest's sysfs")
    steer.set_defaults(func=cmd_steer)
    bench.add_parser(sub)
    cli_sweep.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "scale", 1) < 1:
        parser.error("--scale must be at least 1")
    if args.command == "steer" and toolstack.size_to_pages(args.memory) < 1:
        parser.error("--memory must be at least one page (4K)")
    # Pipes and CI logs get a fixed width, so the tables do not wrap.
    console = Console() if sys.stdout.isatty() else Console(width=100)
    try:
        return int(args.func(args, console))
    except (XenBalloonError, ValueError, OSError) as exc:
        console.print(f"[red]xenballoon {args.command}: {exc}[/]")
        return 1


if __name__ == "__main__":
    sys.exit(main())
