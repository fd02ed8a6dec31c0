"""qmemman, Qubes OS's host memory balancer, as a `Policy` (units: bytes).

Written from QubesOS/qubes-core-admin ``qubes/qmemman/algo.py`` (the algorithms),
``systemstate.py`` (the host view, ``do_balance``, ``do_balloon``, ``mem_set``),
``domainstate.py`` and ``qubes/tools/qmemmand.py`` (the watches); described in
``research/host-balancers.md`` (B); nothing copied.

Each VM's guest agent (``meminfo-writer``) writes its used memory, KiB, to
``memory/meminfo``; qmemman keeps ``mem_used`` in bytes and prefers ``prefmem = max(min(
used * cache_factor, maximum), min_prefmem)`` (dom0: ``used * cache_factor + dom0 boost``,
no floor).  A domain's ``memory_actual`` is ``max(Xen's mem_kb, last target)``; Xen free
memory is ``free_memory * overhead_factor`` less what targets promise but guests have not
populated.  On every meminfo change and every domain arrival or departure it balances
(`balance`): with enough memory, everything (free + allocations) is shared in proportion
to prefmem, capped at each maximum; when low, donors go down to prefmem and acceptors
share what is already free.  A balance is applied only if significant (Xen free more than
15 MiB under its 50 MiB margin, a domain under prefmem gaining more than 15 MiB, or more
than 150 MiB moving in all).  Donors are set first; before each acceptor it waits
(``balloon_delay`` 0.1 s, 5 tries) for Xen free memory to cover it; if it does not come, a
donor still holding more than ``last target + margin/4`` is marked ``no_progress`` (it did
not move at all: "VM refused to give back requested memory") or ``slow_memset_react``
("VM didn't give back all requested memory"), and excluded until it complies (``actual <=
last target + margin/2``) or needs memory (``actual < prefmem``).

`balloon` is ``do_balloon``, what qubesd asks before starting a VM: every 0.1 s it asks
donors for their surplus over prefmem in proportion (x 1.05), drops donors that did not
move since the last round (``no_progress``), succeeds once Xen free reaches the request +
25 MiB (then stops any raised target from eating it), and fails when no donor is left or
Xen free grew by less than ``check_mb_s`` MiB/s over ``check_period`` seconds.

`mem_set` is qmemman's: Xen maxmem = value + 1 MiB, the PoD target = value, and xenstore
``memory/target`` = value - 16 MiB ("the VM sees about 16 MB less"); with
``memory/hotplug-max`` also ``memory/static-max``.  Here the guest holds exactly
``memory/target``, so it ends 16 MiB below qmemman's figure, which counts the difference
as assigned but unused.

Deviations: domain arrivals are seen through the simulated ``@introduceDomain`` /
``@releaseDomain`` watches; events that arrive while an operation holds the lock update
the state at once and trigger one balance after it; the ``do-not-membalance`` file and the
available-memory file are not modelled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ...errors import InvalidArgument
from ..base import Clock, PolicyBase, Steps, check_interval, run_async, run_blocking
from .algo import MIB, NO_PROGRESS_MSG, SLOW_MEMSET_REACT_MSG, DomainState, Prefs, balance, balloon

__all__ = ["Qmemman", "create_xs_entries"]

log = logging.getLogger("xenballoon.qmemman")


def create_xs_entries(xs: Any, domid: int) -> None:
    """What qubesd does when it starts a VM: ``memory/meminfo`` writable by the guest."""
    path = f"{xs.get_domain_path(domid)}/memory/meminfo"
    xs.write("", path, "")
    xs.set_permissions("", path, [{"dom": domid}])


class Qmemman(PolicyBase):
    """qmemmand: event-driven balancing plus `balloon` for VM starts (bytes)."""

    name = "qmemman"

    def __init__(self, *, interval: float | None = None, cache_factor: float = 1.3,
                 min_prefmem_bytes: int = 200 * MIB, dom0_mem_boost_bytes: int = 350 * MIB,
                 free_mem_left_bytes: int = 50 * MIB, free_mem_min_bytes: int = 25 * MIB,
                 balloon_delay: float = 0.1, check_period: float = 3.0,
                 check_mb_s: float = 100.0, min_total_transfer_bytes: int = 150 * MIB,
                 min_change_under_pref_bytes: int = 15 * MIB,
                 target_offset_bytes: int = 16 * MIB,
                 mem_overhead_factor: float = 1.0 / 1.00781) -> None:
        super().__init__(interval=interval)
        sizes = {"min_prefmem_bytes": min_prefmem_bytes,
                 "dom0_mem_boost_bytes": dom0_mem_boost_bytes,
                 "free_mem_left_bytes": free_mem_left_bytes,
                 "free_mem_min_bytes": free_mem_min_bytes,
                 "min_total_transfer_bytes": min_total_transfer_bytes,
                 "min_change_under_pref_bytes": min_change_under_pref_bytes,
                 "target_offset_bytes": target_offset_bytes}
        for key, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidArgument(f"{key} must be a non-negative integer, got {value!r}")
        for key, number in (("cache_factor", cache_factor),
                            ("mem_overhead_factor", mem_overhead_factor)):
            if isinstance(number, bool) or not isinstance(number, (int, float)) or number <= 0:
                raise InvalidArgument(f"{key} must be a positive number, got {number!r}")
        self.prefs = Prefs(float(cache_factor), min_prefmem_bytes, dom0_mem_boost_bytes, 1.05)
        self.free_mem_left, self.free_mem_min = free_mem_left_bytes, free_mem_min_bytes
        self.min_total_transfer = min_total_transfer_bytes
        self.min_change_under_pref = min_change_under_pref_bytes
        self.target_offset, self.overhead = target_offset_bytes, float(mem_overhead_factor)
        self.balloon_delay = check_interval(balloon_delay) or 0.1
        self.check_period = check_interval(check_period) or 3.0
        self.check_mb_s = float(check_interval(check_mb_s) or 100.0)
        self.domdict: dict[str, DomainState] = {}
        self.all_phys_mem = 0
        self.busy = False
        self.balance_pending = False
        self._meminfo_tokens: dict[str, tuple[str, str]] = {}

    # --- events -----------------------------------------------------------------------------
    def attach(self, xc: Any, xs: Any, clock: Clock) -> None:
        super().attach(xc, xs, clock)
        self.all_phys_mem = int(xc.physinfo()["total_memory"] * 1024 * self.overhead)
        xs.watch("@introduceDomain", "domain-list")
        xs.watch("@releaseDomain", "domain-list")
        self.domain_list_changed()

    def watch_fired(self, path: str, token: object) -> None:
        if token == "domain-list":
            self.domain_list_changed()
            self.do_balance()
        elif isinstance(token, tuple) and token[0] == "meminfo" and token[1] in self.domdict:
            value = self.xs.read("", path)
            if value:  # missing or empty: not written by the agent yet
                text = value.decode(errors="replace")
                self.domdict[token[1]].mem_used = int(text) * 1024 if text.isdigit() else None
                self.do_balance()

    def domain_list_changed(self) -> None:
        """Add and drop domains (and their meminfo watches) to match xenstore."""
        listed = self.xs.ls("", "/local/domain") or []
        present = {d for d in listed if self.xs.read("", f"/local/domain/{d}/domid") is not None}
        for domid in sorted(present - set(self.domdict)):
            state = self.domdict[domid] = DomainState(domid)
            target = self.xs.read("", f"/local/domain/{domid}/memory/target")
            if target and target.isdigit():
                state.last_target = int(target) * 1024
            token = self._meminfo_tokens[domid] = ("meminfo", domid)
            self.xs.watch(f"/local/domain/{domid}/memory/meminfo", token)
        for domid in sorted(set(self.domdict) - present):
            del self.domdict[domid]
            self.xs.unwatch(f"/local/domain/{domid}/memory/meminfo",
                            self._meminfo_tokens.pop(domid))

    def do_balance(self) -> None:
        """Balance now, or once the operation holding the lock ends."""
        if self.busy:
            self.balance_pending = True
            return
        self.busy = True
        run_async(self.clock, self._balance_steps(), self._released)

    def _released(self, _: object = None) -> None:
        self.busy = False
        if self.balance_pending:
            self.balance_pending = False
            self.do_balance()

    # --- the host ---------------------------------------------------------------------------
    def refresh_memactual(self) -> None:
        for info in self.xc.domain_getinfo():
            dom = self.domdict.get(str(info["domid"]))
            if dom is None:
                continue
            dom.memory_current = info["mem_kb"] * 1024
            dom.memory_actual = max(dom.memory_current, dom.last_target)
            home = f"/local/domain/{dom.domid}/memory"
            hotplug_max = self.xs.read("", f"{home}/hotplug-max")
            static_max = self.xs.read("", f"{home}/static-max")
            dom.use_hotplug = bool(hotplug_max)
            if hotplug_max or static_max:
                dom.memory_maximum = int(hotplug_max or static_max) * 1024
            else:
                dom.memory_maximum = self.all_phys_mem  # only dom0 lacks static-max

    def get_free_xen_memory(self) -> int:
        xen_free = int(self.xc.physinfo()["free_memory"] * 1024 * self.overhead)
        unused = sum(max(0, d.last_target - d.memory_current) for d in self.domdict.values())
        if xen_free < self.free_mem_min:
            log.error("Xen free = %d below acceptable value! assigned_but_unused=%d",
                      xen_free, unused)
        elif xen_free < unused + self.free_mem_min:
            log.error("Xen free = %d too small to satisfy assignments! "
                      "assigned_but_unused=%d", xen_free, unused)
        return xen_free - unused

    def clear_outdated_error_markers(self) -> None:
        for dom in self.domdict.values():
            if dom.mem_used is None:
                continue
            if (dom.memory_actual <= dom.last_target + self.free_mem_left / 2
                    or dom.memory_actual < self.prefs.prefmem(dom)):
                dom.no_progress = dom.slow_memset_react = False

    def mem_set(self, domid: str, value: int) -> None:
        """Give ``domid`` ``value`` bytes: Xen maxmem, PoD target, ``memory/target`` - 16 MiB."""
        if domid not in self.domdict:
            return  # went away meanwhile
        log.info("mem-set domain %s to %d", domid, value)
        self.domdict[domid].last_target = value
        try:
            self.xc.domain_setmaxmem(int(domid), value // 1024 + 1024)
            self.xc.domain_set_target_mem(int(domid), value // 1024)
        except RuntimeError:  # xen.lowlevel.xc.Error: the domain is going away
            pass
        home = f"/local/domain/{domid}/memory"
        self.xs.write("", f"{home}/target", str(max(0, (value - self.target_offset) // 1024)))
        if self.domdict[domid].use_hotplug:
            self.xs.write("", f"{home}/static-max", str(value // 1024))

    def is_balance_req_significant(self, requests: list[tuple[str, int]], xenfree: int) -> bool:
        if self.free_mem_left - xenfree > self.min_change_under_pref:
            return True
        moved = 0
        for domid, mem in requests:
            dom = self.domdict[domid]
            change = mem - dom.last_target
            moved += abs(change)
            if 0 < dom.last_target < self.prefs.prefmem(dom) and \
                    change > self.min_change_under_pref:
                return True
        return moved + abs(xenfree - self.free_mem_left) > self.min_total_transfer

    # --- the operations ---------------------------------------------------------------------
    def _balance_steps(self) -> Steps[None]:
        """``do_balance``."""
        self.refresh_memactual()
        self.clear_outdated_error_markers()
        xenfree = self.get_free_xen_memory()
        requests = balance(xenfree - self.free_mem_left, self.domdict, self.prefs)
        if not self.is_balance_req_significant(requests, xenfree):
            return
        before = {i: d.memory_actual for i, d in self.domdict.items()}
        for domid, mem in requests:
            tries = 5
            while domid in self.domdict and (self.get_free_xen_memory() - (
                    mem - self.domdict[domid].memory_actual) < 0.9 * self.free_mem_left):
                yield self.balloon_delay
                self.refresh_memactual()
                tries -= 1
                if tries <= 0:
                    self._mark_stuck_donors(requests, domid, before)
                    if domid in self.domdict:
                        self.mem_set(domid, self.get_free_xen_memory()
                                     + self.domdict[domid].memory_actual - self.free_mem_left)
                    return
            self.mem_set(domid, mem)

    def _mark_stuck_donors(self, requests: list[tuple[str, int]], acceptor: str,
                           before: dict[str, int]) -> None:
        for domid, mem in requests:
            if domid == acceptor:
                break
            dom = self.domdict.get(domid)
            if dom is None or dom.memory_actual <= dom.last_target + self.free_mem_left / 4:
                continue
            if before.get(domid) == dom.memory_actual:
                log.warning("dom %s: %s (holds %d, requested balloon down to %d)",
                            domid, NO_PROGRESS_MSG, dom.memory_actual, mem)
                dom.no_progress = True
            else:
                log.warning("dom %s: %s (%d > %d)", domid, SLOW_MEMSET_REACT_MSG,
                            dom.memory_actual, mem)
                dom.slow_memset_react = True

    def _balloon_steps(self, memsize: int) -> Steps[bool]:
        """``do_balloon``: free ``memsize`` bytes in Xen for a VM about to start."""
        for dom in self.domdict.values():
            dom.no_progress = False
        period = max(1, int(self.check_period / self.balloon_delay))
        delta = self.check_period * self.check_mb_s * MIB
        ring = [0] * period
        previous: dict[str, int] | None = None
        iteration = 0
        while True:
            self.refresh_memactual()
            xenfree = self.get_free_xen_memory()
            if xenfree >= memsize + self.free_mem_min:
                self._inhibit_balloon_up()
                return True
            slot = iteration % period
            if iteration >= period and xenfree < ring[slot] + delta:
                log.info("balloon: freed less than %g MiB/s over %g s", self.check_mb_s,
                         self.check_period)
                return False
            ring[slot] = xenfree
            for domid, actual in (previous or {}).items():
                donor = self.domdict.get(domid)
                if donor is not None and donor.memory_actual == actual:
                    log.info("domain %s stuck at %d", domid, actual)
                    log.warning("dom %s: %s", domid, NO_PROGRESS_MSG)
                    donor.no_progress = True
            requests = balloon(memsize + self.free_mem_left - xenfree, self.domdict, self.prefs)
            if not requests:
                return False
            previous = {}
            for domid, mem in requests:
                self.mem_set(domid, mem)
                previous[domid] = self.domdict[domid].memory_actual
            yield self.balloon_delay
            iteration += 1

    def _inhibit_balloon_up(self) -> None:
        for domid, dom in list(self.domdict.items()):
            if dom.memory_actual + 200 * 1024 < dom.last_target:
                log.info("Preventing balloon up to %d", dom.last_target)
                self.mem_set(domid, dom.memory_actual)

    @contextmanager
    def memory_for_vm(self, memsize: int) -> Iterator[bool]:
        """Free ``memsize`` bytes and hold the lock (no balancing) until the block ends.

        qubesd's socket request: yields True (``OK``) or False (``FAIL``); create the
        domain inside the block.  Blocking: call it from outside the Simulation's events.
        """
        if isinstance(memsize, bool) or not isinstance(memsize, int) or memsize < 0:
            raise InvalidArgument(f"memsize must be a non-negative integer (bytes), "
                                  f"got {memsize!r}")
        while self.busy:
            self.clock.sleep(self.balloon_delay)
        self.busy = True
        try:
            yield run_blocking(self.clock, self._balloon_steps(memsize))
        finally:
            self.domain_list_changed()  # qubes-issues#1389: refresh after the client
            self._released()

    def request_memory(self, memsize: int) -> bool:
        """``memory_for_vm`` without holding the lock afterwards: True if freed."""
        with self.memory_for_vm(memsize) as ok:
            return ok
