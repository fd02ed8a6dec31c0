"""squeezed, XenServer / XCP-ng's host memory balancer, as a `Policy` (units: KiB).

Written from xapi-project/xen-api ``ocaml/squeezed/lib/squeeze.ml`` (the policy and its
loop), ``src/squeeze_xen.ml`` (how it reads the host), ``src/memory_server.ml``
(reservations, the balance thread) and ``doc/content/squeezed/design/index.md``; described
in ``research/host-balancers.md`` (A); nothing copied.

What it reads, per domain other than dom0 (``squeeze_xen.make_host``): Xen's ``mem_kb``
and ``maxmem_kb``; xenstore ``memory/target``, ``memory/dynamic-min``,
``memory/dynamic-max`` (both taken as the target when either is missing), and the
*presence* of ``control/feature-balloon`` (it can balloon) or ``data/updated`` (it has a
guest agent).  The first time a domain shows either, it is assumed at rest and
``memory-offset = mem_kb - target`` is recorded in xenstore ("calibration"); from then on
its actual memory is ``mem_kb - offset``.  A domain showing neither has not booted: it
counts as fixed, and the part of its ``memory/initial-reservation`` it has not populated
yet is held back from host free memory.

Host free memory is ``free_memory + scrub_memory`` less that and the open reservations.
The host keeps a slush fund of ``target_host_free_kb`` (newest squeezed: Xen's 64 MiB
``low_mem_virq_limit`` + 8 MiB; older ones 9 MiB) and is balanced within
``tolerance_kb`` (512 KiB).  Every domain that can balloon and is not stuck (*active*)
gets the same fraction ``gamma`` of its dynamic range: ``target = dynamic_min +
floor(gamma * (dynamic_max - dynamic_min))``, gamma chosen so that host free memory would
be the required amount if everyone reached target, each domain's freeable memory reduced
by twice its 4 KiB inaccuracy.  Targets are set in two phases: while any domain must
free, only freeing targets are written; growing ones wait.  Xen's maxmem follows the
target (raised before a larger target, lowered after a smaller one; any maxmem above
target is lowered), and a domain newly declared inactive is capped at
``clip(min(target, actual), dynamic_min, dynamic_max)``.  A domain with work outstanding
that has not moved toward its target for ``stuck_after`` seconds (5) is inactive for the
rest of the operation; after ``uncooperative_after`` (20 s) without cooperating it is
flagged with ``memory/uncooperative``.

The loop (``change_host_free_memory``): look, set targets, wait ``wait`` (1 s), until
every active domain hit its target and no target changes; then succeed if host free
memory is enough, else fail: `CannotFreeThisMuchMemory` when nobody refused (the
dynamic minimums are too high), `DomainsRefusedToCooperate` naming the inactive domains.
Entry points (blocking; call them from outside the Simulation's events):
`free_memory`, `free_memory_range`, `balance_memory`, `reserve_memory`,
`reserve_memory_range`, `transfer_reservation_to_domain`, `delete_reservation`.  Every
``interval`` seconds (10) the balance thread does a dry run and, if targets would change,
balances in the background; its errors are only logged, as squeezed's are.

Deviations: dom0 is never managed (``manage_domain_zero`` off, the default); the
``xen_max_offset`` is 0 (every simulated guest is PV); reservations live in the policy,
not in xenstore; the boot-time wait for stable free memory is not modelled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgument, XenBalloonError
from .base import PolicyBase, Steps, check_interval, run_async, run_blocking

__all__ = ["CannotFreeThisMuchMemory", "DomainsRefusedToCooperate", "Squeezed",
           "SqueezedError", "xenopsd_nodes"]

log = logging.getLogger("xenballoon.squeezed")
MIB = 1024  # KiB


class SqueezedError(XenBalloonError):
    """An operation squeezed gave up on."""


class CannotFreeThisMuchMemory(SqueezedError):
    """``Cannot_free_this_much_memory``: even with every domain at dynamic-min."""

    def __init__(self, needed_kb: int, free_kb: int) -> None:
        super().__init__(f"Cannot_free_this_much_memory: needed {needed_kb} KiB free, "
                         f"host has {free_kb} KiB")
        self.needed_kb, self.free_kb = needed_kb, free_kb


class DomainsRefusedToCooperate(SqueezedError):
    """``Domains_refused_to_cooperate``: these domains did not balloon as asked."""

    def __init__(self, domids: list[int]) -> None:
        super().__init__(f"Domains_refused_to_cooperate: {domids}")
        self.domids = domids


@dataclass
class Dom:
    """One domain as squeezed models it (``Squeeze.domain``), in KiB."""

    domid: int
    can_balloon: bool
    dynamic_min: int
    dynamic_max: int
    target: int
    actual: int
    maxmem: int
    offset: int
    inaccuracy: int = 4

    def hit(self, target: int | None = None) -> bool:
        target = self.target if target is None else target
        return abs(self.actual - target) <= self.inaccuracy


def xenopsd_nodes(xs: Any, domid: int, dynamic_min_kb: int, dynamic_max_kb: int, *,
                  feature_balloon: bool = True) -> None:
    """Write what xenopsd (the dynamic range) and a guest agent (feature-balloon) would."""
    home = xs.get_domain_path(domid)
    xs.write("", f"{home}/memory/dynamic-min", str(int(dynamic_min_kb)))
    xs.write("", f"{home}/memory/dynamic-max", str(int(dynamic_max_kb)))
    if feature_balloon:
        xs.write("", f"{home}/control/feature-balloon", "1")


class _Stuckness:
    """``Stuckness_monitor``: which domains stopped moving toward their targets."""

    def __init__(self, stuck_after: float) -> None:
        self.stuck_after = stuck_after
        self.last: dict[int, tuple[int, float]] = {}  # domid -> (actual, last progress)
        self.stuck: set[int] = set()

    def update(self, doms: list[Dom], now: float) -> None:
        """Progress is actual moving toward target; a domain with work outstanding and no
        progress for ``stuck_after`` seconds is stuck until it progresses again."""
        for d in doms:
            actual, since = self.last.get(d.domid, (d.actual, now))  # new: progressing now
            up = None if d.hit() else d.target > d.actual
            if (up is True and d.actual > actual) or (up is False and d.actual < actual):
                since = now
                self.stuck.discard(d.domid)
            if up is not None and now - since > self.stuck_after:
                self.stuck.add(d.domid)
            self.last[d.domid] = (d.actual, since)
        live = {d.domid for d in doms}
        for gone in set(self.last) - live:
            del self.last[gone]
            self.stuck.discard(gone)


class Squeezed(PolicyBase):
    """squeezed's balancer and memory API (see the module docstring); sizes in KiB."""

    name = "squeezed"

    def __init__(self, *, interval: float | None = 10.0, target_host_free_kb: int = 72 * MIB,
                 tolerance_kb: int = 512, wait: float = 1.0, stuck_after: float = 5.0,
                 uncooperative_after: float = 20.0, two_phase: bool = True,
                 inaccuracy_compensation: bool = True) -> None:
        super().__init__(interval=interval)
        self.target_host_free_kb = _kb(target_host_free_kb, "target_host_free_kb")
        self.tolerance_kb = _kb(tolerance_kb, "tolerance_kb")
        self.wait = check_interval(wait) or 1.0
        self.stuck_after = check_interval(stuck_after) or 5.0
        self.uncooperative_after = check_interval(uncooperative_after) or 20.0
        self.two_phase = bool(two_phase)
        self.inaccuracy_compensation = bool(inaccuracy_compensation)
        self.reservations: dict[str, int] = {}
        self.busy = False
        self._next_reservation = 0
        self._last_cooperative: dict[int, float] = {}

    # --- looking at the host ----------------------------------------------------------------
    def _node(self, home: str, node: str) -> int | None:
        value = self.xs.read("", f"{home}/{node}")
        return int(value) if value is not None and value.isdigit() else None

    def snapshot(self) -> tuple[int, list[Dom]]:
        """Host free memory (KiB, net of reservations) and the domains (``make_host``)."""
        info = self.xc.physinfo()
        free = info["free_memory"] + info["scrub_memory"]
        held_back = sum(self.reservations.values())
        doms = []
        for d in self.xc.domain_getinfo():
            if d["domid"] == 0:
                continue
            home = self.xs.get_domain_path(d["domid"])
            can_balloon = self.xs.read("", f"{home}/control/feature-balloon") is not None
            has_agent = self.xs.read("", f"{home}/data/updated") is not None
            target = self._node(home, "memory/target")
            target = d["mem_kb"] if target is None else target
            offset = self._node(home, "memory/memory-offset")
            if offset is None and (can_balloon or has_agent):
                offset = d["mem_kb"] - target  # calibration: assumed at rest right now
                self.xs.write("", f"{home}/memory/memory-offset", str(offset))
            if offset is None:  # not booted: fixed, and its reservation stays reserved
                initial = self._node(home, "memory/initial-reservation") or 0
                held_back += max(0, initial - d["mem_kb"])
                fixed = d["maxmem_kb"]
                doms.append(Dom(d["domid"], False, fixed, fixed, fixed, fixed, fixed, 0))
                continue
            dmin = self._node(home, "memory/dynamic-min")
            dmax = self._node(home, "memory/dynamic-max")
            if dmin is None or dmax is None:
                dmin = dmax = target
            doms.append(Dom(d["domid"], can_balloon, dmin, dmax, target,
                            d["mem_kb"] - offset, d["maxmem_kb"] - offset, offset))
        self._flag_uncooperative(doms)
        return free - held_back, doms

    def _flag_uncooperative(self, doms: list[Dom]) -> None:
        now = self.clock.now
        for d in doms:
            home = self.xs.get_domain_path(d.domid)
            if not d.can_balloon or d.hit() or d.domid not in self._last_cooperative:
                self._last_cooperative[d.domid] = now
            flagged = self.xs.read("", f"{home}/memory/uncooperative") is not None
            late = now - self._last_cooperative[d.domid] > self.uncooperative_after
            if late and not flagged:
                log.warning("domid %d is uncooperative", d.domid)
                self.xs.write("", f"{home}/memory/uncooperative", "")
            elif flagged and not late:
                self.xs.rm("", f"{home}/memory/uncooperative")

    # --- the policy -------------------------------------------------------------------------
    def gamma_targets(self, host_free: int, active: list[Dom], required: int) -> dict[int, int]:
        """``Proportional``: every active domain at the same fraction of its range."""
        slack = 2 if self.inaccuracy_compensation else 0
        freeable = sum(max(0, d.actual - d.dynamic_min - slack * d.inaccuracy) for d in active)
        surplus = max(0, host_free + freeable - required)
        total_range = sum(max(0, d.dynamic_max - d.dynamic_min) for d in active)
        gamma = min(1.0, surplus / total_range) if total_range else (1.0 if surplus else 0.0)
        return {d.domid: d.dynamic_min + int(gamma * max(0, d.dynamic_max - d.dynamic_min))
                for d in active}

    def _plan(self, stuck: _Stuckness, host_free: int, doms: list[Dom],
              required: int) -> tuple[list[Dom], dict[int, int]]:
        """``one_iteration``'s policy half: the active domains and the targets to set."""
        active = [d for d in doms if d.can_balloon and d.domid not in stuck.stuck]
        targets = self.gamma_targets(host_free, active, required)
        by_id = {d.domid: d for d in active}
        freeing = {i: t for i, t in targets.items()
                   if t < by_id[i].actual and not by_id[i].hit(t)}
        if not self.two_phase:  # the fist point DisableTwoPhaseTargetSets
            return active, targets
        if freeing:  # the Xen heap workaround: free first, grow later
            return active, freeing
        return active, targets

    def _iterate(self, stuck: _Stuckness, required: int,
                 success: Callable[[int], bool]) -> tuple[str, int, list[int]]:
        """One look-and-act: ``("adjust" | "success" | "failed", host free, refusers)``."""
        host_free, doms = self.snapshot()
        was_stuck = set(stuck.stuck)
        stuck.update(doms, self.clock.now)
        for domid in stuck.stuck ^ was_stuck:
            log.info("domid %d has been declared %s", domid,
                     "inactive" if domid in stuck.stuck else "active")
        active, targets = self._plan(stuck, host_free, doms, required)
        reached = all(d.hit() for d in active)
        changes = {i: t for i, t in targets.items()
                   if t != next(d.target for d in active if d.domid == i)}
        for d in doms:  # maxmem first: the hard cap follows the target
            if d.domid in stuck.stuck - was_stuck:  # CA-41832: may shrink, never grow
                cap = min(max(min(d.target, d.actual), d.dynamic_min), d.dynamic_max)
            else:
                cap = targets.get(d.domid, d.target)
            if cap != d.maxmem:
                self.xc.domain_setmaxmem(d.domid, cap + d.offset)
        if changes or not reached:
            for domid, target in changes.items():
                self.xs.write("", f"{self.xs.get_domain_path(domid)}/memory/target",
                              str(target))
            return "adjust", host_free, []
        if success(host_free):
            return "success", host_free, []
        return "failed", host_free, sorted(d.domid for d in doms
                                           if d.can_balloon and d.domid in stuck.stuck)

    def change_host_free_memory(self, required: int,
                                success: Callable[[int], bool]) -> Steps[int]:
        """The loop: set targets and wait until ``success(host free)`` or failure."""
        host_free, doms = self.snapshot()
        if (required != self.target_host_free_kb and host_free >= required
                and all(d.hit() for d in doms if d.can_balloon)):
            return host_free  # CA-144658: enough already, every target reached
        stuck = _Stuckness(self.stuck_after)
        while True:
            outcome, host_free, refusers = self._iterate(stuck, required, success)
            if outcome == "success":
                return host_free
            if outcome == "failed":
                if refusers:
                    raise DomainsRefusedToCooperate(refusers)
                raise CannotFreeThisMuchMemory(required, host_free)
            yield self.wait

    # --- the memory API (blocking) ----------------------------------------------------------
    def _lock_steps(self, steps: Steps[Any]) -> Steps[Any]:
        """``steps`` holding the one lock, after waiting for a background balance."""
        while self.busy:
            yield self.wait
        self.busy = True
        try:
            return (yield from steps)
        finally:
            self.busy = False

    def _locked(self, steps: Steps[Any]) -> Any:
        return run_blocking(self.clock, self._lock_steps(steps))

    def _free_steps(self, kb: int) -> Steps[int]:
        required = kb + self.target_host_free_kb
        return (yield from self.change_host_free_memory(required, lambda f: f >= required))

    def free_memory(self, kb: int) -> int:
        """Make ``kb`` KiB free beyond the slush fund; host free memory after (KiB)."""
        return int(self._locked(self._free_steps(_kb(kb, "kb"))))

    def free_memory_range(self, min_kb: int, max_kb: int) -> int:
        """Free as much in ``[min_kb, max_kb]`` as a fair share allows; how much (KiB)."""
        low, high = _kb(min_kb, "min_kb"), _kb(max_kb, "max_kb")
        if low > high:
            raise InvalidArgument(f"min_kb ({low}) is above max_kb ({high})")

        def steps() -> Steps[int]:
            host_free, doms = self.snapshot()
            phantom = Dom(-1, True, low, high, low, 0, 0, 0)  # its fair share, as a domain
            share = self.gamma_targets(host_free, [*doms, phantom], self.target_host_free_kb)[-1]
            floor = low + self.target_host_free_kb
            yield from self.change_host_free_memory(
                share + self.target_host_free_kb, lambda f: f >= floor)
            usable = self.snapshot()[0] - self.target_host_free_kb
            return max(low, min(usable, high))

        return int(self._locked(steps()))

    def balance_memory(self) -> None:
        """Balance the host now; like squeezed's, failures are only logged."""
        self._locked(self._logged_balance())

    def _balance_steps(self) -> Steps[int]:
        slush, tolerance = self.target_host_free_kb, self.tolerance_kb
        return (yield from self.change_host_free_memory(
            slush, lambda f: f - slush < tolerance))

    def reserve_memory(self, kb: int) -> str:
        """Free ``kb`` KiB and hold it for a VM about to start; the reservation id."""
        return str(run_blocking(self.clock, self.reserve_steps(kb)))

    def reserve_steps(self, kb: int) -> Steps[str]:
        """`reserve_memory` as steps, for callers inside the simulation (`run_async`)."""
        yield from self._lock_steps(self._free_steps(_kb(kb, "kb")))
        return self._reserve(kb)

    def reserve_memory_range(self, min_kb: int, max_kb: int) -> tuple[str, int]:
        """Free a fair share in ``[min_kb, max_kb]`` and hold it: (id, KiB)."""
        kb = self.free_memory_range(min_kb, max_kb)
        return self._reserve(kb), kb

    def _reserve(self, kb: int) -> str:
        self._next_reservation += 1
        reservation = f"reservation-{self._next_reservation}"
        self.reservations[reservation] = kb
        return reservation

    def transfer_reservation_to_domain(self, reservation: str, domid: int) -> None:
        """The new domain takes the reservation (``memory/initial-reservation``)."""
        kb = self._reservation(reservation)
        home = self.xs.get_domain_path(domid)
        self.xc.domain_setmaxmem(domid, kb)
        self.xs.write("", f"{home}/memory/initial-reservation", str(kb))
        self.xs.write("", f"{home}/memory/reservation-id", reservation)
        del self.reservations[reservation]

    def delete_reservation(self, reservation: str) -> None:
        self._reservation(reservation)
        del self.reservations[reservation]

    def _reservation(self, reservation: str) -> int:
        if reservation not in self.reservations:
            raise InvalidArgument(f"Unknown_reservation: {reservation!r}")
        return self.reservations[reservation]

    # --- the balance thread -----------------------------------------------------------------
    def is_host_memory_unbalanced(self) -> bool:
        """A dry run with a fresh monitor: would a balance change any target?"""
        host_free, doms = self.snapshot()
        active, targets = self._plan(_Stuckness(self.stuck_after), host_free, doms,
                                     self.target_host_free_kb)
        return any(targets[d.domid] != d.target for d in active if d.domid in targets)

    def tick(self) -> None:
        if self.busy or not self.is_host_memory_unbalanced():
            return
        self.busy = True
        run_async(self.clock, self._logged_balance(), lambda _: setattr(self, "busy", False))

    def _logged_balance(self) -> Steps[None]:
        try:
            yield from self._balance_steps()
        except SqueezedError as exc:
            log.info("balance_memory: %s", exc)


def _kb(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"{name} must be a non-negative integer (KiB), got {value!r}")
    return value
