"""The constants shared with ``csrc/xb_api.h`` (there as ``XB_<name>``).

Both cores return these codes and set these page flags; the compiled core checks at
import that the header agrees with every value here.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BP_DONE", "BP_EAGAIN", "BP_ECANCELED", "BP_WAIT", "ANON_END", "BUG", "EINVAL", "ENOMEM",
    "GFP_HIGHUSER", "GFP_USER", "MAX_GFNS", "NEED_RESERVE", "NIL", "NO_CREDIT", "PG_BALLOON",
    "PG_CACHE", "PG_FREE", "PG_HANDED", "PG_HIGHMEM", "PG_MARK", "PG_OFFLINE", "PG_STATE",
    "PG_WORKLOAD", "VMSTAT_DTYPE", "VMSTAT_MEM",
]

# The end of a list / an unpopulated gfn: pfns, mfns and list links are 32-bit.
NIL = 0xFFFFFFFF
MAX_GFNS = 1 << 28

# enum bp_state, as balloon_turn and the reservation calls answer it.
BP_DONE, BP_WAIT, BP_EAGAIN, BP_ECANCELED = 0, 1, 2, 3
# balloon_turn's answers besides a state: credit is 0; credit > 0 but the balloon is empty.
NO_CREDIT, NEED_RESERVE = 4, 5
BUG, ENOMEM, EINVAL = -1, -12, -22

# Page flags (one byte per pfn): one state bit at a time, plus highmem and a scratch mark.
PG_FREE, PG_WORKLOAD, PG_BALLOON, PG_HANDED, PG_HIGHMEM, PG_OFFLINE, PG_MARK = \
    1, 2, 4, 8, 16, 32, 128
PG_CACHE = 64  # page cache: clean file data, reclaimable
PG_STATE = PG_FREE | PG_WORKLOAD | PG_BALLOON | PG_HANDED | PG_OFFLINE | PG_CACHE
# The end of the workload model's anon list (a user's workload pages have no link: NIL).
ANON_END = 0xFFFFFFFE

GFP_USER, GFP_HIGHUSER = 0, 1

# struct xb_vmstat, field for field (all 8 bytes: no padding), and the columns
# read_vmstats adds per guest.
VMSTAT_DTYPE = np.dtype(
    [(name, np.uint64) for name in (
        "nr_anon", "anon_demand", "killed", "file_ws", "kill_unit", "swap_pages", "swap_used",
        "pswpout", "pswpin", "refaults", "pgsteal", "balloon_reclaimed", "oom_kills",
        "oom_killed_pages", "steps")]
    + [("unmet_page_seconds", np.float64), ("pressure_seconds", np.float64)])
VMSTAT_MEM = ("totalram_pages", "free_pages", "file_pages", "mem_available")
