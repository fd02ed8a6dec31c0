"""Guest agents: each one's node, format, units, rate, thresholds and permissions."""

from __future__ import annotations

import logging

import pytest

import xenballoon as xb
from xenballoon.linux.agents import (
    AgentTicker,
    MeminfoWriter,
    NoAgent,
    XeDaemon,
    XenGuestAgent,
    attach_agent,
)
from xenballoon.xen.libxl import xenopsd_guest_nodes

MIB = 256  # pages
BACKENDS = pytest.mark.parametrize("backend", ["c", "python"])


def vm(backend: str, memory_mib: int = 256, *, n: int = 1) -> tuple[xb.Hypervisor, list]:
    hv = xb.Hypervisor(xb.Simulation(), 2048 * MIB, backend=backend)
    balloons = [xb.Balloon(xb.Guest(hv.create_domain(memory_mib * MIB), swap_pages=64 * MIB))
                for _ in range(n)]
    return hv, balloons


def create_xs_entries(xs: object, domid: int) -> None:
    """What qubesd writes (qubesvm.py create_xs_entries): memory/meminfo, the guest's own."""
    path = f"/local/domain/{domid}/memory/meminfo"
    xs.write(path, "")  # type: ignore[attr-defined]
    xs.set_perms(path, [f"n{domid}"])  # type: ignore[attr-defined]


def used_kb(guest: xb.Guest) -> int:
    m = guest.meminfo()
    return m["MemTotal"] - m["Buffers"] - m["Cached"] - m["MemFree"] \
        + m["SwapTotal"] - m["SwapFree"]


@BACKENDS
def test_meminfo_writer_writes_used_kib_to_memory_meminfo(backend: str) -> None:
    """memory/meminfo holds MemTotal - Buffers - Cached - MemFree + Swap used, in KiB."""
    hv, (b,) = vm(backend)
    create_xs_entries(hv.xenstore.connect(0), b.guest.domain.domid)
    b.guest.step_workload(100 * MIB, file=50 * MIB)
    writer = attach_agent(b.guest, "qmemman")
    value = hv.xenstore.read(f"{b.guest.domain.home}/memory/meminfo")
    assert value == str(used_kb(b.guest))
    assert int(value) == (100 * MIB) * 4  # anonymous only: the cache is not "used"
    writer.stop()
    hv.check(guests=True)


@BACKENDS
def test_meminfo_writer_writes_only_beyond_its_threshold(backend: str) -> None:
    """Changes up to 30000 KiB are not written; a larger one is, on the next 0.1 s poll."""
    hv, (b,) = vm(backend)
    create_xs_entries(hv.xenstore.connect(0), b.guest.domain.domid)
    b.guest.step_workload(50 * MIB)
    writer = attach_agent(b.guest, "meminfo-writer")
    assert isinstance(writer, MeminfoWriter)
    assert writer.writes == 1  # the first sample, at start
    b.guest.step_workload(50 * MIB + 7000)  # +28000 KiB: under the threshold
    hv.sim.advance(1.0)
    assert writer.writes == 1
    b.guest.step_workload(50 * MIB + 7600)  # +30400 KiB from the value written
    hv.sim.advance(0.05)
    assert writer.writes == 1  # not polled yet
    hv.sim.advance(0.05)
    assert writer.writes == 2
    assert writer.prev_used_kb == (50 * MIB + 7600) * 4


@BACKENDS
def test_meminfo_writer_rising_rule_near_the_allocation(backend: str) -> None:
    """Rising by more than half the threshold is written once used x 1.3 exceeds MemTotal."""
    hv, (b,) = vm(backend, 256)
    create_xs_entries(hv.xenstore.connect(0), b.guest.domain.domid)
    b.guest.step_workload(200 * MIB)  # 200 x 1.3 > 256 MiB
    writer = attach_agent(b.guest, "qmemman")
    hv.sim.advance(0.1)
    b.guest.step_workload(200 * MIB + 5000)  # +20000 KiB: above 15000, below 30000
    hv.sim.advance(0.1)
    assert writer.writes == 2
    b.guest.step_workload(200 * MIB)  # falling by 20000 KiB: not written
    hv.sim.advance(0.1)
    assert writer.writes == 2


@BACKENDS
def test_meminfo_writer_exits_when_libxl_refuses_the_write(
        backend: str, caplog: pytest.LogCaptureFixture) -> None:
    """Under plain libxl memory/ is read-only to the guest: it logs and exits."""
    hv, (b,) = vm(backend)
    with caplog.at_level(logging.ERROR, logger="xenballoon"):
        writer = attach_agent(b.guest, "qmemman")
        hv.sim.advance(0.5)
    assert "error writing meminfo to xenstore ?" in caplog.text
    assert writer.guest is None and writer.writes == 0
    assert f"{b.guest.domain.home}/memory/meminfo" not in hv.xenstore


@BACKENDS
def test_thousand_meminfo_writers_share_one_timer(backend: str) -> None:
    """Idle guests poll on one shared timer and write once, then never again."""
    hv = xb.Hypervisor(xb.Simulation(), 1100 * 512, backend=backend)
    xs = hv.xenstore.connect(0)
    writers = []
    for _ in range(1000):
        guest = xb.Guest(hv.create_domain(512))
        create_xs_entries(xs, guest.domain.domid)
        guest.step_workload(100)
        writers.append(attach_agent(guest, "qmemman"))
    pending = hv.sim.pending
    assert pending <= 2  # one ticker (plus none per agent)
    hv.sim.advance(10.0)
    assert sum(w.writes for w in writers) == 1000
    assert writers[0]._ticker is AgentTicker.of(writers[0].guest, 0.1)


@BACKENDS
def test_xe_daemon_reports_meminfo_every_120_s_and_updated_every_loop(backend: str) -> None:
    """data/meminfo_total = MemTotal, data/meminfo_free = MemAvailable (KiB), every second
    60 s loop, cached; data/updated every loop; feature-balloon under xenopsd."""
    hv, (b,) = vm(backend)
    xenopsd_guest_nodes(hv.xenstore.connect(0), b.guest.domain)
    home = b.guest.domain.home
    agent = attach_agent(b.guest, "xapi")
    assert isinstance(agent, XeDaemon)
    assert hv.xenstore.read(f"{home}/control/feature-balloon") == "1"
    info = b.guest.meminfo()  # the first loop runs at start
    assert hv.xenstore.read(f"{home}/data/meminfo_total") == str(info["MemTotal"])
    assert hv.xenstore.read(f"{home}/data/meminfo_free") == str(info["MemAvailable"])
    assert hv.xenstore.read(f"{home}/data/updated") == "Thu Jan  1 00:00:00 1970"
    b.guest.step_workload(64 * MIB)
    hv.sim.advance(60.0)  # second loop: no memory collection
    assert hv.xenstore.read(f"{home}/data/meminfo_free") == str(info["MemAvailable"])
    assert hv.xenstore.read(f"{home}/data/updated") == "Thu Jan  1 00:01:00 1970"
    hv.sim.advance(60.0)
    assert hv.xenstore.read(f"{home}/data/meminfo_free") == \
        str(b.guest.meminfo()["MemAvailable"])
    writes = agent.writes
    hv.sim.advance(120.0)  # nothing changed: only data/updated, twice
    assert agent.writes == writes + 2


@BACKENDS
def test_xe_daemon_feature_balloon_refused_under_libxl(
        backend: str, caplog: pytest.LogCaptureFixture) -> None:
    """libxl's ~/control is read-only to the guest: EACCES is logged, data/ still written."""
    hv, (b,) = vm(backend)
    with caplog.at_level(logging.WARNING, logger="xenballoon"):
        attach_agent(b.guest, "xapi")
    assert "EACCES" in caplog.text
    assert f"{b.guest.domain.home}/control/feature-balloon" not in hv.xenstore
    assert hv.xenstore.read(f"{b.guest.domain.home}/data/meminfo_total") == \
        str(256 * MIB * 4)


@BACKENDS
def test_xen_guest_agent_writes_total_once_and_free_every_60_s(backend: str) -> None:
    """The Rust agent: meminfo_total once, meminfo_free at start and each minute, no
    data/updated."""
    hv, (b,) = vm(backend)
    xenopsd_guest_nodes(hv.xenstore.connect(0), b.guest.domain)
    home = b.guest.domain.home
    agent = attach_agent(b.guest, "xen-guest-agent")
    assert isinstance(agent, XenGuestAgent)
    assert hv.xenstore.read(f"{home}/data/meminfo_total") == str(256 * MIB * 4)
    assert hv.xenstore.read(f"{home}/control/feature-balloon") == "1"
    b.guest.step_workload(64 * MIB)
    hv.sim.advance(60.0)
    assert hv.xenstore.read(f"{home}/data/meminfo_free") == \
        str(b.guest.meminfo()["MemAvailable"])
    assert f"{home}/data/updated" not in hv.xenstore
    assert agent.writes == 4


def test_no_agent_and_unknown_agent() -> None:
    """"none" writes nothing; an unknown name is refused with the choices."""
    hv, (b,) = vm("c")
    assert isinstance(attach_agent(b.guest, "none"), NoAgent)
    hv.sim.advance(1.0)
    assert f"{b.guest.domain.home}/memory/meminfo" not in hv.xenstore
    with pytest.raises(ValueError, match="unknown agent 'qubes'"):
        attach_agent(b.guest, "qubes")
    with pytest.raises(ValueError, match="threshold_kb"):
        attach_agent(b.guest, "qmemman", threshold_kb=-1)


def test_agent_stops_when_its_domain_is_destroyed() -> None:
    """Destroying the domain ends the agent and its timer."""
    hv, (b,) = vm("c")
    create_xs_entries(hv.xenstore.connect(0), b.guest.domain.domid)
    writer = attach_agent(b.guest, "qmemman")
    hv.destroy_domain(b.guest.domain)
    assert writer.guest is None
    hv.sim.advance(1.0)
    assert hv.sim.pending == 0
