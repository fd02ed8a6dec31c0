"""Domain.physmap() and Guest.page_flags() are read-only snapshots that never dangle.

The core's arrays move when a physmap or a guest grows (an increase_reservation past the
physmap's end, memory hotplug); what the public API hands out is a copy taken at the call,
which nobody can write the core's state through.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import xenballoon as xb

NIL = 0xFFFFFFFF
Machine = Callable[..., xb.Hypervisor]


def test_snapshots_are_read_only(machine: Machine) -> None:
    """Writing through physmap() or page_flags() raises and the core is untouched."""
    hv = machine(4096)
    guest = xb.Guest(hv.create_domain(1024))
    p2m, flags = guest.domain.physmap(), guest.page_flags()
    for array, value in ((p2m, 0), (flags, xb.PG_BALLOON)):
        with pytest.raises(ValueError, match="read-only"):
            array[3] = value
        array.flags.writeable = True         # a copy: writing it changes only the copy
        array[3] = value
    assert guest.page_flags()[3] == xb.PG_FREE and guest.domain.physmap()[3] != 0
    hv.check(guests=True)


def test_a_snapshot_outlives_the_growth_of_the_physmap(machine: Machine) -> None:
    """A physmap taken before an increase_reservation far past its end (which moves the
    core's array) still reads what it read, and a new one shows the growth."""
    hv = machine(4096)
    dom = hv.create_domain(1024, maxmem=2048)
    before = dom.physmap()
    saved = before.copy()
    assert hv.increase_reservation(dom.domid, [3_000_000]) == 1   # grows the p2m 3000-fold
    hv.decrease_reservation(dom.domid, [3_000_000])
    assert (before == saved).all() and len(before) == 1024
    after = dom.physmap()
    assert len(after) == 3_000_001 and (after[:1024] == saved).all()
    assert (after[1024:] == NIL).all()


def test_page_flags_outlive_memory_hotplug(machine: Machine) -> None:
    """Guest arrays grow when a section is hotplugged; old snapshots stay as they were."""
    hv = machine(65536)
    b = xb.Balloon(xb.Guest(hv.create_domain(4096, maxmem=8192)), hotplug=True)
    flags = b.guest.page_flags()
    b.set_target(4096 + 100)
    hv.sim.run()
    assert len(flags) == 4096 and (flags == xb.PG_FREE).all()
    grown = b.guest.page_flags()
    assert len(grown) == xb.PAGES_PER_SECTION * 2
    assert np.count_nonzero(grown & xb.PG_FREE) == 4196


@pytest.mark.parametrize("start, stop, length", [(0, None, 1024), (10, 20, 10), (-4, None, 4),
                                                 (1000, 5000, 24), (2000, 3000, 0),
                                                 (20, 10, 0)])
def test_snapshots_of_a_range_follow_slice_rules(machine: Machine, start: int,
                                                 stop: int | None, length: int) -> None:
    """physmap(start, stop) and page_flags(start, stop) are the slice [start:stop]."""
    hv = machine(4096)
    guest = xb.Guest(hv.create_domain(1024))
    whole_p2m, whole_flags = guest.domain.physmap(), guest.page_flags()
    part_p2m, part_flags = guest.domain.physmap(start, stop), guest.page_flags(start, stop)
    assert len(part_p2m) == len(part_flags) == length
    assert (part_p2m == whole_p2m[start:stop]).all()
    assert (part_flags == whole_flags[start:stop]).all()
    assert not part_p2m.flags.writeable and not part_flags.flags.writeable
