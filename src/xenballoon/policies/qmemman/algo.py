"""qmemman's algorithms (QubesOS/qubes-core-admin ``qubes/qmemman/algo.py``), in bytes.

``prefmem``: ``max(min(used * cache_factor, maximum), min_prefmem)``, dom0 ``min(used *
cache_factor + boost, maximum)``; ``balance``: with enough memory share everything in
proportion to prefmem, capped at maximums (the excess re-spread x 0.999), donors first;
when low, donors with at least 10 MiB surplus go to prefmem and acceptors share what is
free; ``balloon``: borrow from donors' surplus in proportion, x 1.05.  Described in
``research/host-balancers.md`` (B.3-B.6); nothing copied.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MIB", "NO_PROGRESS_MSG", "SLOW_MEMSET_REACT_MSG", "DomainState", "Prefs",
           "balance", "balloon"]

MIB = 1024 * 1024
NO_PROGRESS_MSG = "VM refused to give back requested memory"
SLOW_MEMSET_REACT_MSG = "VM didn't give back all requested memory"


@dataclass
class DomainState:
    """``DomainState``: one domain as qmemman sees it (bytes)."""

    domid: str
    memory_current: int = 0
    memory_actual: int = 0
    memory_maximum: int = 0
    last_target: int = 0
    mem_used: int | None = None
    no_progress: bool = False
    slow_memset_react: bool = False
    use_hotplug: bool = False


class Prefs:
    """The tunables of ``algo.py`` (``/etc/qubes/qmemman.conf``)."""

    def __init__(self, cache_factor: float, min_prefmem: int, dom0_boost: int,
                 safety_net: float) -> None:
        self.cache_factor, self.min_prefmem = cache_factor, min_prefmem
        self.dom0_boost, self.safety_net = dom0_boost, safety_net

    def prefmem(self, dom: DomainState) -> int:
        used = (dom.mem_used or 0) * self.cache_factor
        if dom.domid == "0":
            return int(min(used + self.dom0_boost, dom.memory_maximum))
        return int(max(min(used, dom.memory_maximum), self.min_prefmem))

    def needed(self, dom: DomainState) -> int:
        return self.prefmem(dom) - dom.memory_actual


def _participants(doms: dict[str, DomainState]) -> list[DomainState]:
    return [d for d in doms.values() if d.mem_used is not None and not d.no_progress]


def balloon(memsize: int, doms: dict[str, DomainState], prefs: Prefs) -> list[tuple[str, int]]:
    """``algo.balloon``: targets freeing ``memsize`` from donors' surplus; [] if impossible."""
    donors = [(d.domid, -prefs.needed(d)) for d in _participants(doms) if prefs.needed(d) < 0]
    available = sum(surplus for _, surplus in donors)
    if available < memsize:
        return []
    scale = memsize / available
    return [(domid, int(doms[domid].memory_actual - surplus * scale * prefs.safety_net))
            for domid, surplus in donors]


def balance(xen_free: int, doms: dict[str, DomainState],
            prefs: Prefs) -> list[tuple[str, int]]:
    """``algo.balance``: (domid, target) pairs, donors first."""
    parts = _participants(doms)
    donors = [d for d in parts if prefs.needed(d) < 0 or d.memory_actual >= d.memory_maximum]
    acceptors = [d for d in parts if d not in donors]
    total_available = xen_free - sum(prefs.needed(d) for d in parts)
    if total_available > 0:  # balance_when_enough_mem
        total_pref = sum(prefs.prefmem(d) for d in parts)
        targets: dict[str, int] = {}
        left, open_count = 0, 0
        for d in parts:
            pref = prefs.prefmem(d)
            target = int(0.999 * (pref + pref / total_pref * total_available))
            if target > d.memory_maximum:
                left += target - d.memory_maximum
                target = d.memory_maximum
            else:
                open_count += 1
            targets[d.domid] = target
        while left > 0 and open_count > 0:  # re-spread what the maximums cut off
            bonus, left, still_open = int(0.999 * (left / open_count)), 0, open_count
            for domid, target in targets.items():
                maximum = doms[domid].memory_maximum
                if target < maximum:
                    if target + bonus >= maximum:
                        left += target + bonus - maximum
                        target, still_open = maximum, still_open - 1
                    else:
                        target += bonus
                targets[domid] = target
            open_count = still_open
        down = [(i, t) for i, t in targets.items() if t < doms[i].memory_actual]
        return down + [(i, t) for i, t in targets.items() if t >= doms[i].memory_actual]
    requests = []  # balance_when_low_on_mem
    squeezed = xen_free
    for d in donors:
        surplus = -prefs.needed(d)
        if surplus < 10 * MIB:  # probably already tried to put it at prefmem
            continue
        squeezed -= surplus
        requests.append((d.domid, prefs.prefmem(d)))
    if squeezed < 0:
        return requests
    total_pref_acceptors = sum(prefs.prefmem(d) for d in acceptors)
    for d in acceptors:
        share = prefs.prefmem(d) / total_pref_acceptors * squeezed
        requests.append((d.domid, min(int(0.999 * (d.memory_actual + share)),
                                      d.memory_maximum)))
    return requests
