"""A small host driven one random step at a time: the machine behind the property tests.

A ``World`` is a 768-page host with two ballooned guests (one PV with highmem and a
small frame_list, one plain) plus whatever tenants come and go.  ``Steps`` is a hypothesis
state machine whose rules act on one or more worlds at once, in lockstep: the property
test drives one world and checks every invariant after each step; the differential test
drives a C world and a Python world and demands identical outcomes and state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import xenballoon as xb

HOST_PAGES = 768
# (boot pages, maxmem, lowmem_pages, reserve, batch, pv, swap, kill_unit) per guest
GUESTS = ((256, 384, 160, 8, 16, True, 48, 24), (192, 192, None, 4, 64, False, 0, None))
MAX_PFNS = max(g[1] for g in GUESTS)
GUEST = st.integers(0, len(GUESTS) - 1)
SECONDS = st.sampled_from([0.0, 0.004, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 20.0, 64.0])
EXPECTED = (xb.OutOfMemory, ValueError, OSError)
# sysfs writes, valid and not (scrub_pages is left alone: the leak invariant depends on it)
SYSFS_ATTRS = ["target_kb", "target", "max_schedule_delay", "max_retry_count"]
SYSFS_TEXTS = ["0", "1", "8\n", "400", "1024", "0x40", "1M", "2k", "", "-1", "010", "1.5",
               "abc", "99999999999999999999999"]

# Each step of an example runs every invariant; a CI run of the suite takes at least
# MIN_STEPS steps per backend (checked, so a change of settings cannot quietly drop it).
MIN_STEPS = 10_000


def lockstep_settings(max_examples: int, steps: int = 100) -> settings:
    """Deterministic, database-free settings: the same steps on every CI run."""
    return settings(max_examples=max_examples, stateful_step_count=steps, derandomize=True,
                    database=None, deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


Outcome = tuple[Any, ...]


class World:
    """One host, two guests with balloons, tenants; the pfns each guest's users hold."""

    def __init__(self, backend: str | None, scrub_freed: bool, scrub_pages: bool,
                 batch: int | None = None, cost: xb.CostModel | None = None) -> None:
        self.sim = xb.Simulation()
        self.hv = xb.Hypervisor(self.sim, HOST_PAGES, scrub_freed=scrub_freed, cost=cost,
                                backend=backend)
        self.scrubbing = scrub_freed or scrub_pages
        self.balloons: list[xb.Balloon] = []
        fixed = batch
        for memory, maxmem, lowmem, reserve, batch, pv, swap, unit in GUESTS:
            dom = self.hv.create_domain(memory, maxmem=maxmem)
            guest = xb.Guest(dom, lowmem_pages=lowmem, reserve_pages=reserve, pv=pv,
                             swap_pages=swap, kill_unit=unit)
            self.balloons.append(xb.Balloon(guest, batch=batch if fixed is None else fixed,
                                            scrub_pages=scrub_pages))
        self.workload: list[list[int]] = [[] for _ in GUESTS]
        self.handed: list[list[int]] = [[] for _ in GUESTS]
        self.tenants: list[xb.Domain] = []

    # --- observations --------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything both cores must agree on, as plain Python values."""
        hv = self.hv
        snap: dict[str, Any] = {
            "now": self.sim.now, "free_pages": hv.free_pages, "leaks": hv.leaks,
            "tags": hv._impl.host_tags(hv._core)[: hv.total_pages].tolist(),
            "domains": [(d.domid, d.name, d.tot_pages, d.max_pages, d.physmap().tolist())
                        for d in hv.domains.values()],
        }
        for i, b in enumerate(self.balloons):
            g = b.guest
            snap[f"guest{i}"] = (b.stats, b.state, b.work_pending, b.work_running,
                                 b.ballooned_pfns().tolist(),
                                 g.page_flags().tolist(), g.nr_free_pages, g.totalram_pages,
                                 g.mem_available, g.vmstat(), g.meminfo())
        return snap

    def check(self) -> None:
        """The library's invariants, then the model's: what the users hold is what they got."""
        self.hv.check(guests=True)
        for b, workload, handed in zip(self.balloons, self.workload, self.handed, strict=True):
            flags = b.guest.page_flags()
            anon = np.flatnonzero(flags & xb.PG_WORKLOAD).tolist()
            assert set(workload) <= set(anon)
            assert len(anon) == len(workload) + int(b.guest.handle.vm.nr_anon)
            stat = b.guest.vmstat()
            assert stat.anon_pages == len(anon) and stat.file_pages == b.guest.file_pages
            assert stat.swap_used <= stat.swap_total
            assert sorted(np.flatnonzero(flags & xb.PG_HANDED).tolist()) == sorted(handed)
            s = b.stats
            assert s.current_pages == b.guest.domain.tot_pages
            assert s.target_unpopulated == len(handed)
            assert s.total_pages == b.guest.nr_pfns
        if self.scrubbing:
            assert self.hv.leaks == 0

    def attempt(self, action: Callable[[], Any], kicks: int | None = None) -> Outcome:
        """Run an action; a refused one must raise a documented error and change nothing.

        ``kicks``: the guest whose worker a refusal may schedule (a refused
        alloc_ballooned_pages kicks it when current_credit() != 0, as the seed does): only
        its ``work_pending`` may change, to what the credit says.
        """
        before = self.snapshot()
        try:
            value = action()
        except EXPECTED as exc:
            after = self.snapshot()
            if kicks is not None:
                b, key = self.balloons[kicks], f"guest{kicks}"
                assert after[key][2] == (before[key][2] or b.credit != 0)
                after[key] = after[key][:2] + before[key][2:3] + after[key][3:]
            assert after == before, f"{type(exc).__name__} changed state: {exc}"
            return ("raised", type(exc).__name__, str(exc))
        if isinstance(value, np.ndarray):
            value = value.tolist()
        return ("ok", value)

    # --- the steps -------------------------------------------------------------------------
    def set_target(self, i: int, pages: int) -> Outcome:
        return self.attempt(lambda: self.balloons[i].set_target(pages))

    def mem_set(self, i: int, kb: int) -> Outcome:
        return self.attempt(lambda: self.hv.mem_set(self.balloons[i].guest.domain.domid, kb))

    def mem_max(self, i: int, kb: int) -> Outcome:
        return self.attempt(lambda: self.hv.mem_max(self.balloons[i].guest.domain.domid, kb))

    def workload_alloc(self, i: int, n: int) -> Outcome:
        out = self.attempt(lambda: self.balloons[i].guest.alloc_pages(n))
        if out[0] == "ok":
            self.workload[i].extend(out[1])
        return out

    def workload_free(self, i: int, start: int, count: int) -> Outcome:
        pfns = _take(self.workload[i], start, count)
        return self.attempt(lambda: self.balloons[i].guest.free_pages(pfns))

    def workload_churn(self, i: int, n: int) -> Outcome:
        """Programs start and exit: n pages get the workload's data and are freed again."""
        guest = self.balloons[i].guest
        return self.attempt(lambda: guest.free_pages(guest.alloc_pages(n)))

    def alloc_ballooned(self, i: int, n: int) -> Outcome:
        out = self.attempt(lambda: self.balloons[i].alloc_ballooned_pages(n), kicks=i)
        if out[0] == "ok":
            self.handed[i].extend(out[1])
        return out

    def free_ballooned(self, i: int, start: int, count: int) -> Outcome:
        pfns = _take(self.handed[i], start, count)
        return self.attempt(lambda: self.balloons[i].free_ballooned_pages(pfns))

    def bad_free(self, i: int, kind: str, handed: bool) -> Outcome:
        """A pfn that is not held (free, duplicated or out of range): refused, no change."""
        held = self.handed[i] if handed else self.workload[i]
        nr_pfns = self.balloons[i].guest.nr_pfns
        if kind == "duplicate" and held:
            pfns = [held[0], held[0]]
        elif kind == "not held":
            pfns = [p for p in range(nr_pfns) if p not in held][:1] or [nr_pfns]
        else:
            pfns = [nr_pfns + 7]
        target = self.balloons[i]
        action = (lambda: target.free_ballooned_pages(pfns)) if handed else (
            lambda: target.guest.free_pages(pfns))
        out = self.attempt(action)
        assert out[0] == "raised", f"{kind} free of {pfns} was accepted"
        return out

    def sysfs_write(self, i: int, attr: str, text: str) -> Outcome:
        return self.attempt(lambda: self.balloons[i].sysfs.write(attr, text))

    def add_tenant(self, pages: int) -> Outcome:
        out = self.attempt(lambda: self.hv.add_tenant(pages))
        if out[0] == "ok":
            self.tenants.append(out[1])
            return ("ok", out[1].domid)
        return out

    def destroy_tenant(self, k: int) -> Outcome:
        if not self.tenants:
            return ("none",)
        tenant = self.tenants.pop(k % len(self.tenants))
        self.hv.destroy_domain(tenant)
        return ("ok", tenant.domid)

    def workload_step(self, i: int, anon: int, file: int, dt: float) -> Outcome:
        """The memory model: demand met from free pages, cache, swap, or by OOM kills."""
        return self.attempt(lambda: self.balloons[i].guest.step_workload(anon, file, dt))

    def run_workload(self, i: int, seed: int, interval: float) -> Outcome:
        """A random walk stepped by the simulation's stepper from now on."""
        walk = xb.workloads.RandomWalk(anon=64, file=48, step=24, max=400, seed=seed)
        return self.attempt(lambda: self.balloons[i].guest.run_workload(walk,
                                                                        interval=interval))

    def stop_workload(self, i: int) -> Outcome:
        return self.attempt(lambda: self.balloons[i].guest.stop_workload())

    def advance(self, seconds: float) -> Outcome:
        self.sim.advance(seconds)
        return ("ok", self.sim.now)

    def increase_fault(self, calls: int, max_frames: int) -> Outcome:
        self.hv.inject_increase_fault(calls, max_frames)
        return ("ok",)

    def allocation_fault(self, i: int, n: int) -> Outcome:
        self.balloons[i].guest.fail_next_allocations(n)
        return ("ok",)

    def knobs(self, i: int, max_retry_count: int, max_schedule_delay: int) -> Outcome:
        b = self.balloons[i]
        b.max_retry_count = max_retry_count
        b.max_schedule_delay = max_schedule_delay
        return ("ok",)

    def settle(self, shares: list[int]) -> Outcome:
        """Clear every fault, send the tenants away, set reachable targets: all are reached."""
        self.hv.inject_increase_fault(0, 0)
        for tenant in self.tenants:
            self.hv.destroy_domain(tenant)
        self.tenants.clear()
        targets = []
        for b, share, handed in zip(self.balloons, shares, self.handed, strict=True):
            g = b.guest
            g.stop_workload()
            g.fail_next_allocations(0)
            self.hv.mem_max(g.domain.domid, g.nr_pfns * 4)
            # Inflating below anonymous memory + reserve (+ the cache, which it would only
            # take in part), or past the balloon, cannot succeed.
            high = g.nr_pfns - len(handed)
            low = min(g.anon_pages + g.file_pages + g.totalreserve_pages, high)
            target = low + (high - low) * share // 1000
            b.set_target(target)
            targets.append(target)
        # A pending backoff timer was set schedule_delay seconds after its run: wait it out.
        self.sim.advance(max(64, *(b.stats.schedule_delay for b in self.balloons)))
        for b, target in zip(self.balloons, targets, strict=True):
            assert (b.stats.current_pages, b.stats.target_pages) == (target, target)
            assert b.state is xb.BPState.DONE and not b.work_pending
        return ("ok", targets)


def _take(held: list[int], start: int, count: int) -> list[int]:
    """Remove and return ``count`` pfns from ``held``, starting at ``start`` (wrapping)."""
    if not held:
        return []
    start %= len(held)
    taken = held[start:start + count]
    del held[start:start + count]
    return taken


class Steps(RuleBasedStateMachine):
    """Random steps on every world in ``self.worlds``; subclasses build them and compare."""

    runs = 0
    checks = 0

    def __init__(self) -> None:
        super().__init__()
        type(self).runs += 1
        self.worlds: list[World] = []

    @classmethod
    def steps(cls) -> int:
        """Steps run so far (invariant checks minus the one before each example's first step)."""
        return cls.checks - cls.runs

    def make_worlds(self, scrub_freed: bool, scrub_pages: bool,
                    batch: int | None) -> list[World]:
        raise NotImplementedError

    def step(self, name: str, *args: Any) -> list[Outcome]:
        return [getattr(world, name)(*args) for world in self.worlds]

    @initialize(scrub_freed=st.booleans(), scrub_pages=st.booleans(),
                batch=st.sampled_from([None, 1, 3, 512]))
    def boot(self, scrub_freed: bool, scrub_pages: bool, batch: int | None) -> None:
        """Scrubbing on either side or neither; the guests' own frame_lists, or one size."""
        self.worlds = self.make_worlds(scrub_freed, scrub_pages, batch)

    @rule(i=GUEST, pages=st.integers(0, MAX_PFNS + 64))
    def set_target(self, i: int, pages: int) -> None:
        self.step("set_target", i, pages)

    @rule(i=GUEST, kb=st.integers(0, (MAX_PFNS + 64) * 4 + 3))
    def mem_set(self, i: int, kb: int) -> None:
        self.step("mem_set", i, kb)

    @rule(i=GUEST, kb=st.integers(0, (MAX_PFNS + 64) * 4 + 3))
    def mem_max(self, i: int, kb: int) -> None:
        self.step("mem_max", i, kb)

    @rule(i=GUEST, n=st.integers(0, 64))
    def workload_alloc(self, i: int, n: int) -> None:
        self.step("workload_alloc", i, n)

    @rule(i=GUEST, start=st.integers(0, 400), count=st.integers(0, 100))
    def workload_free(self, i: int, start: int, count: int) -> None:
        self.step("workload_free", i, start, count)

    @rule(i=GUEST, n=st.integers(0, 400))
    def workload_churn(self, i: int, n: int) -> None:
        self.step("workload_churn", i, n)

    @rule(i=GUEST, n=st.integers(0, 64))
    def alloc_ballooned(self, i: int, n: int) -> None:
        self.step("alloc_ballooned", i, n)

    @rule(i=GUEST, start=st.integers(0, 400), count=st.integers(0, 40))
    def free_ballooned(self, i: int, start: int, count: int) -> None:
        self.step("free_ballooned", i, start, count)

    @rule(i=GUEST, kind=st.sampled_from(["duplicate", "not held", "out of range"]),
          handed=st.booleans())
    def bad_free(self, i: int, kind: str, handed: bool) -> None:
        self.step("bad_free", i, kind, handed)

    @rule(i=GUEST, attr=st.sampled_from(SYSFS_ATTRS), text=st.sampled_from(SYSFS_TEXTS))
    def sysfs_write(self, i: int, attr: str, text: str) -> None:
        self.step("sysfs_write", i, attr, text)

    @rule(pages=st.integers(1, HOST_PAGES // 2))
    def add_tenant(self, pages: int) -> None:
        self.step("add_tenant", pages)

    @rule(k=st.integers(0, 7))
    def destroy_tenant(self, k: int) -> None:
        self.step("destroy_tenant", k)

    @rule(i=GUEST, anon=st.integers(0, 420), file=st.integers(0, 200),
          dt=st.sampled_from([0.0, 0.5, 1.0, 4.0]))
    def workload_step(self, i: int, anon: int, file: int, dt: float) -> None:
        self.step("workload_step", i, anon, file, dt)

    @rule(i=GUEST, seed=st.integers(0, 3), interval=st.sampled_from([0.5, 1.0, 2.0]))
    def run_workload(self, i: int, seed: int, interval: float) -> None:
        self.step("run_workload", i, seed, interval)

    @rule(i=GUEST)
    def stop_workload(self, i: int) -> None:
        self.step("stop_workload", i)

    @rule(seconds=SECONDS)
    def advance(self, seconds: float) -> None:
        self.step("advance", seconds)

    @rule(calls=st.integers(0, 5), max_frames=st.integers(0, 20))
    def increase_fault(self, calls: int, max_frames: int) -> None:
        self.step("increase_fault", calls, max_frames)

    @rule(i=GUEST, n=st.integers(0, 5))
    def allocation_fault(self, i: int, n: int) -> None:
        self.step("allocation_fault", i, n)

    @rule(i=GUEST, max_retry_count=st.integers(0, 6), max_schedule_delay=st.integers(1, 32))
    def knobs(self, i: int, max_retry_count: int, max_schedule_delay: int) -> None:
        self.step("knobs", i, max_retry_count, max_schedule_delay)

    @rule(shares=st.lists(st.integers(0, 1000), min_size=len(GUESTS), max_size=len(GUESTS)))
    def settle(self, shares: list[int]) -> None:
        self.step("settle", shares)

    @invariant()
    def every_invariant_holds(self) -> None:
        type(self).checks += 1
        for world in self.worlds:
            world.check()
