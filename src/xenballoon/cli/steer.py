"""``xenballoon steer``: boot a guest, set its target through xenstore or sysfs, settle."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from .. import units
from ..frontend import Balloon
from ..linux import Guest
from ..sim import Simulation
from ..toolstack import mem_set
from ..xen import Hypervisor
from .render import domain_table

__all__ = ["add_parser", "cmd_steer", "size"]


def cmd_steer(args: argparse.Namespace, console: Console) -> int:
    hv = Hypervisor(Simulation(), units.size_to_pages(args.host))
    dom = hv.create_domain(units.size_to_pages(args.memory), name="vm1")
    balloon = Balloon(Guest(dom))
    target_kb = units.size_to_kb(args.target)
    if args.via == "sysfs":
        balloon.sysfs.write("target_kb", f"{target_kb}\n")
        how = f"echo {target_kb} > {balloon.sysfs.root}/target_kb"
    else:
        mem_set(hv, dom.name, target_kb)
        how = f"xl mem-set {dom.name} {target_kb}k"
    hv.sim.run()
    console.print(f"$ {how}", soft_wrap=True, markup=False, highlight=False)
    console.print(f"{dom.name}: {balloon.state.name} at t = {hv.sim.now:.1f} s (simulated)")
    console.print(domain_table(hv))
    return 0


def size(text: str) -> int:
    """An argparse type: bytes named by a size such as ``512M``."""
    try:
        return units.parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(sub: Any) -> None:
    """Register ``xenballoon steer`` on the CLI's subparsers."""
    steer = sub.add_parser("steer", help="boot a guest, set its target, run until it settles",
                           description="Boot one guest with a balloon, set its target through "
                                       "xenstore (`xl mem-set`) or sysfs, and run until the "
                                       "driver settles. SIZE: 512M, 4GiB, 1024K (powers of "
                                       "1024; a bare number is bytes).")
    steer.add_argument("--host", type=size, default="1GiB", metavar="SIZE",
                       help="the host's memory; default 1GiB")
    steer.add_argument("--memory", type=size, default="512MiB", metavar="SIZE",
                       help="the guest's boot memory; default 512MiB")
    steer.add_argument("--target", type=size, required=True, metavar="SIZE",
                       help="the new target")
    steer.add_argument("--via", choices=("xenstore", "sysfs"), default="xenstore",
                       help="set the target in xenstore as dom0 (default) or in the guest's sysfs")
    steer.set_defaults(func=cmd_steer)
