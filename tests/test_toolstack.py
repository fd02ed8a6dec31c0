"""The xl-like toolstack helpers: sizes, mem-set/mem-max by name, and xl list."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from rich.console import Console

import xenballoon as xb
from xenballoon import toolstack as ts

Machine = Callable[..., xb.Hypervisor]
K, M, G, T = 1 << 10, 1 << 20, 1 << 30, 1 << 40


@pytest.mark.parametrize("text, nbytes", [
    ("4096", 4096 * K), ("4096b", 4096), ("0", 0), ("4GiB", 4 * G), ("4G", 4 * G),
    ("4gb", 4 * G), ("512M", 512 * M),
    ("512mib", 512 * M), ("1024k", M), ("1024KB", M), ("7B", 7), ("2T", 2 * T), ("1TiB", T),
    (" 4 GiB ", 4 * G), ("0010M", 10 * M), ("0" * 5000 + "1", K)])
def test_parse_size_reads_units_as_powers_of_1024(text: str, nbytes: int) -> None:
    """Sizes take B/K/M/G/T (KiB/KB alike, any case); a bare number is KiB, as for xl."""
    assert ts.parse_size(text) == nbytes


@pytest.mark.parametrize("text", ["", " ", "G", "4X", "4 G B", "-4G", "+4G", "1.5G", "1e3",
                                  "0x10", "1_000", "4GiBs", "4 Gi", "\uff14G", "4\nG",
                                  str(1 << 64) + "b", "16777216T", "9" * 5000, "1" * 5000 + "G"])
def test_parse_size_refuses_garbage(text: str) -> None:
    """Anything but a whole number and a known unit is a "bad size" ValueError naming the
    text (a 5,000-digit number too, not Python's own int-conversion error)."""
    with pytest.raises(ValueError, match="^bad size") as info:
        ts.parse_size(text)
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("value", [4096, None, b"4G", 4.0])
def test_parse_size_takes_only_str(value: object) -> None:
    """A non-str size is a TypeError."""
    with pytest.raises(TypeError):
        ts.parse_size(value)  # type: ignore[arg-type]


def test_parse_size_default_unit() -> None:
    """default_unit says what a bare number means; units given in the text win."""
    assert ts.parse_size("4", default_unit="M") == 4 * M
    assert ts.parse_size("4K", default_unit="M") == 4 * K
    with pytest.raises(ValueError):
        ts.parse_size("4", default_unit="furlong")


def test_conversions_round_down() -> None:
    """size_to_kb and size_to_pages round down, as the kernel's shifts do."""
    assert (ts.size_to_kb(2047), ts.size_to_kb(2048)) == (1, 2)
    assert (ts.size_to_pages(8191), ts.size_to_pages(8192)) == (1, 2)


@pytest.mark.parametrize("text, kib", [("262144", 262144), ("256m", 262144), ("256M", 262144),
                                       ("1g", 1048576), ("2047b", 1), ("100k", 100)])
def test_parse_kb_reads_sizes_as_xl_mem_set_does(text: str, kib: int) -> None:
    """parse_kb: a bare number is KiB, suffixes b/k/m/g/t; bytes round down to KiB."""
    assert ts.parse_kb(text) == kib


def test_mem_set_by_name_with_a_size_string(machine: Machine) -> None:
    """toolstack.mem_set(hv, 'vm1', '8m') is `xl mem-set vm1 8m`."""
    hv = machine(10000)
    dom = hv.create_domain(4096, name="vm1")
    b = xb.Balloon(xb.Guest(dom))
    ts.mem_set(hv, "vm1", "8m")
    assert dom.target_kb == 8192 and b.stats.target_pages == 2048
    ts.mem_set(hv, dom.domid, 4096)
    assert dom.target_kb == 4096
    ts.mem_set(hv, "1", "12288")
    assert dom.target_kb == 12288
    ts.mem_set(hv, "vm1", "16384b")
    assert dom.target_kb == 16


def test_mem_max_by_name(machine: Machine) -> None:
    """toolstack.mem_max sets max_pages from an xl-style size."""
    hv = machine(10000)
    dom = hv.create_domain(100, name="vm1")
    ts.mem_max(hv, "vm1", "1M")
    assert dom.max_pages == 256


@pytest.mark.parametrize("domain, size", [("nope", "1M"), ("vm1", "1.5M"), ("vm1", "-1"),
                                          (7, "1M"), ("vm1", -1), ("vm1", 1.5),
                                          ("vm1", True), ("vm1", None)])
def test_mem_set_refuses_bad_domains_and_sizes(machine: Machine, domain: object,
                                               size: object) -> None:
    """Unknown domains and bad sizes raise; nothing is written."""
    hv = machine(10000)
    dom = hv.create_domain(100, name="vm1")
    for call in (ts.mem_set, ts.mem_max):
        with pytest.raises((ValueError, TypeError)):
            call(hv, domain, size)  # type: ignore[arg-type]
    assert dom.target_kb == 400 and dom.max_pages == 100


def test_domain_list_is_xl_list_as_data(machine: Machine) -> None:
    """domain_list gives id, name, memory, max and target in MiB, and the balloon's state."""
    hv = machine(262144)
    vm1 = hv.create_domain(131072, maxmem=196608, name="vm1")
    hv.create_domain(1000, name="bare")
    b = xb.Balloon(xb.Guest(vm1))
    ts.mem_set(hv, "vm1", "256M")
    hv.sim.run()
    assert b.state is xb.BPState.DONE
    assert ts.domain_list(hv) == [
        ts.DomainInfo(1, "vm1", 256, 768, 256, "DONE"),
        ts.DomainInfo(2, "bare", 3, 3, 3, None)]


def test_xl_list_shows_pending_work(machine: Machine) -> None:
    """A target not yet acted on, or a retry after EAGAIN, shows as pending, not plain DONE."""
    hv = machine(2048)
    vm1 = hv.create_domain(1024, name="vm1")
    b = xb.Balloon(xb.Guest(vm1))
    hv.sim.run()
    ts.mem_set(hv, "vm1", "2m")
    [info] = ts.domain_list(hv)
    assert (info.balloon, info.pending, info.balloon_status) == ("DONE", True, "DONE, pending")
    console = Console(width=80, record=True, force_terminal=False)
    console.print(ts.domain_table(hv))
    assert "DONE, pending" in console.export_text()
    hv.sim.run()
    [info] = ts.domain_list(hv)
    assert (info.balloon_status, info.target_mib) == ("DONE", 2)
    hv.add_tenant()                                      # the deflate will back off
    ts.mem_set(hv, "vm1", "4m")
    hv.sim.run(until=hv.sim.now + 1)
    assert b.state is xb.BPState.EAGAIN
    assert ts.domain_list(hv)[0].balloon_status == "EAGAIN, pending"


def test_mem_set_above_static_max_is_refused_as_libxl_does(machine: Machine) -> None:
    """libxl_set_memory_target: target - videoram > static-max is EINVAL; nothing written."""
    hv = machine(10000)
    dom = hv.create_domain(1024, maxmem=2048, name="vm1", videoram=256)
    ts.mem_set(hv, "vm1", "8m")                          # == static-max: fine
    assert dom.target_kb == 8192 - 1024                  # libxl writes target - videoram
    ts.mem_set(hv, "vm1", 8192 + 1024)                   # + videoram: still == static-max
    assert dom.target_kb == 8192
    with pytest.raises(ValueError, match="memory_dynamic_max must be less than or equal"):
        ts.mem_set(hv, "vm1", 8192 + 1024 + 1)
    assert dom.target_kb == 8192
    hv.mem_set(dom.domid, 1 << 20)                       # the raw operation: no check
    assert dom.target_kb == 1 << 20


def test_mem_max_below_the_target_is_refused_as_libxl_does(machine: Machine) -> None:
    """libxl_domain_setmaxmem: a maximum below memory/target is refused; nothing changes."""
    hv = machine(10000)
    dom = hv.create_domain(1024, maxmem=2048, name="vm1")
    ts.mem_max(hv, "vm1", "4m")                          # == the target: fine
    assert dom.max_pages == 1024
    with pytest.raises(ValueError, match="memory_static_max must be greater than or equal"):
        ts.mem_max(hv, "vm1", 4095)
    assert dom.max_pages == 1024 and hv.xenstore.read(f"{dom.home}/memory/static-max") == "4096"
    hv.mem_max(dom.domid, 4)                             # the raw operation: no check
    assert dom.max_pages == 1


def test_create_domain_refuses_a_name_in_use_at_once(machine: Machine) -> None:
    """A second domain with a name in use is InvalidArgument; no frame, domid or node used."""
    hv = machine(10000)
    vm1 = hv.create_domain(100, name="vm1")
    free, nodes = hv.free_pages, hv.xenstore.ls("/local/domain")
    with pytest.raises(xb.InvalidArgument, match="'vm1' is in use"):
        hv.create_domain(10, name="vm1")
    assert (hv.free_pages, hv.xenstore.ls("/local/domain"), list(hv.domains)) == (
        free, nodes, [1])
    assert hv.create_domain(10, name="vm2").domid == 2
    hv.destroy_domain(vm1)
    assert hv.create_domain(10, name="vm1").domid == 3  # free again once destroyed
    assert hv.add_tenant(5).name == "tenant" and hv.add_tenant(5).name == "tenant-5"


def test_a_target_below_the_reserve_is_accepted_with_a_warning(
        machine: Machine, caplog: pytest.LogCaptureFixture) -> None:
    """xl accepts any target up to static-max; one below the guest's reserve is said."""
    hv = machine(10000)
    b = xb.Balloon(xb.Guest(hv.create_domain(4096, name="vm1"), reserve_pages=64))
    with caplog.at_level(logging.WARNING, logger="xenballoon"):
        ts.mem_set(hv, "vm1", "256")                     # KiB: 64 pages, the reserve
        assert not caplog.records
        ts.mem_set(hv, "vm1", 252)                       # 63 pages
    [record] = caplog.records
    assert "below what the guest can ever reach" in record.getMessage()
    assert "reserve of 64 pages" in record.getMessage()
    assert b.stats.target_pages == 63
    hv.sim.run()
    assert b.stats.current_pages == 64                   # stops at the reserve


def test_bare_numbers_mean_kib_in_the_cli_and_the_toolstack(machine: Machine) -> None:
    """`steer --target 262144` and toolstack.mem_set(hv, 'vm1', 262144) agree: KiB."""
    hv = machine(262144)
    dom = hv.create_domain(131072, name="vm1")
    ts.mem_set(hv, "vm1", 262144)
    ts_kb = dom.target_kb
    ts.mem_set(hv, "vm1", "262144")
    assert ts_kb == dom.target_kb == 262144 == ts.parse_size("262144") // 1024


def test_domain_list_target_none_when_unparsable(machine: Machine) -> None:
    """A garbage memory/target shows as None (xl would show nothing useful either)."""
    hv = machine(1000)
    dom = hv.create_domain(512)
    hv.xenstore.write(f"{dom.home}/memory/target", "junk")
    assert ts.domain_list(hv)[0].target_mib is None
    for junk in ("²", "", "1.5"):  # int() refuses each (the first is a digit to isdigit)
        hv.xenstore.write(f"{dom.home}/memory/target", junk)
        assert ts.domain_list(hv)[0].target_mib is None
    hv.xenstore.rm(f"{dom.home}/memory/target")
    assert ts.domain_list(hv)[0].target_mib is None


def test_domain_table_prints_like_xl_list(machine: Machine) -> None:
    """domain_table renders one row per domain with the MiB columns."""
    hv = machine(262144)
    xb.Balloon(xb.Guest(hv.create_domain(131072, name="vm1")))
    console = Console(width=80, record=True, force_terminal=False)
    console.print(ts.domain_table(hv))
    text = console.export_text()
    for word in ("Name", "ID", "Mem", "Max", "Target", "Balloon", "vm1", "512", "DONE"):
        assert word in text
    assert ts.domain_table(ts.domain_list(hv)).row_count == 1
