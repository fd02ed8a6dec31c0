"""What libxl refuses (libxl_mem.c): a target above static-max, a maximum below the target."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import xenballoon as xb
from xenballoon import toolstack as ts

Machine = Callable[..., xb.Hypervisor]


def test_mem_set_above_static_max_is_refused(machine: Machine) -> None:
    """xl mem-set above static-max raises ValueError; memory/target is unchanged."""
    hv = machine(10000)
    dom = hv.create_domain(1024, maxmem=2048, name="vm1")
    ts.mem_set(hv, "vm1", 2048 * 4)                      # up to static-max is fine
    with pytest.raises(ValueError, match="above static-max"):
        ts.mem_set(hv, "vm1", 2048 * 4 + 1)
    assert dom.target_kb == 2048 * 4


def test_mem_max_below_target_is_refused(machine: Machine) -> None:
    """xl mem-max below the current target raises ValueError; max_pages is unchanged."""
    hv = machine(10000)
    dom = hv.create_domain(1024, maxmem=2048, name="vm1")
    ts.mem_max(hv, "vm1", "4M")                           # == the target: fine
    assert dom.max_pages == 1024
    with pytest.raises(ValueError, match="below the memory target"):
        ts.mem_max(hv, "vm1", "3M")
    assert dom.max_pages == 1024


def test_raw_hypervisor_calls_keep_no_checks(machine: Machine) -> None:
    """Hypervisor.mem_set / mem_max stay the raw operations (API.md, second part)."""
    hv = machine(10000)
    dom = hv.create_domain(1024, name="vm1")
    hv.mem_set(dom.domid, 8192 * 4)
    hv.mem_max(dom.domid, 4)
    assert (dom.target_kb, dom.max_pages) == (8192 * 4, 1)
