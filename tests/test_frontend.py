"""The memory/target watch of xen-balloon.c and the driver's log messages."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

import xenballoon as xb

Boot = Callable[..., xb.Balloon]


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "xenballoon" and r.levelno == logging.WARNING]


def test_watch_fires_at_registration_with_the_nodes_value(machine: Callable[..., xb.Hypervisor],
                                                          ) -> None:
    """A target written before balloon_init is applied when the watch is registered."""
    hv = machine(10000)
    dom = hv.create_domain(2048)
    hv.xenstore.write(f"{dom.home}/memory/target", "4100")
    b = xb.Balloon(xb.Guest(dom))
    assert b.stats.target_pages == 1025 and b.work_pending


@pytest.mark.parametrize("kib, pages", [("4096", 1024), ("4099", 1024), ("3", 0),
                                        (" 8192\n", 2048), ("0", 0), ("\t\v\f\r 40\r\n", 10),
                                        ("00040", 10)])
def test_watch_converts_kib_to_pages_rounding_down(boot: Boot, kib: str, pages: int) -> None:
    """memory/target is KiB; the watch sets kib >> 2 pages."""
    b = boot(4096)
    hv = b.guest.domain.hypervisor
    hv.xenstore.write(f"{b.guest.domain.home}/memory/target", kib)
    assert b.stats.target_pages == pages


def test_watch_fires_on_every_write(boot: Boot) -> None:
    """Each write of memory/target sets a new target, even the same value twice."""
    b = boot(4096)
    hv, domid = b.guest.domain.hypervisor, b.guest.domain.domid
    targets = []
    for kib in (8192, 4096, 4096, 12000):
        hv.mem_set(domid, kib)
        targets.append(b.stats.target_pages)
    assert targets == [2048, 1024, 1024, 3000]


@pytest.mark.parametrize("text", ["", "abc", "-4", "+4", "12abc", "0x10", "1e3", "4.0", "1_024",
                                  str(1 << 60), "\x1c4096", "4096\x1f", "\x854096",
                                  "\u20034096", "4096\x00", "\uff14096",
                                  pytest.param("9" * 4000, id="4000-digits")])
def test_garbage_target_is_ignored_with_a_warning(boot: Boot, text: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """An unparsable or absurd memory/target logs a warning and keeps the target."""
    b = boot(4096)
    b.set_target(3000)
    hv = b.guest.domain.hypervisor
    with caplog.at_level(logging.WARNING, logger="xenballoon"):
        hv.xenstore.write(f"{b.guest.domain.home}/memory/target", text)
    assert b.stats.target_pages == 3000
    [message] = warnings(caplog)
    assert message.startswith("xen:balloon: ") and "memory/target" in message


def test_removed_target_is_ignored_with_a_warning(boot: Boot,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """Removing memory/target fires the watch; the missing node is logged, target kept."""
    b = boot(4096)
    hv = b.guest.domain.hypervisor
    with caplog.at_level(logging.WARNING, logger="xenballoon"):
        hv.xenstore.rm(f"{b.guest.domain.home}/memory")
    assert b.stats.target_pages == 4096
    assert warnings(caplog) == [
        f"xen:balloon: {b.guest.domain.home}/memory/target is missing; target unchanged"]


def test_watch_reads_with_the_guests_permissions(boot: Boot,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """If dom0 hides memory/target from the guest, the watch cannot read it and warns."""
    b = boot(4096)
    hv = b.guest.domain.hypervisor
    path = f"{b.guest.domain.home}/memory/target"
    with caplog.at_level(logging.WARNING, logger="xenballoon"):
        hv.xenstore.set_perms(path, ["n0"])
        hv.xenstore.write(path, "1024")
    assert b.stats.target_pages == 4096
    assert len(warnings(caplog)) == 1 and "not readable" in warnings(caplog)[0]


def test_watch_stops_when_the_domain_is_destroyed(boot: Boot) -> None:
    """destroy_domain removes the watch before the home goes, so nothing is logged."""
    b = boot(4096)
    hv = b.guest.domain.hypervisor
    before = len(hv.xenstore._watches)
    hv.destroy_domain(b.guest.domain)
    assert len(hv.xenstore._watches) == before - 1


def test_balloon_init_logs_with_the_kernel_prefix(machine: Callable[..., xb.Hypervisor],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """balloon_init's pr_info reads 'xen:balloon: Initialising balloon driver'."""
    hv = machine(10000)
    with caplog.at_level(logging.INFO, logger="xenballoon"):
        xb.Balloon(xb.Guest(hv.create_domain(100)))
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
        "xen:balloon: Initialising balloon driver"]
    assert all(r.name == "xenballoon" for r in caplog.records)


def test_pr_helpers_add_the_prefix(caplog: pytest.LogCaptureFixture) -> None:
    """pr_debug/info/warn/err log at their levels with the xen:balloon: prefix."""
    from xenballoon import _log

    with caplog.at_level(logging.DEBUG, logger="xenballoon"):
        _log.pr_debug("d %d", 1)
        _log.pr_info("i")
        _log.pr_warn("w")
        _log.pr_err("e %s", "x")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("DEBUG", "xen:balloon: d 1"), ("INFO", "xen:balloon: i"),
        ("WARNING", "xen:balloon: w"), ("ERROR", "xen:balloon: e x")]


def test_library_prints_nothing(boot: Boot, capsys: pytest.CaptureFixture[str]) -> None:
    """Booting, steering and garbage in xenstore print nothing to stdout or stderr."""
    b = boot(4096)
    hv = b.guest.domain.hypervisor
    hv.xenstore.write(f"{b.guest.domain.home}/memory/target", "garbage")
    b.sysfs.write("target", "8M")
    b.guest.sim.run()
    assert capsys.readouterr() == ("", "")


def test_logger_has_a_null_handler() -> None:
    """The xenballoon logger never falls back to printing on stderr (logging.lastResort)."""
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("xenballoon").handlers)
