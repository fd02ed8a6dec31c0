"""Terminal rendering with rich: ``xl list`` and the demo's timeline as tables.

The only place (with the rest of `xenballoon.cli`) that imports rich.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich import box
from rich.table import Table

from ..scenarios.demo import DemoResult
from ..toolstack.xl import DomainInfo, domain_list
from ..units import PAGES_PER_MIB
from ..xen import Hypervisor

__all__ = ["demo_table", "domain_table", "mib"]

_STATE_STYLE = {"DONE": "green", "EAGAIN": "yellow", "ECANCELED": "red", "WAIT": "cyan"}


def mib(pages: int | None) -> str:
    """Pages as MiB with one decimal, or empty for None."""
    return "" if pages is None else f"{pages / PAGES_PER_MIB:,.1f}"


def domain_table(domains: Hypervisor | Iterable[DomainInfo]) -> Table:
    """``xl list`` as a rich table (MiB), ready for ``Console.print``."""
    infos = domain_list(domains) if isinstance(domains, Hypervisor) else list(domains)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column, justify in (("Name", "left"), ("ID", "right"), ("Mem", "right"),
                            ("Max", "right"), ("Target", "right"), ("Balloon", "left")):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for i in infos:
        table.add_row(i.name, str(i.domid), str(i.mem_mib), str(i.max_mib),
                      "" if i.target_mib is None else str(i.target_mib), i.balloon or "")
    return table


def demo_table(result: DemoResult, backend: str) -> Table:
    """The demo's timeline: one row per toolstack action or worker run (MiB)."""
    hv = result.hypervisor
    table = Table(title=f"xenballoon demo: three guests on a "
                        f"{hv.total_pages // PAGES_PER_MIB:,} MiB host (MiB; backend {backend})",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col, justify in (("t (s)", "right"), ("domain", "left"), ("event", "left"),
                         ("target", "right"), ("current", "right"), ("balloon", "right"),
                         ("state", "left"), ("host free", "right")):
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for e in result.events:
        state = f"[{_STATE_STYLE.get(e.state, '')}]{e.state}[/]" if e.state else ""
        table.add_row(f"{e.time:.1f}", e.domain, e.what, mib(e.target), mib(e.current),
                      mib(e.balloon), state, mib(e.host_free))
    return table
