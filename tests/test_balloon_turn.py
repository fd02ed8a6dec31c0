"""balloon_turn: one turn of the worker's loop as one core call, on both cores."""

from __future__ import annotations

import numpy as np
import pytest

from xenballoon.core import _c as cc
from xenballoon.core import _py as pc


def booted(core, memory=64, total=128, reserve=4, batch=8):
    h = core.host_new(total, True)
    d = core.domain_new(h, 1, memory, memory)
    g = core.guest_new(d, memory, pc.MAX_GFNS, reserve, batch, True)
    g.stats.current_pages = g.stats.target_pages = g.totalram_pages
    g.stats.total_pages = g.nr_pfns
    return h, d, g


CORES = [pytest.param(pc, id="python"), pytest.param(cc, id="c")]


@pytest.mark.parametrize("core", CORES)
def test_no_credit_changes_nothing(core) -> None:
    """Credit 0: NO_CREDIT and nothing moves."""
    h, d, g = booted(core)
    assert core.balloon_turn(g) == pc.NO_CREDIT
    assert g.stats.current_pages == 64 and h.free_pages == 64


@pytest.mark.parametrize("core", CORES)
def test_inflate_one_frame_list_per_turn(core) -> None:
    """Credit < 0: one frame_list (batch pages) goes back to Xen per turn."""
    h, d, g = booted(core)
    g.stats.target_pages = 40
    assert core.balloon_turn(g) == pc.BP_DONE
    assert g.stats.current_pages == 56 and g.stats.balloon_low == 8 and h.free_pages == 72


@pytest.mark.parametrize("core", CORES)
def test_inflate_capped_by_mem_available_below_reserve_is_eagain(core) -> None:
    """n_pages = min(-credit, si_mem_available()); below -credit and the reserve: EAGAIN."""
    h, d, g = booted(core, reserve=10)
    assert core.workload_alloc(g, 64 - 10 - 3) is not None  # 3 pages above the reserve
    g.stats.target_pages = 0
    assert core.balloon_turn(g) == pc.BP_EAGAIN
    assert g.stats.current_pages == 61


@pytest.mark.parametrize("core", CORES)
def test_deflate_and_need_reserve(core) -> None:
    """Credit > 0: increase from the balloon; once it is empty, NEED_RESERVE (nothing done)."""
    h, d, g = booted(core)
    g.stats.target_pages = 56
    assert core.balloon_turn(g) == pc.BP_DONE
    g.stats.target_pages = 100
    assert core.balloon_turn(g) == pc.BP_DONE
    assert g.stats.current_pages == 64 and g.stats.balloon_low == 0
    assert core.balloon_turn(g) == pc.NEED_RESERVE
    assert g.stats.current_pages == 64 and h.free_pages == 64


@pytest.mark.parametrize("core", CORES)
def test_deflate_with_a_full_host_is_eagain(core) -> None:
    """A populate hypercall that does nothing makes the turn EAGAIN."""
    h, d, g = booted(core, total=64)
    g.stats.target_pages = 60
    assert core.balloon_turn(g) == pc.BP_DONE
    assert core.domain_new(h, 2, 4, 4) is not None  # the freed frames are taken
    g.stats.target_pages = 64
    assert core.balloon_turn(g) == pc.BP_EAGAIN
    assert g.stats.current_pages == 60


@pytest.mark.parametrize("core", CORES)
def test_bug_when_a_free_page_has_no_frame(core) -> None:
    """A free page Xen cannot take back is BUG, with nothing changed."""
    h, d, g = booted(core)
    assert core.xenmem_decrease_reservation(d, np.array([0], dtype=np.uint64)) == 1
    g.stats.target_pages = 60
    assert core.balloon_turn(g) == pc.BUG
    assert g.stats.current_pages == 64 and g.nr_free[0] == 64
