"""The nodes a toolstack writes for each domain (libxl, xenopsd, Qubes), and Domain-0."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import xenballoon as xb
from xenballoon import toolstack as ts

Machine = Callable[..., xb.Hypervisor]


def memory_nodes(hv: xb.Hypervisor, dom: xb.Domain) -> dict[str, str]:
    home = f"{dom.home}/memory"
    return {name: hv.xenstore.read(f"{home}/{name}") for name in hv.xenstore.ls(home)}


def test_libxl_nodes_for_a_pv_domain(machine: Machine) -> None:
    """static-max, target and videoram (0 for PV), in KiB, owned by dom0, guest-readable."""
    hv = machine(10000)
    dom = hv.create_domain(1024, maxmem=2048)
    assert memory_nodes(hv, dom) == {"static-max": "8192", "target": "4096", "videoram": "0"}
    assert hv.xenstore.get_perms(f"{dom.home}/memory/videoram") == ["n0", "r1"]
    assert hv.xenstore.connect(1).read("memory/videoram") == "0"


def test_xenopsd_and_qubes_nodes_when_asked_for(machine: Machine) -> None:
    """dynamic-min/-max (XenServer) and hotplug-max (Qubes) are written only when given."""
    hv = machine(100000)
    dom = hv.create_domain(4096, maxmem=16384, videoram=2048, dynamic_min=2048,
                           dynamic_max=8192, hotplug_max=32768)
    assert memory_nodes(hv, dom) == {
        "static-max": "65536", "target": "16384", "videoram": "8192", "dynamic-min": "8192",
        "dynamic-max": "32768", "hotplug-max": "131072"}


@pytest.mark.parametrize("kw", [{"videoram": -1}, {"dynamic_min": 5, "dynamic_max": 4},
                                {"hotplug_max": "lots"}, {"dynamic_max": 1.5}])
def test_bad_node_options_change_nothing(machine: Machine, kw: dict[str, object]) -> None:
    """A bad option raises before anything is created."""
    hv = machine(10000)
    with pytest.raises((ValueError, TypeError)):
        hv.create_domain(100, **kw)  # type: ignore[arg-type]
    assert hv.domains == {} and hv.free_pages == 10000
    assert hv.create_domain(100).domid == 1


def test_no_domain0_unless_asked_for(machine: Machine) -> None:
    """Without dom0= the host's frames are all the guests' and domids start at 1."""
    hv = machine(1000)
    assert hv.dom0 is None and hv.free_pages == 1000
    assert hv.create_domain(10).domid == 1


def test_domain0_is_a_domain_of_the_host(machine: Machine) -> None:
    """dom0=pages: domid 0, named Domain-0, its own frames, its nodes; listed first."""
    hv = machine(65536 + 1000, dom0=65536)
    dom0 = hv.dom0
    assert dom0 is not None and (dom0.domid, dom0.name, dom0.tot_pages) == (0, "Domain-0", 65536)
    assert hv.free_pages == 1000 and hv.domains == {0: dom0}
    assert memory_nodes(hv, dom0) == {"static-max": "262144", "target": "262144",
                                      "videoram": "0"}
    assert hv.xenstore.read("/local/domain/0/name") == "Domain-0"
    vm = hv.create_domain(500, name="vm1")
    assert vm.domid == 1
    assert [(i.domid, i.name, i.mem_mib) for i in ts.domain_list(hv)] == [
        (0, "Domain-0", 256), (1, "vm1", 1)]
    with pytest.raises(xb.InvalidArgument, match="Domain-0 cannot be destroyed"):
        hv.destroy_domain(0)
    with pytest.raises(xb.InvalidArgument, match="in use"):
        hv.create_domain(1, name="Domain-0")
    hv.check()


def test_domain0_runs_a_balloon_and_libxl_keeps_it_above_128_mib(machine: Machine) -> None:
    """Domain-0 balloons like any guest; libxl refuses a dom0 target below 128 MiB."""
    hv = machine(65536 + 1000, dom0=65536)
    b = xb.Balloon(xb.Guest(hv.dom0))
    ts.mem_set(hv, "Domain-0", "128m")
    hv.sim.run()
    assert b.stats.current_pages == 32768 and hv.free_pages == 1000 + 32768
    with pytest.raises(ValueError, match="below the minimum threshold"):
        ts.mem_set(hv, 0, "127m")
    assert hv.dom0 is not None and hv.dom0.target_kb == 131072
