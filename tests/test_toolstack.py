"""The xl-like toolstack helpers: sizes, mem-set/mem-max by name, and xl list."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rich.console import Console

import xenballoon as xb
from xenballoon import toolstack as ts

Machine = Callable[..., xb.Hypervisor]
K, M, G, T = 1 << 10, 1 << 20, 1 << 30, 1 << 40


@pytest.mark.parametrize("text, nbytes", [
    ("4096", 4096), ("0", 0), ("4GiB", 4 * G), ("4G", 4 * G), ("4gb", 4 * G), ("512M", 512 * M),
    ("512mib", 512 * M), ("1024k", M), ("1024KB", M), ("7B", 7), ("2T", 2 * T), ("1TiB", T),
    (" 4 GiB ", 4 * G), ("0010M", 10 * M)])
def test_parse_size_reads_units_as_powers_of_1024(text: str, nbytes: int) -> None:
    """Sizes take B/K/M/G/T (KiB/KB alike, any case); a bare number is bytes."""
    assert ts.parse_size(text) == nbytes


@pytest.mark.parametrize("text", ["", " ", "G", "4X", "4 G B", "-4G", "+4G", "1.5G", "1e3",
                                  "0x10", "1_000", "4GiBs", "4 Gi", "\uff14G", "4\nG",
                                  str(1 << 64), "16777216T"])
def test_parse_size_refuses_garbage(text: str) -> None:
    """Anything but a whole number and a known unit is a ValueError naming the text."""
    with pytest.raises(ValueError, match="size"):
        ts.parse_size(text)


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


def test_mem_max_by_name(machine: Machine) -> None:
    """toolstack.mem_max sets max_pages from an xl-style size."""
    hv = machine(10000)
    dom = hv.create_domain(100, name="vm1")
    ts.mem_max(hv, "vm1", "1M")
    assert dom.max_pages == 256


@pytest.mark.parametrize("domain, size", [("nope", "1M"), ("vm1", "1.5M"), ("vm1", "-1"),
                                          (7, "1M"), ("vm1", -1), ("dup", "1M"),
                                          ("vm1", 1.5)])
def test_mem_set_refuses_bad_domains_and_sizes(machine: Machine, domain: object,
                                               size: object) -> None:
    """Unknown or ambiguous domains and bad sizes raise; nothing is written."""
    hv = machine(10000)
    dom = hv.create_domain(100, name="vm1")
    hv.create_domain(10, name="dup")
    hv.create_domain(10, name="dup")
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


def test_domain_list_target_none_when_unparsable(machine: Machine) -> None:
    """A garbage memory/target shows as None (xl would show nothing useful either)."""
    hv = machine(1000)
    dom = hv.create_domain(512)
    hv.xenstore.write(f"{dom.home}/memory/target", "junk")
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
