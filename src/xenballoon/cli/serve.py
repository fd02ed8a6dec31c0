"""``xenballoon serve``: a scenario run live, its dom0 xenstore served to real clients.

The scenario is loaded, checked and built as ``run`` does (`ScenarioRun`), so a bad file
fails before any socket exists.  Then xenstored's wire protocol serves the host's store on
``--socket`` (``XENSTORED_PATH`` for libxenstore's tools, ``unix_socket_path`` for pyxs)
while the clock runs ``--speed`` simulated seconds per wall second, sampling the trace on
the way.  At the scenario's end (or, with ``--forever``, never), or on SIGINT/SIGTERM, it
stops, removes its sockets and prints and writes what ``run`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

from rich.console import Console

from ..scenarios.run import ScenarioRun
from ..xenstored import HANDLERS, XenstoredServer, XsType
from .run import check_output, report_result

__all__ = ["add_parser", "cmd_serve", "coverage"]


def coverage() -> str:
    """The protocol coverage for ``--help``, from the operation table itself."""
    served = [t.name for t in XsType if t in HANDLERS]
    refused = [t.name for t in XsType if t not in HANDLERS
               and t not in (XsType.WATCH_EVENT, XsType.ERROR)]

    def listed(head: str, names: list[str]) -> str:
        return textwrap.fill(f"{head}: {', '.join(names)};", 78, initial_indent="  ",
                             subsequent_indent="    ") + "\n"

    return ("protocol (Xen's xs_wire.h; many clients at once, requests answered in order):\n"
            + listed("served", served) +
            "  sent: WATCH_EVENT (to the connection that set the watch, including the\n"
            "  special watches @introduceDomain and @releaseDomain) and ERROR (xenstored's\n"
            "  errno names: EINVAL, EACCES, ENOENT, EAGAIN, E2BIG, ...);\n"
            + listed("answered ENOSYS", refused) +
            "  (the simulated host introduces and releases its own domains).\n"
            "  Payloads and paths have xenstored's limits; a malformed or oversized message\n"
            "  closes that connection only.\n\n"
            "example:\n"
            "  xenballoon serve host.toml --socket /tmp/xs --speed 10 &\n"
            "  XENSTORED_PATH=/tmp/xs xenstore-write /local/domain/1/memory/target 262144\n"
            "  XENSTORED_PATH=/tmp/xs xenstore-ls /local/domain/1")


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


async def _serve(server: XenstoredServer, until: float | None) -> None:
    """Serve until ``until`` (simulated) or a signal; the sockets are gone on return."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, server.stop)
    await server.start()
    try:
        await server.run(until)
    finally:
        await server.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def cmd_serve(args: argparse.Namespace, console: Console) -> int:
    check_output(args.trace, "--trace", (".csv", ".parquet", ".pq"))
    check_output(args.plot, "--plot", (".png", ".svg"))
    run = ScenarioRun(Path(args.file))  # ScenarioError, with key paths, before any socket
    server = XenstoredServer(run.world.hypervisor, args.socket, speed=args.speed,
                             guest_sockets=args.guest_sockets, advance=run.advance)
    until = None if args.forever else run.duration
    end = "until stopped" if until is None else f"for {until:g} simulated s"
    guests = f" and {args.socket}.<domid> per guest" if args.guest_sockets else ""
    console.print(f"serving xenstore on {args.socket}{guests} at {args.speed:g} simulated "
                  f"s per s, {end} (SIGINT/SIGTERM stop)", highlight=False, soft_wrap=True)
    sys.stdout.flush()
    asyncio.run(_serve(server, until))
    console.print(f"stopped at {run.now:g} simulated s after {server.requests:,} requests",
                  highlight=False)
    report_result(console, run.finish(), args)
    return 0


def add_parser(sub: Any) -> None:
    """Register ``xenballoon serve`` on the CLI's subparsers."""
    p = sub.add_parser(
        "serve", help="run a scenario live and serve its xenstore on a Unix socket",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=coverage(),
        description="Run a scenario paced to the wall clock and serve dom0's xenstore on "
                    "xenstored's wire protocol at --socket, so real clients (xenstore-read, "
                    "-write, -ls, -watch through XENSTORED_PATH; pyxs) steer the simulated "
                    "guests: writing /local/domain/<domid>/memory/target (KiB) moves that "
                    "guest's balloon.  Stops at the scenario's duration or on SIGINT/SIGTERM, "
                    "removes its sockets and prints (and writes) what 'run' does.")
    p.add_argument("file", metavar="FILE", help="the scenario file (.toml)")
    p.add_argument("--socket", metavar="PATH", required=True,
                   help="the Unix socket to serve dom0's view on")
    p.add_argument("--speed", metavar="X", type=_speed, default=1.0,
                   help="simulated seconds per wall second (default 1: real time)")
    p.add_argument("--guest-sockets", action="store_true",
                   help="also serve each guest's own view and permissions on PATH.<domid>")
    p.add_argument("--forever", action="store_true",
                   help="keep serving (and the clock running) past the scenario's duration")
    p.add_argument("--trace", metavar="PATH", help="write the trace (.csv, or .parquet "
                   "with the 'trace' extra)")
    p.add_argument("--plot", metavar="PATH", help="write a plot (.png or .svg; the 'plot' "
                   "extra)")
    p.add_argument("--json", metavar="PATH", help="write the summary as JSON")
    p.set_defaults(func=cmd_serve)
