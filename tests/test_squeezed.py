"""squeezed: gamma targets, two phases, stuck domains and its refusals, reservations."""

from __future__ import annotations

import pytest

import xenballoon as xb
from xenballoon.policies import attach_policy
from xenballoon.policies.squeezed import (
    CannotFreeThisMuchMemory,
    DomainsRefusedToCooperate,
    Squeezed,
    xenopsd_nodes,
)

MIB = 256  # pages
KIB = 1024  # KiB per MiB
SLUSH = 72 * KIB


def world(backend: str = "c", host_mib: int = 1024, guests=((400, 400, 200, 400),) * 2,
          **params):  # type: ignore[no-untyped-def]
    """A host with ballooned guests (memory, maxmem, dynamic-min, dynamic-max in MiB)."""
    hv = xb.Hypervisor(xb.Simulation(), host_mib * MIB, backend=backend)
    balloons = []
    for memory, maxmem, _, _ in guests:
        domain = hv.create_domain(memory * MIB, maxmem=maxmem * MIB)
        balloons.append(xb.Balloon(xb.Guest(domain, pv=maxmem > memory)))
    policy = Squeezed(**params)
    attachment = attach_policy(hv, policy)
    for domid, (_, _, low, high) in enumerate(guests, start=1):
        xenopsd_nodes(attachment.xs, domid, low * KIB, high * KIB)
    return hv, policy, balloons


def target_kb(hv: xb.Hypervisor, domid: int) -> int:
    return int(hv.xenstore.read(f"/local/domain/{domid}/memory/target"))


@pytest.mark.parametrize("backend", ["c", "python"])
def test_reserve_memory_frees_it_at_an_equal_fraction_of_each_range(backend: str) -> None:
    """Both guests end at the same gamma; host free covers the request + slush."""
    hv, policy, balloons = world(backend)
    reservation = policy.reserve_memory(350 * KIB)
    assert policy.reservations == {reservation: 350 * KIB}
    assert hv.free_pages * 4 >= 350 * KIB + SLUSH
    assert target_kb(hv, 1) == target_kb(hv, 2)
    assert 200 * KIB < target_kb(hv, 1) < 400 * KIB
    assert [b.stats.current_pages for b in balloons] == [target_kb(hv, 1) // 4] * 2
    hv.check(guests=True)


@pytest.mark.parametrize("backend", ["c", "python"])
def test_guest_that_cannot_balloon_makes_squeezed_refuse(backend: str) -> None:
    """vm1's memory is all the workload's: after 5 s without progress it is declared
    inactive, vm2 picks up the slack to its dynamic-min, and the request fails with
    Domains_refused_to_cooperate naming vm1."""
    hv, policy, balloons = world(backend)
    stuck = balloons[0].guest
    stuck.alloc_pages(stuck.nr_free_pages)
    with pytest.raises(DomainsRefusedToCooperate) as info:
        policy.reserve_memory(380 * KIB)
    assert info.value.domids == [1]
    assert hv.sim.now > policy.stuck_after
    assert balloons[1].stats.current_pages == 200 * MIB
    assert hv.domains[1].tot_pages == 400 * MIB
    assert hv.domains[1].max_pages * 4 <= 400 * KIB  # CA-41832: it may not grow back
    assert policy.reservations == {}
    hv.check(guests=True)


@pytest.mark.parametrize("backend", ["c", "python"])
def test_more_than_the_dynamic_minimums_allow_cannot_be_freed(backend: str) -> None:
    """Everyone at dynamic-min and still short: Cannot_free_this_much_memory."""
    hv, policy, balloons = world(backend)
    with pytest.raises(CannotFreeThisMuchMemory) as info:
        policy.free_memory(600 * KIB)
    assert info.value.needed_kb == 600 * KIB + SLUSH
    assert [b.stats.current_pages for b in balloons] == [200 * MIB] * 2


def test_two_phases_free_before_anything_grows() -> None:
    """vm1 must shrink and vm2 grow: vm2's target is written only after vm1 hit its own."""
    hv, policy, _ = world(host_mib=700, guests=((400, 400, 100, 400), (100, 400, 100, 400)),
                          interval=None)
    changed: dict[int, float] = {}
    for domid in (1, 2):
        hv.xenstore.watch(f"/local/domain/{domid}/memory/target",
                          lambda _, d=domid: changed.setdefault(d, hv.sim.now))
    changed.clear()
    policy.balance_memory()
    assert changed[1] < changed[2]
    assert target_kb(hv, 1) == target_kb(hv, 2)


def test_without_two_phases_both_targets_move_at_once() -> None:
    """The fist point DisableTwoPhaseTargetSets writes every target in one go."""
    hv, policy, _ = world(host_mib=700, guests=((400, 400, 100, 400), (100, 400, 100, 400)),
                          interval=None, two_phase=False)
    changed: dict[int, float] = {}
    for domid in (1, 2):
        hv.xenstore.watch(f"/local/domain/{domid}/memory/target",
                          lambda _, d=domid: changed.setdefault(d, hv.sim.now))
    changed.clear()
    policy.balance_memory()
    assert changed[1] == changed[2]


def test_first_sight_records_the_memory_offset() -> None:
    """Calibration: memory-offset = mem_kb - target, written once, used thereafter."""
    hv, policy, _ = world(interval=None)
    policy.snapshot()
    assert hv.xenstore.read("/local/domain/1/memory/memory-offset") == "0"


def test_domains_without_feature_balloon_are_left_alone() -> None:
    """No control/feature-balloon, no data/updated: not booted, a fixed size."""
    hv, policy, _ = world(interval=None)
    extra = hv.create_domain(100 * MIB)
    policy.free_memory(350 * KIB)
    assert target_kb(hv, extra.domid) == 100 * KIB
    assert not hv.xenstore.exists(f"{extra.home}/memory/memory-offset")


def test_a_stuck_guest_is_flagged_uncooperative_and_cleared_when_it_recovers() -> None:
    """memory/uncooperative after 20 s without cooperating, removed once it hits target."""
    hv, policy, balloons = world()
    stuck = balloons[0].guest
    held = stuck.alloc_pages(stuck.nr_free_pages)
    policy.reserve_memory(300 * KIB)  # vm2 alone can free that much
    assert target_kb(hv, 1) < 400 * KIB
    hv.sim.advance(30.0)
    node = "/local/domain/1/memory/uncooperative"
    assert hv.xenstore.get_perms(node)  # present (an empty node)
    stuck.free_pages(held)
    # The driver gave up after max_retry_count EAGAINs (ECANCELED); a target write restarts it.
    hv.mem_set(1, target_kb(hv, 1))
    hv.sim.advance(25.0)
    with pytest.raises(KeyError):
        hv.xenstore.get_perms(node)


def test_reservation_transfers_to_the_new_domain() -> None:
    """transfer writes initial-reservation and reservation-id and caps maxmem."""
    hv, policy, _ = world(interval=None)
    reservation = policy.reserve_memory(100 * KIB)
    domain = hv.create_domain(100 * MIB)
    policy.transfer_reservation_to_domain(reservation, domain.domid)
    assert policy.reservations == {}
    assert hv.xenstore.read(f"{domain.home}/memory/initial-reservation") == str(100 * KIB)
    assert hv.xenstore.read(f"{domain.home}/memory/reservation-id") == reservation
    assert domain.max_pages == 100 * MIB
    with pytest.raises(ValueError, match="Unknown_reservation"):
        policy.delete_reservation(reservation)


def test_free_memory_range_returns_an_amount_in_the_range() -> None:
    """A fair share between min and max, clamped to them."""
    hv, policy, _ = world(interval=None)
    amount = policy.free_memory_range(100 * KIB, 300 * KIB)
    assert 100 * KIB <= amount <= 300 * KIB
    assert hv.free_pages * 4 >= 100 * KIB + SLUSH


def test_background_balance_gives_memory_back_after_a_reservation_goes() -> None:
    """The balance thread (every 10 s) grows the guests back to dynamic-max."""
    hv, policy, balloons = world()
    reservation = policy.reserve_memory(350 * KIB)
    policy.delete_reservation(reservation)
    hv.sim.advance(25.0)
    assert [b.stats.current_pages for b in balloons] == [400 * MIB] * 2


@pytest.mark.parametrize("call, args", [("reserve_memory", (-1,)), ("free_memory", ("1",)),
                                        ("free_memory_range", (300, 100))])
def test_bad_requests_change_nothing(call: str, args: tuple) -> None:
    """Negative, non-integer or inverted sizes are ValueError before anything moves."""
    hv, policy, _ = world(interval=None)
    with pytest.raises(ValueError):
        getattr(policy, call)(*args)
    assert hv.sim.now == 0.0 and target_kb(hv, 1) == 400 * KIB


def test_bad_parameters() -> None:
    """Sizes must be non-negative KiB; waits positive seconds."""
    with pytest.raises(ValueError, match="target_host_free_kb"):
        Squeezed(target_host_free_kb=-1)
    with pytest.raises(ValueError, match="positive"):
        Squeezed(wait=0)


def test_balance_memory_logs_instead_of_raising(caplog: pytest.LogCaptureFixture) -> None:
    """Everyone already at dynamic-max with memory to spare: the balance cannot reach the
    slush target, and like squeezed's it only logs that."""
    hv, policy, balloons = world(host_mib=2048, interval=None)
    with caplog.at_level("INFO", logger="xenballoon.squeezed"):
        policy.balance_memory()
    assert "Cannot_free_this_much_memory" in caplog.text
    assert [b.stats.current_pages for b in balloons] == [400 * MIB] * 2


def test_enough_free_memory_needs_no_squeezing() -> None:
    """CA-144658: free memory already enough and targets reached: no time passes."""
    hv, policy, _ = world(interval=None)
    assert policy.free_memory(100 * KIB) >= 100 * KIB + SLUSH
    assert hv.sim.now == 0.0 and target_kb(hv, 1) == 400 * KIB
