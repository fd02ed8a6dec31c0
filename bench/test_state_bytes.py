"""Bytes of state per guest page and per host frame: the core's count against the allocator.

The core sums what it allocated (``Hypervisor.state_bytes``, ``Guest.state_bytes``, broken
down by ``xenballoon.perf.state_breakdown``).  The allocator's view is how much a fresh
process grew while it booted the canonical machine (a guest of 2,097,152 pages on a host of
4,194,304 frames): its address space (every allocation) and its resident set (what was
touched: the C core writes every array at boot; the reference leaves its zeroed arrays,
the data tags, untouched until used).  The time is the whole child process, interpreter
start included; the summary shows the boot alone, per guest page.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from pytest_benchmark.fixture import BenchmarkFixture

CHILD = Path(__file__).with_name("_rss_child.py")
MIB = 1 << 20


def test_state_bytes_match_the_allocator(benchmark: BenchmarkFixture, backend: str,
                                         small: bool, record: Callable[..., None]) -> None:
    """At most 32 bytes per guest page, and the process grew by what the core says it holds."""
    pages = 1 << 16 if small else 1 << 20

    def child() -> dict:
        out = subprocess.run([sys.executable, str(CHILD), backend, str(pages)], check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out)

    report = benchmark.pedantic(child, rounds=1)
    state, guest_pages, host_pages = report["state"], report["guest_pages"], report["host_pages"]
    total = state["total"]
    per_page = (state["guest"] + state["physmap"]) / guest_pages
    assert per_page <= 32 and state["host"] / host_pages == 8
    assert total == state["host"] + state["physmap"] + state["guest"]
    # Slack: the interpreter's own allocations, and up to 2 MiB of alignment per big array.
    slack = 0.05 * total + 16 * MIB
    rss, vm = report["rss_growth"], report["vm_growth"]
    assert rss <= total + slack, (rss, state)
    if backend == "c":  # everything written at boot, so everything resident
        assert rss >= total - slack, (rss, state)
    if vm is not None:
        assert abs(vm - total) <= slack, (vm, state)
    record("state bytes (boot)", backend, guest_pages, ns=report["boot_s"] * 1e9 / guest_pages,
           bytes_per_page=per_page, bytes_per_frame=state["host"] / host_pages,
           all_in_per_page=total / guest_pages, rss_per_page=rss / guest_pages,
           vm_per_page=None if vm is None else vm / guest_pages, core_bytes=total,
           boot_s=report["boot_s"],
           note=f"{per_page:.2f} B/guest page, {state['host'] / host_pages:.0f} B/host frame; "
                f"all-in {total / guest_pages:.2f}, RSS {rss / guest_pages:.2f}")
