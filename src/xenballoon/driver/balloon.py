"""The balloon driver: Linux ``drivers/xen/balloon.c`` over the core.

`BalloonDriver` is balloon.c alone; the public `xenballoon.Balloon` (in
`xenballoon.frontend`) adds xen-balloon.c's xenstore watch and sysfs device to it.

The worker is ``balloon_process``: one frame_list per turn of its loop, each turn a
single call into the core; ``update_schedule`` holds all the backoff.  The core does
the per-page work and the reservation accounting.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .. import _validate
from .._log import pr_info
from ..core import abi as K
from ..errors import InvalidArgument, InvalidType, InvariantError, OutOfMemory, ensure, status_error
from ..linux import Guest
from ..sim import DelayedWork, NotifierChain
from ..xen import Domain
from .reserve import Hotplug, NoHotplug, ReserveStrategy

__all__ = ["BPState", "BalloonDriver", "BalloonStats"]

MAX_BATCH = 1 << 20


class BPState(enum.IntEnum):
    """What ``balloon_process`` ended with.

    DONE: done or nothing to do; WAIT: wait to be rescheduled (hotplugged memory to be
    onlined); EAGAIN: error, go to sleep and retry; ECANCELED: error, operation cancelled.
    """

    DONE = K.BP_DONE
    WAIT = K.BP_WAIT
    EAGAIN = K.BP_EAGAIN
    ECANCELED = K.BP_ECANCELED

    def __str__(self) -> str:
        return self.name

    def __format__(self, spec: str) -> str:
        return format(self.name, spec)


@dataclass(frozen=True)
class BalloonStats:
    """``struct balloon_stats``: the driver works to make current_pages == target_pages."""

    current_pages: int
    target_pages: int
    target_unpopulated: int
    balloon_low: int
    balloon_high: int
    total_pages: int
    schedule_delay: int
    max_schedule_delay: int
    retry_count: int
    max_retry_count: int


_STATS = tuple(f.name for f in fields(BalloonStats))
_BP_STATES = tuple(BPState(i) for i in range(len(BPState)))  # by value, without BPState()


class BalloonDriver:
    """``balloon_init()`` of balloon.c for one guest: the worker, the reservations, stats.

    Stops (cancels its work) when the guest's domain is destroyed, through the domain's
    destroy chain.
    """

    def __init__(self, guest: Guest, *, hotplug: bool = False, batch: int = 512,
                 max_retry_count: int = 4, max_schedule_delay: int = 32,
                 scrub_pages: bool = True) -> None:
        if not isinstance(guest, Guest):
            raise InvalidType(f"guest must be a Guest, not {type(guest).__name__}")
        guest.require_alive()
        ensure(guest.balloon is None,
               f"domain {guest.domain.domid} already has a balloon driver")
        batch = _validate.as_count(batch, "batch", minimum=1, maximum=MAX_BATCH)
        max_retry_count = _validate.as_count(max_retry_count, "max_retry_count")
        max_schedule_delay = _validate.as_count(max_schedule_delay, "max_schedule_delay",
                                                minimum=1)
        self.guest = guest
        self._impl = guest.impl
        self._g = guest.handle
        self._s = self._g.stats
        self.hotplug = bool(hotplug)
        self.batch = batch
        self._impl.guest_set_batch(self._g, batch)
        self._g.scrub_pages = int(bool(scrub_pages))
        self._state = BPState.DONE
        self._listeners: NotifierChain[Callable[[BalloonDriver], object]] = NotifierChain(
            "balloon_process")
        self._hz = guest.sim.hz
        self._worker = DelayedWork(guest.sim, self._balloon_process)
        self._balloon_init(max_retry_count, max_schedule_delay)
        # reserve_additional_memory, with or without CONFIG_XEN_BALLOON_MEMORY_HOTPLUG; the
        # hotplug one registers the online-page callback and the memory notifier.
        self._reserve: ReserveStrategy = (
            Hotplug(self._s, guest, self._kick) if hotplug else NoHotplug(self._s))
        self._hotplug_unpopulated = False
        guest.balloon = self
        guest.domain.destroy_chain.register(self._domain_destroyed)

    def _balloon_init(self, max_retry_count: int, max_schedule_delay: int) -> None:
        pr_info("Initialising balloon driver")
        s, guest = self._s, self.guest
        s.current_pages = guest.totalram_pages
        s.target_pages = s.current_pages
        s.balloon_low = s.balloon_high = 0
        s.total_pages = s.current_pages
        s.target_unpopulated = 0
        s.schedule_delay = 1
        s.max_schedule_delay = max_schedule_delay
        s.retry_count = 1
        s.max_retry_count = max_retry_count
        if guest.pv and guest.nr_pfns > guest.boot_pages:
            # balloon_add_region: the extra pfns of a PV guest start in the balloon.
            start = guest.boot_pages
            rc = self._impl.balloon_add_region(self._g, start, guest.nr_pfns - start)
            if rc != 0:
                raise InvariantError(f"cannot add pfns {start}.. to the balloon ({rc})")

    # --- the worker --------------------------------------------------------------------------
    def _update_schedule(self, state: int) -> int:
        """All the backoff: DONE resets it, EAGAIN doubles the delay or cancels."""
        s = self._s
        if state == K.BP_WAIT or state == K.BP_ECANCELED:
            return state
        if state == K.BP_DONE:
            s.schedule_delay = 1
            s.retry_count = 1
            return state
        s.retry_count += 1
        if s.max_retry_count != 0 and s.retry_count > s.max_retry_count:
            s.schedule_delay = 1
            s.retry_count = 1
            return K.BP_ECANCELED
        s.schedule_delay = min(s.schedule_delay << 1, s.max_schedule_delay)
        return K.BP_EAGAIN

    def _balloon_process(self) -> None:
        """The work item: move one frame_list per turn while there is credit and no error."""
        if not self.guest.alive:
            return
        # NOTE: current_credit() and the turn's increase/decrease_reservation (with the
        # si_mem_available() cap) are one core call, balloon_turn, for performance reasons.
        g, turn, update_schedule = self._g, self._impl.balloon_turn, self._update_schedule
        while True:
            state = turn(g)
            if state == K.NO_CREDIT:  # credit == 0: the loop ends
                state = update_schedule(K.BP_DONE)
                break
            if state == K.NEED_RESERVE:  # credit > 0 with an empty balloon
                state = self._reserve.reserve_additional_memory()
            elif state == K.BUG:
                raise InvariantError(
                    f"domain {self.guest.domain.domid}: Xen refused to take back every "
                    "frame of a decrease_reservation (BUG_ON in decrease_reservation)")
            state = update_schedule(state)
            if state != K.BP_DONE:
                break
        self._state = _BP_STATES[state]
        if state == K.BP_EAGAIN:
            self._worker.schedule(self._s.schedule_delay * self._hz)
        self._listeners.call_chain(self)

    def _kick(self) -> None:
        """``schedule_delayed_work(&balloon_worker, 0)``."""
        self._worker.schedule(0)

    def add_listener(self, callback: Callable[[BalloonDriver], object]) -> Callable[[], None]:
        """Call ``callback(balloon)`` after every ``balloon_process`` run; returns a remover."""
        return self._listeners.register(callback)

    # --- the driver's interface --------------------------------------------------------------
    def set_target(self, pages: int) -> None:
        """``balloon_set_new_target``: store the target and kick the worker (delay 0)."""
        self.guest.require_alive()
        self._s.target_pages = _validate.as_count(pages, "pages")
        self._worker.schedule(0)

    @property
    def stats(self) -> BalloonStats:
        """A snapshot of ``balloon_stats``."""
        s = self._s
        return BalloonStats(*(int(getattr(s, name)) for name in _STATS))

    @property
    def state(self) -> BPState:
        """What the last ``balloon_process`` ended with (DONE before it first runs)."""
        return self._state

    @property
    def current_pages(self) -> int:
        """``balloon_stats.current_pages``, read without taking a whole `stats` snapshot."""
        return int(self._s.current_pages)

    @property
    def credit(self) -> int:
        """``current_credit()``: target_pages - current_pages."""
        return int(self._s.target_pages - self._s.current_pages)

    @property
    def work_pending(self) -> bool:
        """The worker is queued (possibly waiting out a backoff delay)."""
        return self._worker.pending

    @property
    def max_retry_count(self) -> int:
        return int(self._s.max_retry_count)

    @max_retry_count.setter
    def max_retry_count(self, value: int) -> None:
        self._s.max_retry_count = _validate.as_count(value, "max_retry_count")

    @property
    def max_schedule_delay(self) -> int:
        return int(self._s.max_schedule_delay)

    @max_schedule_delay.setter
    def max_schedule_delay(self, value: int) -> None:
        self._s.max_schedule_delay = _validate.as_count(value, "max_schedule_delay",
                                                        minimum=1)

    @property
    def scrub_pages(self) -> bool:
        """``xen_scrub_pages``: clear pages before they go back to Xen."""
        return bool(self._g.scrub_pages)

    @scrub_pages.setter
    def scrub_pages(self, value: bool) -> None:
        self._g.scrub_pages = int(bool(value))

    @property
    def hotplug_unpopulated(self) -> bool:
        """The ``xen.balloon.hotplug_unpopulated`` sysctl (hotplug balloons only).

        On: ``alloc_ballooned_pages`` hotplugs memory for the pages the balloon lacks instead
        of ballooning out the guest's own.
        """
        return self._hotplug_unpopulated

    @hotplug_unpopulated.setter
    def hotplug_unpopulated(self, value: bool | int) -> None:
        if not self.hotplug:
            raise InvalidArgument("hotplug_unpopulated needs a balloon with hotplug=True")
        if not isinstance(value, bool):  # proc_dointvec_minmax: 0..1
            value = _validate.as_count(value, "hotplug_unpopulated", maximum=1)
        self._hotplug_unpopulated = bool(value)

    def alloc_ballooned_pages(self, n: int) -> np.ndarray:
        """``alloc_xenballooned_pages``: ``n`` unpopulated lowmem pages, for mappings.

        All or nothing: where the seed would fail part-way, or wait for ever for hotplugged
        pages, xenballoon refuses up front and raises ``OutOfMemory`` with every counter as
        it was.
        """
        self.guest.require_alive()
        n = _validate.as_count(n, "n", maximum=K.MAX_GFNS)
        if self._hotplug_unpopulated:
            return self._alloc_hotplugged(n)
        return self._alloc(n)

    def _alloc_hotplugged(self, n: int) -> np.ndarray:
        """With the sysctl on: the balloon's lowmem pages, then ``add_ballooned_pages``.

        That hotplugs memory (BP_WAIT: its pages are in the balloon now) or, if it cannot
        (BP_ECANCELED), balloons out the guest's own pages as without the sysctl.
        """
        first = self._alloc(min(n, max(0, int(self._s.balloon_low))))
        short = n - len(first)
        if short == 0:
            return first
        try:
            self._reserve.add_ballooned_pages(short)
            rest = self._alloc(short)
        except (OutOfMemory, InvariantError):
            # out_undo: back to the balloon head in reverse, which restores the list order
            self._impl.free_xenballooned_pages(self._g, first[::-1].copy())
            raise
        return np.concatenate([first, rest])

    def _alloc(self, n: int) -> np.ndarray:
        rc, pfns = self._impl.alloc_xenballooned_pages(self._g, n)
        if rc == K.ENOMEM:
            raise status_error(rc, f"cannot hand out {n} ballooned pages: "
                                   f"{self._s.balloon_low} lowmem pages in the balloon, "
                                   f"{self.guest.mem_available} available to balloon out")
        if rc:  # BUG
            raise status_error(rc, "a page the allocator would balloon out is not populated")
        return pfns

    def free_ballooned_pages(self, pfns: Any) -> None:
        """``free_xenballooned_pages``: return handed-out pages to the balloon."""
        self.guest.require_alive()
        array = _validate.as_pfns(pfns)
        rc = int(self._impl.free_xenballooned_pages(self._g, array))
        if rc != array.size:
            raise InvalidArgument(
                _validate.refusal(array, rc, "handed out by alloc_ballooned_pages"))
        # The balloon may be too large now; shrink it if needed.
        if self.credit:
            self._worker.schedule(0)

    def ballooned_pfns(self) -> np.ndarray:
        """The balloon's pages in list order (lowmem first)."""
        return self._impl.ballooned_pfns(self._g)

    def _domain_destroyed(self, domain: Domain) -> None:
        """On the domain's destroy chain: the worker stops."""
        self._worker.cancel()

    def __repr__(self) -> str:
        s = self._s
        return (f"<Balloon domain {self.guest.domain.domid}: current={s.current_pages} "
                f"target={s.target_pages} balloon={s.balloon_low + s.balloon_high} "
                f"state={self._state.name}>")
