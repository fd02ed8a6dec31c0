"""A host of 1,000 and 10,000 domains: create (domain + Guest + Balloon), a round of targets.

Prints CPU time per domain of: the creation; one ``mem_set`` for every domain through
xenstore; the worker runs those writes cause.  ``python tools/many_host.py [N ...]``.
"""

from __future__ import annotations

import sys
import time

import xenballoon as xb


def host(n: int) -> tuple[float, float, float]:
    sim = xb.Simulation()
    hv = xb.Hypervisor(sim, total_pages=n * 1024 + 1024)
    t = time.process_time()
    for i in range(n):
        xb.Balloon(xb.Guest(hv.create_domain(1024, name=f"vm{i + 1}")))
    create = time.process_time() - t
    sim.run()
    t = time.process_time()
    for d in list(hv.domains.values()):
        hv.mem_set(d.domid, 2048)  # KiB: 512 pages
    writes = time.process_time() - t
    t = time.process_time()
    sim.run()
    runs = time.process_time() - t
    hv.check(guests=True)
    return create, writes, runs


def main(sizes: list[int]) -> None:
    for n in sizes:
        c, w, r = host(n)
        print(f"{n} domains: create+Guest+Balloon {c:.2f} s CPU ({c / n * 1e6:.0f} us each); "
              f"mem_set round {w:.3f} s ({w / n * 1e6:.1f} us each); "
              f"the worker runs {r:.3f} s ({r / n * 1e6:.1f} us each)")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 10000])
