"""Threads (issue 16.2): one world used from four threads at once, through the public API.

The rule (README, "Threads"): a world -- a Simulation with its hypervisors, domains,
xenstore, guests, balloons and sysfs -- has one lock, ``sim.lock``, that every public call
holds; calls from several threads are serialised, one call at a time.  Before it, two
threads on one host gave false `InvariantError`s and SIGSEGV on the C core (cffi
releases the GIL in every core call) and corrupt state on the reference core.
"""

from __future__ import annotations

import contextlib
import random
import sys
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import xenballoon as xb

THREADS, CALLS = 4, 10_000
EXPECTED = (xb.OutOfMemory, ValueError, TypeError, OSError)


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads every 10 us instead of 5 ms: far more interleavings per run."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(interval)


class Worker:
    """One thread's random calls; it frees only the pages it was given itself."""

    def __init__(self, hv: xb.Hypervisor, balloons: list[xb.Balloon], seed: int) -> None:
        self.hv, self.balloons = hv, balloons
        self.rng = random.Random(seed)
        self.workload: list[list[int]] = [[] for _ in balloons]
        self.handed: list[list[int]] = [[] for _ in balloons]
        self.tenants: list[xb.Domain] = []
        self.errors: list[BaseException] = []
        self.calls = 0

    def take(self, held: list[int]) -> list[int]:
        n = self.rng.randint(0, min(len(held), 40))
        taken, held[:n] = held[:n], []
        return taken

    def step(self) -> None:
        rng, hv = self.rng, self.hv
        i = rng.randrange(len(self.balloons))
        b = self.balloons[i]
        g = b.guest
        action = rng.randrange(16)
        if action == 0:
            b.set_target(rng.randint(0, 400))
        elif action == 1:
            hv.mem_set(g.domain.domid, rng.randint(0, 1600))
        elif action == 2:
            hv.mem_max(g.domain.domid, rng.randint(800, 1600))
        elif action == 3:
            self.workload[i].extend(g.alloc_pages(rng.randint(0, 32)).tolist())
        elif action == 4:
            g.free_pages(self.take(self.workload[i]))
        elif action == 5:
            self.handed[i].extend(b.alloc_ballooned_pages(rng.randint(0, 16)).tolist())
        elif action == 6:
            b.free_ballooned_pages(self.take(self.handed[i]))
        elif action == 7:
            b.sysfs.write(rng.choice(["target_kb", "max_retry_count", "max_schedule_delay"]),
                          rng.choice(["0", "1", "8", "400", "1024", "x"]))
        elif action == 8:
            if self.tenants and rng.random() < 0.6:
                hv.destroy_domain(self.tenants.pop())
            else:
                self.tenants.append(hv.add_tenant(rng.randint(1, 64)))
        elif action == 9:
            hv.sim.advance(rng.choice([0.0, 0.004, 0.5, 2.0]))
        elif action == 10:
            hv.inject_increase_fault(rng.randint(0, 3), rng.randint(0, 20))
        elif action == 11:
            g.fail_next_allocations(rng.randint(0, 2))
        elif action == 12:
            b.max_retry_count = rng.randint(0, 4)
        elif action == 13:  # readers: snapshots and views
            s = b.stats
            assert s.balloon_low + s.balloon_high <= s.total_pages
            assert len(g.page_flags()) == g.nr_pfns
            b.ballooned_pfns()
            g.domain.physmap()
            b.sysfs.read("info/current_kb")
        elif action == 14:
            hv.xenstore.write(f"{g.domain.home}/data/t{rng.randrange(4)}", str(rng.random()))
        else:
            hv.check(guests=True)

    def run(self) -> None:
        try:
            for _ in range(CALLS):
                with contextlib.suppress(*EXPECTED):  # a refusal: documented, no change
                    self.step()
                self.calls += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)


def shared_world(backend: str) -> tuple[xb.Hypervisor, list[xb.Balloon]]:
    sim = xb.Simulation()
    hv = xb.Hypervisor(sim, 1024, backend=backend)
    balloons = [
        xb.Balloon(xb.Guest(hv.create_domain(256, maxmem=384), lowmem_pages=160, pv=True),
                   batch=16),
        xb.Balloon(xb.Guest(hv.create_domain(192)), batch=64),
    ]
    return hv, balloons


@pytest.mark.parametrize("backend", ["c", "python"])
def test_four_threads_on_one_world_crash_nothing_and_corrupt_nothing(
        backend: str, fast_switching: None) -> None:
    """4 threads x 10,000 random public calls on one host, then every invariant holds."""
    hv, balloons = shared_world(backend)
    workers = [Worker(hv, balloons, seed) for seed in range(THREADS)]
    threads = [threading.Thread(target=w.run) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [e for w in workers for e in w.errors]
    assert errors == [], f"{type(errors[0]).__name__}: {errors[0]}"
    assert [w.calls for w in workers] == [CALLS] * THREADS
    hv.check(guests=True)
    for i, b in enumerate(balloons):
        flags = b.guest.page_flags()
        workload = sorted(p for w in workers for p in w.workload[i])
        handed = sorted(p for w in workers for p in w.handed[i])
        assert np.flatnonzero(flags & xb.PG_WORKLOAD).tolist() == workload
        assert np.flatnonzero(flags & xb.PG_HANDED).tolist() == handed
        assert b.stats.target_unpopulated == len(handed)
    assert hv.leaks == 0


def test_every_object_of_a_world_shares_one_lock() -> None:
    """The simulation's lock is the hypervisor's, the store's, each guest's and balloon's."""
    hv, balloons = shared_world(xb.BACKEND)
    lock = hv.sim.lock
    objects: list[Any] = [hv, hv.xenstore, hv.xenstore.connect(1)]
    for b in balloons:
        objects += [b, b.guest, b.guest.domain, b.guest.hotplug, b.sysfs, b.watch]
    assert all(obj.lock is lock for obj in objects)
    assert xb.XenStore().lock is not lock  # a store on its own is a world of its own


def test_a_call_waits_while_another_thread_holds_the_world() -> None:
    """A thread holding ``sim.lock`` makes the others' calls wait, not interleave."""
    hv, (b, _) = shared_world(xb.BACKEND)
    seen: list[int] = []
    started = threading.Event()

    def other() -> None:
        started.set()
        b.set_target(100)  # blocks until the main thread lets go
        seen.append(b.stats.target_pages)

    with hv.sim.lock:
        t = threading.Thread(target=other)
        t.start()
        started.wait()
        t.join(timeout=0.2)
        assert t.is_alive() and seen == []
        b.set_target(50)
        assert b.stats.target_pages == 50
    t.join()
    assert seen == [100]



def test_a_single_counter_is_read_without_waiting_for_the_world() -> None:
    """What `xenballoon bench`'s progress thread does: read one counter while another
    thread holds the world (a plain getter takes no lock, so it never waits)."""
    hv, (b, _) = shared_world(xb.BACKEND)
    values: list[int] = []
    with hv.sim.lock:
        t = threading.Thread(target=lambda: values.append(b.current_pages))
        t.start()
        t.join(timeout=60)
        assert values == [256]
