"""Boot the canonical machine in a fresh process and report the core's bytes and RSS growth.

Run by test_state_bytes.py: ``python _rss_child.py BACKEND PAGES`` prints one JSON object.
A fresh process, so that the allocator's view (resident set growth) is not blurred by
memory an earlier case freed and the allocator kept.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time

import xenballoon as xb
from xenballoon import perf as bench


def memory() -> tuple[int, int | None]:
    """(resident, virtual) bytes now from /proc/self/statm; else (peak resident, None)."""
    try:
        with open("/proc/self/statm") as f:
            size, resident = (int(x) for x in f.read().split()[:2])
        page = os.sysconf("SC_PAGE_SIZE")
        return resident * page, size * page
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return (peak if sys.platform == "darwin" else peak * 1024), None


def main() -> None:
    backend, pages = sys.argv[1], int(sys.argv[2])
    xb.Hypervisor(xb.Simulation(), 16, backend=backend)  # the core and numpy, loaded
    gc.collect()
    rss0, vm0 = memory()
    t0 = time.perf_counter()
    machine = bench.boot(backend, pages)
    boot_s = time.perf_counter() - t0
    gc.collect()
    rss1, vm1 = memory()
    print(json.dumps({"backend": backend, "pages": pages, "guest_pages": machine.guest_pages,
                      "host_pages": machine.hv.total_pages, "boot_s": boot_s,
                      "rss_growth": rss1 - rss0,
                      "vm_growth": None if vm0 is None or vm1 is None else vm1 - vm0,
                      "state": bench.state_breakdown(machine)}))


if __name__ == "__main__":
    main()
