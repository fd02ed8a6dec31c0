"""Terminal rendering with rich: ``xl list``, a run's event log and its summary as tables.

The only place (with the rest of `xenballoon.cli`) that imports rich.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table

from ..toolstack.xl import DomainInfo, domain_list
from ..trace.io import Event
from ..units import PAGES_PER_MIB
from ..xen import Hypervisor

__all__ = ["domain_table", "events_table", "mib", "summary_table"]

MAX_ROWS = 24        # domains listed one per row; above, one row per balloon state
MAX_EVENTS = 40      # event lines shown

_STATE_STYLE = {"DONE": "green", "EAGAIN": "yellow", "ECANCELED": "red", "WAIT": "cyan"}


def mib(pages: int | None) -> str:
    """Pages as MiB with one decimal, or empty for None."""
    return "" if pages is None else f"{pages / PAGES_PER_MIB:,.1f}"


def domain_table(domains: Hypervisor | Iterable[DomainInfo]) -> Table:
    """``xl list`` as a rich table (MiB), ready for ``Console.print``.

    The Balloon column is the last worker run's state, with ``, pending`` while the worker
    is queued (a target not yet acted on, or a retry after EAGAIN).
    """
    infos = domain_list(domains) if isinstance(domains, Hypervisor) else list(domains)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column, justify in (("Name", "left"), ("ID", "right"), ("Mem", "right"),
                            ("Max", "right"), ("Target", "right"), ("Balloon", "left")):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for i in infos:
        table.add_row(i.name, str(i.domid), str(i.mem_mib), str(i.max_mib),
                      "" if i.target_mib is None else str(i.target_mib), i.balloon_status)
    return table


def events_table(events: list[Event]) -> Table:
    """The event log as a table (at most MAX_EVENTS lines, then how many more)."""
    table = Table(title="timeline", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("t (s)", "domain", "action", "what happened"):
        table.add_column(col, justify="right" if col == "t (s)" else "left",
                         no_wrap=col != "what happened")
    for e in events[:MAX_EVENTS]:
        state = e.detail.split(":", 1)[0] if e.action == "balloon" else ""
        detail = escape(e.detail)
        table.add_row(f"{e.time:.2f}", escape(e.domain), e.action,
                      f"[{_STATE_STYLE[state]}]{detail}[/]" if state in _STATE_STYLE else detail)
    if len(events) > MAX_EVENTS:
        table.caption = f"... and {len(events) - MAX_EVENTS:,} more events"
    return table


def styled(state: str) -> str:
    """A domain's state in its colour (no markup for states without one, "not running")."""
    style = _STATE_STYLE.get(state)
    return f"[{style}]{state}[/]" if style else escape(state)


def summary_table(summary: dict[str, Any]) -> Table:
    """A run's domains: one row each, or one per balloon state when there are many."""
    domains = summary["domains"]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left",
                  title="domains (MiB; time to reach the last target, simulated s)")
    if len(domains) <= MAX_ROWS:
        for col in ("domain", "state", "current", "target", "balloon", "to target",
                    "OOM kills"):
            table.add_column(col, justify="left" if col in ("domain", "state") else "right")
        for name, d in domains.items():
            seconds = d["time_to_target"]
            table.add_row(name, styled(d["state"]),
                          mib(d["current_pages"]), mib(d["target_pages"]),
                          mib(d["balloon_pages"]),
                          "not reached" if seconds is None else f"{seconds:g}",
                          str(d["oom_kills"]))
    else:
        for col in ("state", "domains", "current", "target", "not at target", "slowest"):
            table.add_column(col, justify="left" if col == "state" else "right")
        groups: dict[str, list[dict[str, Any]]] = {}
        for d in domains.values():
            groups.setdefault(d["state"], []).append(d)
        for state, rows in sorted(groups.items()):
            times = [r["time_to_target"] for r in rows if r["time_to_target"] is not None]
            table.add_row(styled(state), f"{len(rows):,}",
                          mib(sum(r["current_pages"] for r in rows)),
                          mib(sum(r["target_pages"] for r in rows)),
                          f"{sum(r['current_pages'] != r['target_pages'] for r in rows):,}",
                          f"{max(times):g} s" if times else "")
    return table
