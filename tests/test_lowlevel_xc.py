"""xen.lowlevel.xc for the simulated host: names, arguments, units (KiB) and errors."""

from __future__ import annotations

import errno

import pytest

import xenballoon as xb
from xenballoon.lowlevel import xc as xcmod
from xenballoon.lowlevel.xc import Error, Xc


@pytest.fixture
def host(machine):  # type: ignore[no-untyped-def]
    hv = machine(65536)
    guest = xb.Guest(hv.create_domain(4096, maxmem=8192, name="vm1"), pv=True)
    xb.Balloon(guest)
    hv.create_domain(1024, name="vm2")
    return hv


def test_physinfo_reports_memory_in_kib(host: xb.Hypervisor) -> None:
    """total_memory / free_memory are pages * 4 KiB, as pages_to_kib converts them."""
    info = Xc(host).physinfo()
    assert info["total_memory"] == 65536 * 4
    assert info["free_memory"] == host.free_pages * 4 == (65536 - 4096 - 1024) * 4
    assert info["scrub_memory"] == 0
    assert {"nr_cpus", "nr_nodes", "cores_per_socket", "threads_per_core"} <= set(info)


def test_domain_getinfo_has_the_bindings_keys_in_domid_order(host: xb.Hypervisor) -> None:
    """One dict per domain, domid order, mem_kb and maxmem_kb in KiB."""
    infos = Xc(host).domain_getinfo()
    assert [i["domid"] for i in infos] == [1, 2]
    first = infos[0]
    assert first["mem_kb"] == 4096 * 4 and first["maxmem_kb"] == 8192 * 4
    for key in ("dying", "shutdown", "hvm", "paused", "running", "crashed", "online_vcpus",
                "max_vcpu_id", "cpu_time", "ssidref", "shutdown_reason", "cpupool", "handle"):
        assert key in first
    assert first["dying"] == 0 and first["shutdown"] == 0


def test_domain_getinfo_first_dom_and_max_doms(host: xb.Hypervisor) -> None:
    """first_dom skips lower domids; max_doms caps the list."""
    xc = Xc(host)
    assert [i["domid"] for i in xc.domain_getinfo(2)] == [2]
    assert [i["domid"] for i in xc.domain_getinfo(first_dom=0, max_doms=1)] == [1]
    assert xc.domain_getinfo(3) == []


def test_domain_setmaxmem_sets_max_pages_only(host: xb.Hypervisor) -> None:
    """maxmem_kb // 4 becomes max_pages; no xenstore node changes (that is xl's job)."""
    static_max = host.xenstore.read("/local/domain/1/memory/static-max")
    assert Xc(host).domain_setmaxmem(1, 6000 * 4 + 3) == 0
    assert host.domains[1].max_pages == 6000
    assert host.xenstore.read("/local/domain/1/memory/static-max") == static_max


def test_setmaxmem_below_tot_pages_stops_the_guest_growing(host: xb.Hypervisor) -> None:
    """The cap holds: a target above it leaves the guest at the cap."""
    Xc(host).domain_setmaxmem(1, 4096 * 4)
    host.mem_set(1, 8192 * 4)
    host.sim.advance(1)
    assert host.domains[1].tot_pages == 4096


def test_set_target_mem_checks_but_moves_nothing(host: xb.Hypervisor) -> None:
    """No PoD in the model: the call succeeds and the guest stays put."""
    assert Xc(host).domain_set_target_mem(1, 1024) == 0
    host.sim.advance(1)
    assert host.domains[1].tot_pages == 4096


@pytest.mark.parametrize("call", ["domain_setmaxmem", "domain_set_target_mem"])
def test_unknown_domain_is_esrch(host: xb.Hypervisor, call: str) -> None:
    """A missing domain raises xc.Error(ESRCH, ...), a RuntimeError."""
    with pytest.raises(Error) as info:
        getattr(Xc(host), call)(9, 1024)
    assert info.value.args[0] == errno.ESRCH
    assert isinstance(info.value, RuntimeError)


@pytest.mark.parametrize("args, exc", [(("1", 1024), TypeError), ((1, 10.5), TypeError),
                                       ((True, 1024), TypeError), ((1, -4), Error),
                                       ((1, 1 << 31), Error)])
def test_bad_arguments_change_nothing(host: xb.Hypervisor, args: tuple, exc: type) -> None:
    """Non-ints are TypeError (as PyArg_ParseTuple), out-of-range ints EINVAL."""
    with pytest.raises(exc) as info:
        Xc(host).domain_setmaxmem(*args)
    if exc is Error:
        assert info.value.args[0] == errno.EINVAL
    assert host.domains[1].max_pages == 8192


def test_bound_class_takes_no_arguments(host: xb.Hypervisor) -> None:
    """bind(hv) gives the class dom0 code instantiates as xc()."""
    cls = xcmod.bind(host)
    assert cls.__name__ == "xc" and cls.__module__ == "xen.lowlevel.xc"
    assert cls().physinfo()["total_memory"] == 65536 * 4
    assert cls().pages_to_kib(3) == 12
