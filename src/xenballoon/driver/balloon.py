"""The balloon driver: Linux ``drivers/xen/balloon.c`` over the core.

`BalloonDriver` is balloon.c alone; the public `xenballoon.Balloon` (in
`xenballoon.frontend`) adds xen-balloon.c's xenstore watch and sysfs device to it.

The worker is ``balloon_process``: one frame_list per turn of its loop; the core runs turns
for as long as they need no decision (``balloon_turns``), and every decision is made here:
``update_schedule`` holds all the backoff, ``reserve_additional_memory`` is a strategy.  The
core does the per-page work and the reservation accounting.  With the host's cost model
(`xenballoon.xen.cost`) a run spans simulated time and other events run between its turns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from .. import _validate
from .._log import pr_info
from ..core import abi as K
from ..errors import InvalidArgument, InvalidType, InvariantError, OutOfMemory, status_error
from ..linux import Guest
from ..sim import DelayedWork, NotifierChain, Timer, guarded
from ..xen import Domain, Hypervisor
from .reserve import NO_HOTPLUG, Hotplug, ReserveStrategy
from .state import BP_STATES, STAT_FIELDS, BalloonStats, BPState

__all__ = ["BPState", "BalloonDriver", "BalloonStats"]

MAX_BATCH = 1 << 20
MAX_TURNS = 1 << 62  # no limit: the core stops on a decision or on the time budget
ZERO_COST = (0.0, 0.0, 0.0, 0.0, 0.0)  # the instantaneous model's xb_turn_cost


@guarded(getters=("stats", "credit"))
class BalloonDriver:
    """``balloon_init()`` of balloon.c for one guest: the worker, the reservations, stats.

    Stops (cancels its work) when the guest's domain is destroyed, through the host's
    domain destroy chain.
    """

    def __init__(self, guest: Guest, *, hotplug: bool = False, batch: int = 512,
                 max_retry_count: int = 4, max_schedule_delay: int = 32,
                 scrub_pages: bool = True) -> None:
        if not isinstance(guest, Guest):
            raise InvalidType(f"guest must be a Guest, not {type(guest).__name__}")
        domain = guest.domain
        if not domain.alive:  # NOTE: the locked call only to raise, for performance
            guest.require_alive()
        if guest.balloon is not None:
            raise InvalidArgument(f"domain {domain.domid} already has a balloon driver")
        batch = _validate.as_count(batch, "batch", minimum=1, maximum=MAX_BATCH)
        max_retry_count = _validate.as_count(max_retry_count, "max_retry_count")
        max_schedule_delay = _validate.as_count(max_schedule_delay, "max_schedule_delay",
                                                minimum=1)
        self.guest = guest
        self._impl = guest.impl
        self._g = g = guest.handle
        self._s = g.stats
        self.hotplug = bool(hotplug)
        self.batch = batch
        if batch != g.batch:  # the guest's frame_list is made for 512 (and unused)
            self._impl.guest_set_batch(g, batch)
        g.scrub_pages = 1 if scrub_pages else 0
        self._state = BPState.DONE
        # Made by the first add_listener (most balloons have none).
        self._listeners: NotifierChain[Callable[[BalloonDriver], object]] | None = None
        self._hv: Hypervisor = domain.hypervisor
        self._sim, self._hz = self._hv.sim, self._hv.sim.hz
        self._worker = DelayedWork(self._sim, self._balloon_process)
        # The run in progress: its start, the ns it has cost so far, the event that
        # resumes it, and whether the work was queued again meanwhile.
        self._run_t0: float | None = None
        self._run_ns = 0.0
        self._resume: Timer | None = None
        self._queued = False
        self._balloon_init(max_retry_count, max_schedule_delay)
        # reserve_additional_memory with CONFIG_XEN_BALLOON_MEMORY_HOTPLUG (registers the
        # online-page callback and the memory notifier) or without (shared, stateless).
        self._reserve: ReserveStrategy = Hotplug(guest, self._kick) if hotplug else NO_HOTPLUG
        self._hotplug_unpopulated = False
        guest.balloon = self
        self._hv.domain_destroy_chain.register_once(_stop_driver)

    def _balloon_init(self, max_retry_count: int, max_schedule_delay: int) -> None:
        pr_info("Initialising balloon driver")
        s, guest = self._s, self.guest
        s.current_pages = s.target_pages = s.total_pages = guest.totalram_pages
        s.balloon_low = s.balloon_high = 0
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
        """The work item: one run of ``balloon_process`` (with a cost model, it spans time)."""
        if not self.guest.alive:
            return
        if self._run_t0 is not None:
            # Queued while running: the workqueue runs it again once this run ends.
            self._queued = True
            return
        model = self._hv.cost
        self._run_t0 = self._sim.now
        self._run_ns = 0.0 if model is None else model.wakeup_ns
        self._turns()

    def _turns(self, last: tuple[int, int] | None = None) -> None:
        """Turns from the worker's clock until the run ends or its clock is ahead of now.

        One frame_list per turn, as the seed loops; the core runs turn after turn while they
        end DONE with credit left and cost less than the time until the next other event.
        Every other answer, and the end of each stretch of turns, comes back here (``last``:
        the core's answer and turn count) at the simulated time the turns took: between
        turns other events run (the seed drops ``balloon_mutex`` and calls
        ``cond_resched()``).  A turn's pages move when it starts.
        """
        sim, model, t0 = self._sim, self._hv.cost, self._run_t0
        assert t0 is not None
        try:
            if last is not None and not self._after_turns(*last):
                return
            while True:
                budget = math.inf
                cost = ZERO_COST
                if model is not None:
                    cost = model.turn_cost(scrub_pages=bool(self._g.scrub_pages),
                                           scrub_freed=self._hv.scrub_freed, pv=self.guest.pv)
                    due, clock = sim.next_event_time(), t0 + self._run_ns / 1e9
                    if sim.until is not None and (due is None or sim.until < due):
                        due = sim.until  # run(until) stops there: the turns after it wait
                    if due is not None:
                        if due <= clock and clock > sim.now:  # they run first; then the turn
                            self._resume = sim.enqueue(clock, self._turns)
                            return
                        budget = (due - t0) * 1e9 - self._run_ns
                state, done, ns = self._impl.balloon_turns(self._g, MAX_TURNS, budget, cost)
                self._run_ns += ns
                clock = t0 + self._run_ns / 1e9
                if clock > sim.now:  # the decisions wait for the time the turns took
                    self._resume = sim.enqueue(clock, partial(self._turns, (state, done)))
                    return
                if not self._after_turns(state, done):
                    return
        except BaseException:
            if self._run_t0 is not None:  # the run ends with the error
                self._end_run(None)
            raise

    def _after_turns(self, state: int, done: int) -> bool:
        """The loop's decisions on what the last turn answered; False once the run ended."""
        update_schedule = self._update_schedule
        if state == K.BP_DONE:  # credit left (the core stopped for time): the loop goes on
            update_schedule(K.BP_DONE)
            return True
        if done > 1:  # the turns before the last ended DONE
            update_schedule(K.BP_DONE)
        if state == K.NO_CREDIT:  # credit == 0: the loop ends
            self._end_run(update_schedule(K.BP_DONE))
            return False
        if state == K.NEED_RESERVE:  # credit > 0 with an empty balloon
            state = self._reserve.reserve_additional_memory(self._s)
        elif state == K.BUG:
            self._end_run(None)
            raise InvariantError(
                f"domain {self.guest.domain.domid}: Xen refused to take back every "
                "frame of a decrease_reservation (BUG_ON in decrease_reservation)")
        state = update_schedule(state)
        if state == K.BP_DONE:
            return True
        self._end_run(state)
        return False

    def _end_run(self, state: int | None) -> None:
        """The run ends (None: on a BUG, state unchanged); a queued run, then backoff."""
        self._run_t0 = None
        self._resume = None
        if self._queued:
            self._queued = False
            self._worker.schedule(0)
        if state is None:
            return
        self._state = BP_STATES[state]
        if state == K.BP_EAGAIN:  # the delay starts now, when the run ends
            self._worker.schedule(self._s.schedule_delay * self._hz)
        if self._listeners is not None:
            self._listeners.call_chain(self)

    def _kick(self) -> None:
        """``schedule_delayed_work(&balloon_worker, 0)``."""
        self._schedule(0)

    def _schedule(self, delay_jiffies: int) -> None:
        """``schedule_delayed_work``: nothing if the item is pending (queued after a run too)."""
        if not self._queued:
            self._worker.schedule(delay_jiffies)

    def add_listener(self, callback: Callable[[BalloonDriver], object]) -> Callable[[], None]:
        """Call ``callback(balloon)`` after every ``balloon_process`` run; returns a remover."""
        if self._listeners is None:
            self._listeners = NotifierChain("balloon_process")
        return self._listeners.register(callback)

    # --- the driver's interface --------------------------------------------------------------
    def set_target(self, pages: int) -> None:
        """``balloon_set_new_target``: store the target and kick the worker (delay 0)."""
        if not self.guest.domain.alive:  # NOTE: the locked call only to raise, for performance
            self.guest.require_alive()
        self._s.target_pages = _validate.as_count(pages, "pages")
        self._schedule(0)

    @property
    def stats(self) -> BalloonStats:
        """A snapshot of ``balloon_stats``."""
        s = self._s
        return BalloonStats(*(int(getattr(s, name)) for name in STAT_FIELDS))

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
        """The worker is queued (possibly waiting out a backoff delay, or a run to end)."""
        return self._worker.pending or self._queued

    @property
    def work_running(self) -> bool:
        """A run of the worker is in progress (only with a cost model: it spans time)."""
        return self._run_t0 is not None

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
        it was.  Like the seed's failure path (``out_undo`` -> ``free_xenballooned_pages``),
        a refusal still kicks the worker when ``current_credit()`` is not 0, even with
        nothing taken: a worker that gave up (ECANCELED) tries again.
        """
        self.guest.require_alive()
        n = _validate.as_count(n, "n", maximum=K.MAX_GFNS)
        try:
            if self._hotplug_unpopulated:
                return self._alloc_hotplugged(n)
            return self._alloc(n)
        except OutOfMemory:
            if self.credit:
                self._worker.schedule(0)
            raise

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
            self._reserve.add_ballooned_pages(self._s, short)
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
            self._schedule(0)

    def ballooned_pfns(self) -> np.ndarray:
        """The balloon's pages in list order (lowmem first)."""
        return self._impl.ballooned_pfns(self._g)

    def _domain_destroyed(self, domain: Domain) -> None:
        """The domain is being destroyed: the worker stops, mid-run too."""
        self._worker.cancel()
        if self._resume is not None:
            self._resume.cancel()
        self._run_t0 = self._resume = None
        self._queued = False

    def __repr__(self) -> str:
        s = self._s
        return (f"<Balloon domain {self.guest.domain.domid}: current={s.current_pages} "
                f"target={s.target_pages} balloon={s.balloon_low + s.balloon_high} "
                f"state={self._state.name}>")


def _stop_driver(domain: Domain) -> None:
    """On the host's domain destroy chain: the worker of the balloon in ``domain`` stops."""
    guest = domain.guest
    if guest is not None and guest.balloon is not None:
        guest.balloon._domain_destroyed(domain)
