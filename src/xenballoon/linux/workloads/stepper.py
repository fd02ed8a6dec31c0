"""Stepping workloads: one timer per interval for all the guests of a simulation.

A guest's workload is not a timer of its own: every guest of a `Simulation` whose workload
steps every ``interval`` seconds belongs to one `WorkloadStepper`, which on each tick
computes all their demands (one numpy evaluation per workload class where the class
offers a batch, `base.batch_of`) and applies them with ONE core call
(``workloads_step``: anonymous demand and file working set for every guest, in arrays).
Members are kept sorted by workload class, so each class's batch works on contiguous
slices (views, no copies).

A workload's clock starts when it is attached: its first step is applied at once (for the
time until the stepper's next tick), then it steps with the others.  With a workload
attached the simulation never runs out of events: run it with ``until``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from ..._log import log
from ...sim import Simulation
from ...units import PAGE_SIZE
from .base import Batch, Workload, batch_of

__all__ = ["WorkloadStepper", "report_oom"]

KIB = PAGE_SIZE // 1024
# The live steppers by (simulation, core, interval).  Weak: a stepper lives while its
# guests or the simulation's pending tick hold it, and it holds its simulation (so the id in
# its key stays that simulation's).  Nothing here keeps a finished world alive.
_STEPPERS: weakref.WeakValueDictionary[tuple[int, str, float], WorkloadStepper] = \
    weakref.WeakValueDictionary()


def report_oom(domid: int, kills: int, handle: Any) -> None:
    """Log OOM kills as mm/oom_kill.c does (``__oom_kill_process``), one line per step."""
    vm = handle.vm
    each = f"{vm.kill_unit * KIB} kB each" if vm.kill_unit else "the whole workload"
    log.error("domain %d: Out of memory: Killed %d process%s of the workload (%s); "
              "anon-rss now %dkB, swap %dkB; %d OOM kills in all", domid, kills,
              "" if kills == 1 else "es", each, vm.nr_anon * KIB, vm.swap_used * KIB,
              vm.oom_kills)


@dataclass
class _Member:
    guest: Any
    workload: Workload
    start: float
    unregister: Any


class WorkloadStepper:
    """The guests of one simulation and core whose workloads step every ``interval`` s."""

    def __init__(self, sim: Simulation, impl: ModuleType, interval: float) -> None:
        self.sim = sim
        self.impl = impl
        self.interval = interval
        self.members: list[_Member] = []
        self.ticks = 0
        self._origin = sim.now
        self._timer: Any = None
        self._stale = True
        self._groups: list[tuple[slice, Batch]] = []
        self._handles: Any = None
        self._starts = np.zeros(0)
        self._anon = self._file = self._kills = np.zeros(0, dtype=np.uint64)

    @classmethod
    def of(cls, sim: Simulation, impl: ModuleType, interval: float) -> WorkloadStepper:
        """The stepper of ``sim`` for this core and interval (made on first use)."""
        key = (id(sim), impl.__name__, interval)
        stepper = _STEPPERS.get(key)
        if stepper is None:
            stepper = _STEPPERS[key] = cls(sim, impl, interval)
        return stepper

    def __len__(self) -> int:
        return len(self.members)

    def add(self, guest: Any, workload: Workload) -> int:
        """Step ``workload`` on ``guest`` from now on; apply its first step at once.

        Returns the OOM kills of that first step.
        """
        unregister = guest.domain.destroy_chain.register(lambda _domain: self.remove(guest))
        self.members.append(_Member(guest, workload, self.sim.now, unregister))
        self._stale = True
        if self._timer is None:
            self._origin, self.ticks = self.sim.now, 0
            self._schedule()
        dt = self._timer.when - self.sim.now
        anon, file = workload.demand(0.0)
        kills = int(self.impl.workload_step(guest.handle, anon, file, dt))
        if kills:
            report_oom(guest.domain.domid, kills, guest.handle)
        return kills

    def remove(self, guest: Any) -> bool:
        """Stop stepping ``guest``'s workload (its state stays as the last step left it)."""
        for i, member in enumerate(self.members):
            if member.guest is guest:
                self._sync()
                member.unregister()
                del self.members[i]
                self._stale = True
                if not self.members and self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
                return True
        return False

    def workload_of(self, guest: Any) -> Workload | None:
        """``guest``'s workload, its state brought up to date (batches write back)."""
        self._sync()
        for member in self.members:
            if member.guest is guest:
                return member.workload
        return None

    def _schedule(self) -> None:
        self.ticks += 1
        self._timer = self.sim.call_at(self._origin + self.ticks * self.interval, self._tick)

    def _sync(self) -> None:
        for _, batch in self._groups:
            batch.sync()

    def _rebuild(self) -> None:
        """Sort members by workload class and make one batch per class."""
        self._sync()
        self.members.sort(key=lambda m: (type(m.workload).__module__,
                                         type(m.workload).__qualname__))
        self._groups = []
        start = 0
        for i in range(1, len(self.members) + 1):
            if i == len(self.members) or \
                    type(self.members[i].workload) is not type(self.members[start].workload):
                span = slice(start, i)
                self._groups.append((span, batch_of([m.workload for m in self.members[span]])))
                start = i
        n = len(self.members)
        self._handles = self.impl.guest_array([m.guest.handle for m in self.members])
        self._starts = np.array([m.start for m in self.members], dtype=np.float64)
        self._anon = np.zeros(n, dtype=np.uint64)
        self._file = np.zeros(n, dtype=np.uint64)
        self._kills = np.zeros(n, dtype=np.uint64)
        self._stale = False

    def _tick(self) -> None:
        if self._stale:
            self._rebuild()
        elapsed = self.sim.now - self._starts
        for span, batch in self._groups:
            batch.demand(elapsed[span], self._anon[span], self._file[span])
        total = self.impl.workloads_step(self._handles, self._anon, self._file, self.interval,
                                         self._kills)
        if total:
            for i in np.flatnonzero(self._kills).tolist():
                guest = self.members[i].guest
                report_oom(guest.domain.domid, int(self._kills[i]), guest.handle)
        self._schedule()
