"""The baseline: a static split of host memory, recomputed only when domains come or go.

Every domain but dom0 gets an equal share of the host's memory (``physinfo()``'s
``total_memory``, less ``reserve_kb`` and whatever dom0 holds), capped at its
``memory/static-max``; the share is written to ``memory/target`` (KiB) once, and again only
when the set of domains changes (checked every ``interval`` seconds).  Nothing reacts to
demand: this is what a host without a balancer looks like after a careful administrator
sized every VM, the yardstick for squeezed and qmemman.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgument
from .base import Clock, PolicyBase

__all__ = ["StaticPolicy"]


class StaticPolicy(PolicyBase):
    """An equal split of host memory among the running domains (dom0 excluded)."""

    name = "static"

    def __init__(self, *, interval: float | None = 1.0, reserve_kb: int = 0) -> None:
        super().__init__(interval=interval)
        if isinstance(reserve_kb, bool) or not isinstance(reserve_kb, int) or reserve_kb < 0:
            raise InvalidArgument(f"reserve_kb must be a non-negative integer, got {reserve_kb!r}")
        self.reserve_kb = reserve_kb
        self.domids: tuple[int, ...] = ()
        self.share_kb = 0

    def attach(self, xc: Any, xs: Any, clock: Clock) -> None:
        super().attach(xc, xs, clock)
        self.tick()

    def tick(self) -> None:
        """Re-split when the set of domains changed since the last split."""
        infos = self.xc.domain_getinfo()
        domids = tuple(i["domid"] for i in infos if i["domid"] != 0)
        if domids == self.domids:
            return
        self.domids = domids
        if not domids:
            return
        dom0_kb = sum(i["mem_kb"] for i in infos if i["domid"] == 0)
        usable = self.xc.physinfo()["total_memory"] - self.reserve_kb - dom0_kb
        self.share_kb = max(0, usable) // len(domids)
        for domid in domids:
            home = self.xs.get_domain_path(domid)
            static_max = self.xs.read("", f"{home}/memory/static-max")
            target = self.share_kb
            if static_max is not None and static_max.isdigit():
                target = min(target, int(static_max))
            if self.xs.read("", f"{home}/memory/target") != str(target).encode():
                self.xs.write("", f"{home}/memory/target", str(target))
