"""Self-ballooning (xen-selfballoon.c): the goal, the hysteresis steps, the floor, the knobs."""

from __future__ import annotations

import pytest

import xenballoon as xb
from xenballoon.frontend import SelfBalloon
from xenballoon.linux import Constant, Step

MIB = 256  # pages
BACKENDS = pytest.mark.parametrize("backend", ["c", "python"])


def guest(backend: str, memory_mib: int = 512) -> tuple[xb.Hypervisor, xb.Balloon]:
    hv = xb.Hypervisor(xb.Simulation(), 2048 * MIB, backend=backend)
    domain = hv.create_domain(memory_mib * MIB)
    return hv, xb.Balloon(xb.Guest(domain, swap_pages=512 * MIB))


@BACKENDS
def test_idle_guest_shrinks_to_committed_as_by_downhysteresis_steps(backend: str) -> None:
    """Each 5 s interval takes an eighth of the gap to Committed_AS + reserve + reserved_mb."""
    hv, b = guest(backend)
    b.guest.run_workload(Constant(64 * MIB))
    sb = SelfBalloon(b)
    assert sb.reserved_mb == 51  # 10 % of 512 MiB at init
    goal = 64 * MIB + b.guest.totalreserve_pages + 51 * MIB
    assert sb.goal() == goal
    cur = b.guest.totalram_pages
    hv.sim.run(until=5.5)
    assert sb.runs == 1
    assert b.guest.totalram_pages == cur - (cur - goal) // 8
    hv.sim.run(until=5.0 * 80 + 0.5)
    assert goal <= b.guest.totalram_pages < goal + 8  # the gap left under 8 pages
    assert b.guest.vmstat().oom_kills == 0
    hv.check(guests=True)


@BACKENDS
def test_guest_grows_back_in_one_step_when_demand_rises(backend: str) -> None:
    """uphysteresis 1: the interval after demand rises, the guest grows to the new goal."""
    hv, b = guest(backend)
    b.guest.run_workload(Step(64 * MIB, at=300.0, anon_after=300 * MIB))
    sb = SelfBalloon(b)
    hv.sim.run(until=299.0)
    small = b.guest.totalram_pages
    assert sb.runs == 59
    assert small < 140 * MIB
    hv.sim.run(until=305.5)  # demand rose at 300 s (swapping); the work ran at 305 s
    committed = b.guest.vmstat().committed_as
    assert committed == 300 * MIB  # resident + swapped
    goal = committed + b.guest.totalreserve_pages + 51 * MIB
    assert b.stats.target_pages == goal  # the whole gap at once (totalram == current here)
    # The worker may sit in its EAGAIN backoff (up to 32 s) from the last shrink: like
    # schedule_delayed_work, balloon_set_new_target does not requeue pending work.
    hv.sim.run(until=345.0)
    assert b.guest.totalram_pages == goal
    assert b.guest.vmstat().swap_used == 0  # swapped pages came back in
    assert b.guest.vmstat().oom_kills == 0
    hv.check(guests=True)


def test_floor_curve_and_min_usable_mb() -> None:
    """With no workload the curve holds the guest: reserve + 40 MiB + (useful - 40 MiB) / 8."""
    hv, b = guest("c", 256)
    sb = SelfBalloon(b)
    reserve = b.guest.totalreserve_pages
    useful = 256 * MIB - reserve
    assert sb.floor() == reserve + 40 * MIB + (useful - 40 * MIB) // 8
    sb.sysfs.write("selfballoon_reserved_mb", "1")
    hv.sim.run(until=400.0)
    assert b.guest.totalram_pages == sb.floor()
    sb.sysfs.write("selfballoon_min_usable_mb", "20")
    assert sb.floor() == reserve + 20 * MIB
    hv.sim.run(until=800.0)
    assert b.guest.totalram_pages < reserve + 21 * MIB + 8


def test_sysfs_knobs_read_write_and_refuse_zero() -> None:
    """Knobs print as %d; 0 and non-decimal text are EINVAL; selfballooning takes 0/1."""
    hv, b = guest("c")
    sb = SelfBalloon(b, selfballooning=False)
    fs = sb.sysfs
    assert fs.ls() == sorted(["selfballooning", "selfballoon_interval",
                              "selfballoon_downhysteresis", "selfballoon_uphysteresis",
                              "selfballoon_min_usable_mb", "selfballoon_reserved_mb"])
    assert fs.read("selfballooning") == "0\n"
    assert fs.read("selfballoon_interval") == "5\n"
    assert fs.read("selfballoon_downhysteresis") == "8\n"
    assert fs.read("selfballoon_uphysteresis") == "1\n"
    for name, text in (("selfballoon_interval", "0"), ("selfballoon_interval", "0x10"),
                       ("selfballooning", "2"), ("selfballoon_uphysteresis", "-1")):
        with pytest.raises(OSError, match="Invalid argument") as err:
            fs.write(name, text)
        assert err.value.errno == 22
    assert fs.read("selfballoon_interval") == "5\n"
    with pytest.raises(OSError):
        fs.read("frontswap_selfshrinking")  # no frontswap
    fs.write("selfballoon_interval", "2\n")
    hv.sim.run(until=10.0)
    assert sb.runs == 0  # off: nothing scheduled
    fs.write("selfballooning", "1")
    hv.sim.run(until=12.5)
    assert sb.runs == 1


def test_selfballooning_is_refused_in_domain0() -> None:
    """xen_selfballoon_init: "disabled for domain0"."""
    hv = xb.Hypervisor(xb.Simulation(), 2048 * MIB, dom0=256 * MIB)
    dom0 = xb.Balloon(xb.Guest(hv.lookup(0)))
    with pytest.raises(ValueError, match="domain0"):
        SelfBalloon(dom0)
