"""Errors in one place, units in one place, notifier chains, and what `import xenballoon` loads."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest

import xenballoon as xb
from xenballoon import units
from xenballoon.errors import ensure, status_error
from xenballoon.sim import NotifierChain


def run_python(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_xenballoon_does_not_import_rich() -> None:
    """rich is the CLI's dependency: the library and the toolstack load without it."""
    run_python("import sys, xenballoon, xenballoon.toolstack; assert 'rich' not in sys.modules")


def test_toolstack_domain_table_is_still_importable() -> None:
    """`from xenballoon.toolstack import domain_table` works, loading rich only then."""
    run_python("import sys\nfrom xenballoon.toolstack import domain_table\n"
               "assert callable(domain_table) and 'rich' in sys.modules")


def test_bpstate_prints_its_name() -> None:
    """str(), print() and f-strings of a BPState show its name, not its number."""
    assert str(xb.BPState.DONE) == "DONE"
    assert f"{xb.BPState.EAGAIN}" == "EAGAIN"
    assert xb.BPState.WAIT == 1  # still an int


def test_bad_value_is_invalid_argument_and_value_error() -> None:
    """A bad value raises InvalidArgument, catchable as ValueError and XenBalloonError."""
    hv = xb.Hypervisor(xb.Simulation(), 1024)
    with pytest.raises(xb.InvalidArgument, match="maxmem"):
        hv.create_domain(64, maxmem=32)
    assert issubclass(xb.InvalidArgument, ValueError)
    assert issubclass(xb.InvalidArgument, xb.XenBalloonError)
    assert hv.domains == {}


def test_bad_type_is_invalid_type_and_type_error() -> None:
    """A wrong type raises InvalidType, catchable as TypeError and XenBalloonError."""
    with pytest.raises(xb.InvalidType) as info:
        xb.Hypervisor(xb.Simulation(), "1024")  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError) and isinstance(info.value, xb.XenBalloonError)


def test_ensure_raises_the_class_asked_for() -> None:
    """ensure() passes on a true condition and raises `raising(message)` on a false one."""
    ensure(True, "unused")
    with pytest.raises(xb.InvalidArgument, match="bad"):
        ensure(False, "bad")
    with pytest.raises(xb.OutOfMemory, match="short"):
        ensure(0, "short", raising=xb.OutOfMemory)


def test_status_error_maps_core_codes_to_exceptions() -> None:
    """-ENOMEM is OutOfMemory, -EINVAL InvalidArgument, anything else (BUG) InvariantError."""
    assert type(status_error(-errno.ENOMEM, "m")) is xb.OutOfMemory
    assert type(status_error(-errno.EINVAL, "m")) is xb.InvalidArgument
    assert type(status_error(-1, "m")) is xb.InvariantError


def test_unit_conversions_round_down() -> None:
    """KiB, MiB, bytes and pages convert with the kernel's shifts (rounding down)."""
    assert units.PAGE_SIZE == xb.PAGE_SIZE == 4096
    assert units.kb_to_pages(4099) == 1024 and units.pages_to_kb(1024) == 4096
    assert units.pages_to_mib(511) == 1 and units.size_to_pages(8191) == 1
    assert units.parse_kb("1m") == 1024 and units.parse_size("4GiB") == 4 << 30
    with pytest.raises(xb.InvalidArgument):
        units.parse_size("1.5G")


def test_notifier_chain_calls_in_order_until_unregistered() -> None:
    """call_chain calls each callback in registration order; unregister removes one."""
    chain: NotifierChain = NotifierChain("test")
    seen: list[tuple[str, int]] = []
    chain.register(lambda x: seen.append(("a", x)))
    remove_b = chain.register(lambda x: seen.append(("b", x)))
    chain.call_chain(1)
    remove_b()
    remove_b()  # idempotent
    chain.call_chain(2)
    assert seen == [("a", 1), ("b", 1), ("a", 2)]
    with pytest.raises(xb.InvalidType):
        chain.register(42)  # type: ignore[arg-type]


def test_destroy_chain_runs_before_the_frames_go_back() -> None:
    """Subscribers of a domain's destroy chain see it once, still holding its frames."""
    hv = xb.Hypervisor(xb.Simulation(), 1024)
    dom = hv.create_domain(256)
    seen: list[int] = []
    dom.destroy_chain.register(lambda d: seen.append(d.tot_pages))
    hv.destroy_domain(dom)
    assert seen == [256] and hv.free_pages == 1024


def test_host_chains_run_before_the_domain_chains_and_see_every_domain() -> None:
    """The host's chains are called for each domain, then the domain's own (if made)."""
    hv = xb.Hypervisor(xb.Simulation(), 1024)
    a, b = hv.create_domain(256), hv.create_domain(256)
    seen: list[tuple[str, int]] = []
    hv.domain_check_chain.register(lambda d: seen.append(("host check", d.domid)))
    hv.domain_destroy_chain.register(lambda d: seen.append(("host destroy", d.domid)))
    b.check_chain.register(lambda d: seen.append(("own check", d.domid)))
    b.destroy_chain.register(lambda d: seen.append(("own destroy", d.tot_pages)))
    hv.check(guests=True)
    hv.destroy_domain(b)
    hv.destroy_domain(a)
    assert seen == [("host check", 1), ("host check", 2), ("own check", 2),
                    ("host destroy", 2), ("own destroy", 256), ("host destroy", 1)]


def test_guests_and_balloons_subscribe_once_per_host() -> None:
    """However many guests and balloons a host runs, one function each on its chains, and
    no domain gets chains of its own for them."""
    hv = xb.Hypervisor(xb.Simulation(), 1024)
    balloons = [xb.Balloon(xb.Guest(hv.create_domain(256))) for _ in range(3)]
    xb.Guest(hv.create_domain(256))  # a guest without a balloon
    assert len(hv.domain_check_chain) == 1 and len(hv.domain_destroy_chain) == 2
    hv.destroy_domain(balloons[0].guest.domain)
    hv.destroy_domain(4)
    assert not balloons[0].work_pending and balloons[1].work_pending
    hv.check(guests=True)


def test_check_chain_runs_the_guest_check() -> None:
    """hv.check(guests=True) reaches a guest only through the host's domain check chain."""
    hv = xb.Hypervisor(xb.Simulation(), 1024)
    guest = xb.Guest(hv.create_domain(256))
    assert len(hv.domain_check_chain) == 1 and len(guest.domain.check_chain) == 0
    hv.check(guests=True)
    guest.handle.totalram_pages += 1
    with pytest.raises(xb.InvariantError):
        hv.check(guests=True)
    guest.handle.totalram_pages -= 1
