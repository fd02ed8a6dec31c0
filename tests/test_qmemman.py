"""qmemman: prefmem, balance and balloon, the markers, and its refusal message."""

from __future__ import annotations

import logging

import pytest

import xenballoon as xb
from xenballoon.policies import attach_policy
from xenballoon.policies.qmemman import (
    NO_PROGRESS_MSG,
    DomainState,
    Prefs,
    Qmemman,
    balance,
    balloon,
    create_xs_entries,
)

MIB = 1024 * 1024
PAGES = 256  # per MiB
PREFS = Prefs(1.3, 200 * MIB, 350 * MIB, 1.05)


def dom(domid: str, used_mib: int | None, actual_mib: int, max_mib: int) -> DomainState:
    return DomainState(domid, memory_current=actual_mib * MIB, memory_actual=actual_mib * MIB,
                       memory_maximum=max_mib * MIB, last_target=actual_mib * MIB,
                       mem_used=None if used_mib is None else used_mib * MIB)


def world(backend: str = "c", **params):  # type: ignore[no-untyped-def]
    """1 GiB host: vm1 400 MiB; vm2 300 MiB, may grow to 600 MiB; qmemman attached."""
    hv = xb.Hypervisor(xb.Simulation(), 1024 * PAGES, backend=backend)
    vm1 = xb.Balloon(xb.Guest(hv.create_domain(400 * PAGES, name="vm1")))
    vm2 = xb.Balloon(xb.Guest(hv.create_domain(300 * PAGES, maxmem=600 * PAGES, name="vm2"),
                              pv=True))
    policy = Qmemman(**params)
    attachment = attach_policy(hv, policy)
    for domid in (1, 2):
        create_xs_entries(attachment.xs, domid)
    return hv, policy, vm1, vm2


def report(hv: xb.Hypervisor, domid: int, used_mib: int) -> None:
    """What meminfo-writer does in the guest: used KiB, through the guest's connection."""
    hv.xenstore.connect(domid).write("memory/meminfo", str(used_mib * 1024))


def test_prefmem_is_used_times_the_cache_factor_with_a_floor() -> None:
    """max(min(used * 1.3, maximum), 200 MiB); dom0 gets the boost and no floor."""
    assert PREFS.prefmem(dom("1", 100, 400, 1000)) == 200 * MIB
    assert PREFS.prefmem(dom("1", 300, 400, 1000)) == int(300 * MIB * 1.3)
    assert PREFS.prefmem(dom("1", 900, 400, 1000)) == 1000 * MIB
    assert PREFS.prefmem(dom("0", 100, 400, 4000)) == int(100 * MIB * 1.3 + 350 * MIB)


def test_balance_with_enough_memory_shares_in_proportion_to_prefmem() -> None:
    """Donors first; each target = 0.999 (pref + pref/total_pref * available)."""
    doms = {"1": dom("1", 300, 600, 2000), "2": dom("2", 300, 300, 2000)}
    requests = balance(500 * MIB, doms, PREFS)
    assert [d for d, _ in requests] == ["1", "2"]
    pref = int(300 * MIB * 1.3)
    available = 500 * MIB - (pref - 600 * MIB) - (pref - 300 * MIB)
    assert dict(requests)["2"] == int(0.999 * (pref + 0.5 * available))


def test_balance_when_low_puts_donors_at_prefmem() -> None:
    """Short of memory: a donor with >= 10 MiB surplus goes to its prefmem."""
    doms = {"1": dom("1", 100, 300, 1000), "2": dom("2", 500, 300, 1000),
            "3": dom("3", 150, 200, 1000)}
    requests = balance(0, doms, PREFS)
    assert ("1", 200 * MIB) in requests
    assert all(domid != "3" for domid, _ in requests)  # surplus under 10 MiB: left alone


def test_balloon_borrows_surplus_in_proportion_with_the_safety_net() -> None:
    """Each donor gives surplus * request/available * 1.05; too little is []."""
    doms = {"1": dom("1", 100, 400, 1000), "2": dom("2", 100, 300, 1000)}
    requests = dict(balloon(150 * MIB, doms, PREFS))
    assert requests["1"] == int(400 * MIB - 200 * MIB * 0.5 * 1.05)
    assert requests["2"] == int(300 * MIB - 100 * MIB * 0.5 * 1.05)
    assert balloon(301 * MIB, doms, PREFS) == []


@pytest.mark.parametrize("backend", ["c", "python"])
def test_vm_that_cannot_balloon_down_is_logged_as_refusing(
        backend: str, caplog: pytest.LogCaptureFixture) -> None:
    """vm1 says it uses 100 MiB but its workload holds all its memory: asked to give
    memory to vm2, it does not move; after 5 x 0.1 s qmemman marks it no_progress and
    logs "VM refused to give back requested memory"."""
    hv, policy, vm1, vm2 = world(backend)
    vm1.guest.alloc_pages(vm1.guest.nr_free_pages)
    report(hv, 1, 100)
    hv.sim.advance(0.05)
    with caplog.at_level(logging.WARNING, logger="xenballoon.qmemman"):
        report(hv, 2, 400)
        hv.sim.advance(1.0)
    assert any(NO_PROGRESS_MSG in r.getMessage() and r.getMessage().startswith("dom 1")
               for r in caplog.records)
    assert policy.domdict["1"].no_progress and not policy.domdict["2"].no_progress
    assert vm1.stats.current_pages == 400 * PAGES
    assert vm2.stats.current_pages > 300 * PAGES  # vm2 still got what was free
    hv.check(guests=True)


def test_targets_are_written_16_mib_below_qmemmans_figure() -> None:
    """mem_set: xenstore target = value - 16 MiB, Xen maxmem = value + 1 MiB."""
    hv, policy, _, _ = world()
    report(hv, 1, 100)
    hv.sim.advance(1.0)
    last = policy.domdict["1"].last_target
    assert int(hv.xenstore.read("/local/domain/1/memory/target")) == last // 1024 - 16 * 1024
    assert hv.domains[1].max_pages * 4 == last // 1024 + 1024


def test_small_changes_are_not_significant() -> None:
    """Under 150 MiB moved in all (and nobody under prefmem): nothing is set."""
    hv, policy, _, _ = world()
    report(hv, 1, 250)
    report(hv, 2, 230)
    hv.sim.advance(1.0)
    targets = [hv.xenstore.read(f"/local/domain/{d}/memory/target") for d in (1, 2)]
    report(hv, 1, 260)
    hv.sim.advance(1.0)
    assert [hv.xenstore.read(f"/local/domain/{d}/memory/target") for d in (1, 2)] == targets


def test_request_memory_frees_memory_for_a_new_vm() -> None:
    """do_balloon: donors shrink until Xen free covers the request + 25 MiB."""
    hv, policy, _, _ = world()
    report(hv, 1, 100)
    report(hv, 2, 100)
    hv.sim.advance(1.0)
    assert policy.request_memory(500 * MIB)
    assert hv.free_pages * 4096 * policy.overhead >= 500 * MIB + policy.free_mem_min


@pytest.mark.parametrize("backend", ["c", "python"])
def test_request_memory_fails_when_the_donor_is_stuck(
        backend: str, caplog: pytest.LogCaptureFixture) -> None:
    """A donor that does not move within 0.1 s is dropped; with none left it is FAIL."""
    hv, policy, vm1, _ = world(backend)
    report(hv, 1, 100)
    report(hv, 2, 350)
    hv.sim.advance(1.0)
    vm1.guest.alloc_pages(vm1.guest.nr_free_pages)
    with caplog.at_level(logging.WARNING, logger="xenballoon.qmemman"):
        assert not policy.request_memory(300 * MIB)
    assert any(NO_PROGRESS_MSG in r.getMessage() for r in caplog.records)


def test_garbage_meminfo_takes_the_domain_out_of_balancing() -> None:
    """A non-numeric meminfo sets mem_used to None, as sanitize_and_parse_meminfo does."""
    hv, policy, _, _ = world()
    report(hv, 1, 100)
    hv.sim.advance(0.5)
    hv.xenstore.connect(1).write("memory/meminfo", "lots")
    hv.sim.advance(0.5)
    assert policy.domdict["1"].mem_used is None


def test_domains_come_and_go() -> None:
    """A new domain joins domdict with its meminfo watch; a destroyed one leaves."""
    hv, policy, _, _ = world()
    extra = hv.create_domain(64 * PAGES)
    hv.sim.advance(0.1)
    assert str(extra.domid) in policy.domdict
    hv.destroy_domain(extra)
    hv.sim.advance(0.1)
    assert str(extra.domid) not in policy.domdict


@pytest.mark.parametrize("params", [{"min_prefmem_bytes": -1}, {"cache_factor": 0},
                                    {"balloon_delay": -0.1}])
def test_bad_parameters(params: dict) -> None:
    """Sizes are non-negative ints, factors and delays positive."""
    with pytest.raises(ValueError):
        Qmemman(**params)


def test_bad_request_changes_nothing() -> None:
    """A negative or non-integer request is ValueError; time does not move."""
    hv, policy, _, _ = world()
    with pytest.raises(ValueError):
        policy.request_memory(-5)
    assert hv.sim.now == 0.0 and not policy.busy
