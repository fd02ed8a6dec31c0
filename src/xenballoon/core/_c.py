"""The compiled core: ``core._py``'s functions over the cffi module ``xenballoon._core``.

Same names, signatures, return values and types as ``core._py`` (the oracle); the C in
``csrc/`` does the work, this module only converts.  Status codes are returned as they are;
only failures the reference core also raises on become exceptions (MemoryError when C runs
out of memory, IndexError for ``balloon_append`` beyond the guest, TypeError for an array
that is not 1-D C-contiguous uint64; cffi's OverflowError for a negative count or pfn, which
the reference core does not define either).

Objects are cffi pointers (``xb_host *``, ``xb_domain *``, ``xb_guest *``) whose fields read
and write like the attributes of the reference core's objects (``g.stats.current_pages``,
``g.nr_free[1]``, ``h.fault_increase_calls = 3``).  ``g.dom`` and ``d.host`` are plain
pointers to the same structs: they compare equal to the objects passed in, but do not own
them.

Lifetime: ``*_new`` return ``ffi.gc`` pointers freed by the C ``*_free`` itself.  The C
objects count their references (``refs``): a domain holds its host's memory and a guest its
domain's until they are freed, so the pointers may be dropped in any order (the collector
frees a cycle's objects in no particular one) and a guest's ``g.dom`` never dangles.  Nothing
per object on the Python side: no destructor closure, no registry to keep in sync.
Snapshots (``host_tags``, ``domain_p2m``, ``guest_flags``) are read-only copies of a range
of a C array, taken during the call: ``*_grow`` may move the arrays (realloc), so nothing
outside the core ever holds a pointer into them, and nobody can write the core's state
through a numpy array.  (Tests that corrupt state on purpose write the fields through the
cffi pointer, ``d.p2m[3] = ...``, which the reference core's objects accept alike.)  A child
may be made from a plain pointer too (``g.dom``): it takes its own reference on its parent.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._core import ffi, lib
from ..errors import InvalidArgument, InvalidType
from .abi import (
    ANON_END,
    BP_DONE,
    BP_EAGAIN,
    BP_ECANCELED,
    BP_WAIT,
    BUG,
    EINVAL,
    ENOMEM,
    GFP_HIGHUSER,
    GFP_USER,
    MAX_GFNS,
    NEED_RESERVE,
    NIL,
    NO_CREDIT,
    PG_BALLOON,
    PG_CACHE,
    PG_FREE,
    PG_HANDED,
    PG_HIGHMEM,
    PG_MARK,
    PG_OFFLINE,
    PG_STATE,
    PG_WORKLOAD,
    VMSTAT_DTYPE,
)

__all__ = [
    "ANON_END", "BP_DONE", "BP_EAGAIN", "BP_ECANCELED", "BP_WAIT", "BUG", "EINVAL", "ENOMEM",
    "GFP_HIGHUSER", "GFP_USER", "MAX_GFNS", "NEED_RESERVE", "NIL", "NO_CREDIT", "PG_BALLOON",
    "PG_CACHE", "PG_FREE", "PG_HANDED", "PG_HIGHMEM", "PG_MARK", "PG_OFFLINE", "PG_STATE",
    "PG_WORKLOAD", "add_memory", "alloc_xenballooned_pages", "balloon_add_region",
    "balloon_append", "balloon_retrieve", "balloon_turn", "balloon_turns", "ballooned_pfns",
    "count_flags",
    "decrease_reservation", "direct_reclaim", "domain_grow", "domain_new", "domain_p2m",
    "domain_release", "domain_state_bytes", "free_xenballooned_pages", "guest_array",
    "guest_check", "guest_flags", "guest_grow", "guest_new", "guest_set_batch",
    "guest_state_bytes", "host_check", "host_new", "host_state_bytes", "host_tags",
    "increase_reservation", "mem_available", "online_pages", "read_vmstats", "wmark_low",
    "workload_alloc", "workload_free", "workload_step", "workloads_step",
    "xenmem_decrease_reservation", "xenmem_populate_physmap",
]

# The header and abi.py must agree on every constant.
for _name, _value in (("NIL", NIL), ("MAX_GFNS", MAX_GFNS), ("BP_DONE", BP_DONE),
                      ("BP_WAIT", BP_WAIT), ("BP_EAGAIN", BP_EAGAIN),
                      ("BP_ECANCELED", BP_ECANCELED), ("BUG", BUG), ("ENOMEM", ENOMEM),
                      ("EINVAL", EINVAL), ("PG_FREE", PG_FREE), ("PG_WORKLOAD", PG_WORKLOAD),
                      ("PG_BALLOON", PG_BALLOON), ("PG_HANDED", PG_HANDED),
                      ("PG_HIGHMEM", PG_HIGHMEM), ("PG_OFFLINE", PG_OFFLINE),
                      ("PG_MARK", PG_MARK), ("PG_CACHE", PG_CACHE), ("ANON_END", ANON_END),
                      ("GFP_USER", GFP_USER), ("GFP_HIGHUSER", GFP_HIGHUSER),
                      ("NO_CREDIT", NO_CREDIT), ("NEED_RESERVE", NEED_RESERVE)):
    if getattr(lib, "XB_" + _name) != _value:
        raise ImportError(f"xenballoon._core: XB_{_name} differs from core.abi.{_name}")
del _name, _value
if ffi.sizeof("xb_vmstat") != VMSTAT_DTYPE.itemsize or any(
        ffi.offsetof("xb_vmstat", name) != offset
        for name, (_, offset, *_) in (VMSTAT_DTYPE.fields or {}).items()):
    raise ImportError("xenballoon._core: struct xb_vmstat differs from core.abi.VMSTAT_DTYPE")

_U64 = np.dtype(np.uint64)
_MSG_LEN = 512
_NULL = ffi.NULL

CData = Any  # cffi pointers; ffi.CData is not usable in annotations


def _snapshot(ptr: CData, length: int, start: int, stop: int | None, dtype: type,
              itemsize: int) -> np.ndarray:
    """A read-only copy of items [start, stop) of the `length` items at ptr (slice rules)."""
    start, stop, _ = slice(start, stop).indices(length)
    n = max(0, stop - start)
    out: np.ndarray = np.empty(n, dtype=dtype)
    if n:
        # the copy is made here, while the array is where ptr says: no pointer escapes
        ffi.memmove(ffi.from_buffer(out, require_writable=True), ptr + start, n * itemsize)
    out.flags.writeable = False
    return out


def _u64(a: np.ndarray) -> CData:
    """The C view of a 1-D C-contiguous uint64 array (from_buffer checks no dtype)."""
    if not isinstance(a, np.ndarray) or a.dtype != _U64 or a.ndim != 1 \
            or not a.flags.c_contiguous:
        raise InvalidType("expected a 1-D C-contiguous numpy array of uint64")
    return ffi.from_buffer("uint64_t[]", a)


def _u64_out(n: int) -> tuple[np.ndarray, CData]:
    out = np.empty(n, dtype=np.uint64)
    return out, ffi.from_buffer("uint64_t[]", out, require_writable=True)


# --- the host pool ---------------------------------------------------------------------------

def host_new(total_pages: int, scrub_freed: bool) -> CData:
    if total_pages > NIL:
        raise InvalidArgument(f"a host has at most {NIL} frames (mfns are 32-bit)")
    h = lib.xb_host_new(total_pages, int(scrub_freed))
    if h == _NULL:
        raise MemoryError(f"cannot allocate a host of {total_pages} frames")
    return ffi.gc(h, lib.xb_host_free)


def host_tags(h: CData, start: int = 0, stop: int | None = None) -> np.ndarray:
    return _snapshot(h.tag, h.total_pages, start, stop, np.uint32, 4)


def host_check(h: CData, doms: list[CData]) -> str | None:
    msg = ffi.new("char[]", _MSG_LEN)
    arr = ffi.new("xb_domain *[]", list(doms))
    rc = lib.xb_host_check(h, arr, len(arr), msg, _MSG_LEN)
    if rc == ENOMEM:
        raise MemoryError("host_check: " + ffi.string(msg).decode())
    return None if rc == 0 else ffi.string(msg).decode()


def host_state_bytes(h: CData) -> int:
    return int(lib.xb_host_state_bytes(h))


# --- domains and the XENMEM hypercalls -------------------------------------------------------

def domain_new(h: CData, domid: int, memory: int, max_pages: int) -> CData | None:
    if memory > h.free_pages or memory > MAX_GFNS:
        return None
    d = lib.xb_domain_new(h, domid, memory, max_pages)
    if d == _NULL:
        raise MemoryError(f"cannot allocate a domain of {memory} pages")
    return ffi.gc(d, lib.xb_domain_free)


def domain_release(d: CData) -> None:
    lib.xb_domain_release(d)


def domain_grow(d: CData, nr_gfns: int) -> int:
    if nr_gfns <= d.nr_gfns:
        return 0
    if nr_gfns > MAX_GFNS:
        return EINVAL
    rc = lib.xb_domain_grow(d, nr_gfns)
    if rc == ENOMEM:
        raise MemoryError(f"cannot grow a physmap to {nr_gfns} gfns")
    return rc


def domain_p2m(d: CData, start: int = 0, stop: int | None = None) -> np.ndarray:
    return _snapshot(d.p2m, d.nr_gfns, start, stop, np.uint32, 4)


def domain_state_bytes(d: CData) -> int:
    return int(lib.xb_domain_state_bytes(d))


def xenmem_populate_physmap(d: CData, gfns: np.ndarray) -> int:
    return int(lib.xb_xenmem_populate_physmap(d, _u64(gfns), len(gfns)))


def xenmem_decrease_reservation(d: CData, gfns: np.ndarray) -> int:
    return int(lib.xb_xenmem_decrease_reservation(d, _u64(gfns), len(gfns)))


# --- the guest and its page allocator --------------------------------------------------------

def guest_new(d: CData, nr_pfns: int, lowmem_pages: int, reserve_pages: int, batch: int,
              scrub_pages: bool) -> CData:
    if nr_pfns > MAX_GFNS:
        raise InvalidArgument(f"a guest has at most {MAX_GFNS} pfns")
    g = lib.xb_guest_new(d, nr_pfns, lowmem_pages, reserve_pages, batch, int(scrub_pages))
    if g == _NULL:
        raise MemoryError(f"cannot allocate a guest of {nr_pfns} pfns")
    return ffi.gc(g, lib.xb_guest_free)


def guest_grow(g: CData, nr_pfns: int) -> int:
    if nr_pfns <= g.nr_pfns:
        return 0
    if nr_pfns > MAX_GFNS:
        return EINVAL
    rc = lib.xb_guest_grow(g, nr_pfns)
    if rc == ENOMEM:
        raise MemoryError(f"cannot grow a guest to {nr_pfns} pfns")
    return rc


def guest_set_batch(g: CData, batch: int) -> int:
    if lib.xb_guest_set_batch(g, batch) == ENOMEM:
        raise MemoryError(f"cannot allocate a frame_list of {batch} entries")
    return 0


def guest_flags(g: CData, start: int = 0, stop: int | None = None) -> np.ndarray:
    return _snapshot(g.flags, g.nr_pfns, start, stop, np.uint8, 1)


def guest_state_bytes(g: CData) -> int:
    return int(lib.xb_guest_state_bytes(g))


def workload_alloc(g: CData, n: int) -> np.ndarray | None:
    if n > g.nr_free[0] + g.nr_free[1]:
        return None
    out, buf = _u64_out(n)
    return out if lib.xb_workload_alloc(g, n, buf) == 0 else None


def workload_free(g: CData, pfns: np.ndarray) -> int:
    return int(lib.xb_workload_free(g, _u64(pfns), len(pfns)))


# --- balloon.c -------------------------------------------------------------------------------

def balloon_append(g: CData, pfn: int) -> None:
    if not 0 <= pfn < g.nr_pfns:
        raise IndexError(f"pfn {pfn} is out of bounds for a guest of {g.nr_pfns} pfns")
    lib.xb_balloon_append(g, pfn)


def balloon_retrieve(g: CData, require_lowmem: bool) -> int:
    return int(lib.xb_balloon_retrieve(g, bool(require_lowmem)))


def increase_reservation(g: CData, nr_pages: int) -> int:
    return lib.xb_increase_reservation(g, nr_pages)


def decrease_reservation(g: CData, nr_pages: int, gfp: int) -> int:
    return lib.xb_decrease_reservation(g, nr_pages, gfp)


def balloon_turn(g: CData) -> int:
    return lib.xb_balloon_turn(g)


def balloon_turns(g: CData, max_turns: int, budget_ns: float,
                  cost: tuple[float, float, float, float, float]) -> tuple[int, int, float]:
    out = ffi.new("xb_turns *")
    state = lib.xb_balloon_turns(g, max_turns, budget_ns, ffi.new("xb_turn_cost *", cost), out)
    return state, out.done, out.ns


def alloc_xenballooned_pages(g: CData, nr_pages: int) -> tuple[int, np.ndarray | None]:
    # More than the balloon's lowmem plus the lowmem free list and lowmem cache is certain
    # to be refused (ENOMEM, nothing changed): answer without allocating `out` for it.  The
    # cache counts: the seed's add_ballooned_pages refuses on si_mem_available() (seed lines
    # 566-567), which counts it, and decrease_reservation's alloc_page(GFP_USER) (line 448)
    # reclaims it; xb_alloc_xenballooned_pages refuses on the same sum.
    if nr_pages > max(g.stats.balloon_low, 0) + g.nr_free[0] + g.nr_cache[0]:
        return ENOMEM, None
    out, buf = _u64_out(nr_pages)
    rc = lib.xb_alloc_xenballooned_pages(g, nr_pages, buf)
    return (0, out) if rc == 0 else (rc, None)


def free_xenballooned_pages(g: CData, pfns: np.ndarray) -> int:
    return int(lib.xb_free_xenballooned_pages(g, _u64(pfns), len(pfns)))


def balloon_add_region(g: CData, start_pfn: int, n: int) -> int:
    if start_pfn + n > g.nr_pfns:
        return EINVAL
    return lib.xb_balloon_add_region(g, start_pfn, n)


# --- the memory model (vmscan.c) -----------------------------------------------------------

def wmark_low(g: CData) -> int:
    return int(lib.xb_wmark_low(g))


def mem_available(g: CData) -> int:
    """si_mem_available()."""
    return int(lib.xb_si_mem_available(g))


def direct_reclaim(g: CData, nr_pages: int, gfp: int) -> int:
    return int(lib.xb_direct_reclaim(g, nr_pages, gfp))


def workload_step(g: CData, anon: int, file: int, dt: float) -> int:
    return int(lib.xb_workload_step(g, anon, file, dt))


def guest_array(guests: list[CData]) -> CData:
    """The guests as one ``xb_guest *[]`` for `workloads_step` (the caller keeps them alive)."""
    return ffi.new("xb_guest *[]", list(guests))


def workloads_step(gs: CData, anon: np.ndarray, file: np.ndarray, dt: float,
                   kills: np.ndarray) -> int:
    n = len(gs)
    if len(anon) != n or len(file) != n or len(kills) != n:
        raise InvalidArgument(f"workloads_step: {n} guests but arrays of {len(anon)}, "
                              f"{len(file)} and {len(kills)}")
    return int(lib.xb_workloads_step(gs, n, _u64(anon), _u64(file), dt,
                                     ffi.from_buffer("uint64_t[]", kills,
                                                     require_writable=True)))


def read_vmstats(gs: CData, vm: np.ndarray, mem: np.ndarray) -> None:
    n = len(gs)
    if vm.dtype != VMSTAT_DTYPE or vm.shape != (n,) or mem.dtype != _U64 \
            or mem.shape != (n, 4) or not (vm.flags.c_contiguous and mem.flags.c_contiguous):
        raise InvalidType(f"read_vmstats: expected {n} VMSTAT_DTYPE records and ({n}, 4) uint64")
    lib.xb_read_vmstats(gs, n, ffi.cast("xb_vmstat *", ffi.from_buffer(vm, require_writable=True)),
                        ffi.from_buffer("uint64_t[]", mem, require_writable=True))


# --- memory hotplug ----------------------------------------------------------------------------

def add_memory(g: CData, start_pfn: int, n: int) -> int:
    if start_pfn + n > MAX_GFNS:
        return EINVAL
    rc = lib.xb_add_memory(g, start_pfn, n)
    if rc == ENOMEM:
        raise MemoryError(f"cannot grow a guest to {start_pfn + n} pfns")
    return rc


def online_pages(g: CData, start_pfn: int, n: int) -> int:
    if start_pfn + n > g.nr_pfns:
        return EINVAL
    return lib.xb_online_pages(g, start_pfn, n)


def ballooned_pfns(g: CData) -> np.ndarray:
    out, buf = _u64_out(g.stats.balloon_low + g.stats.balloon_high)
    return out[: lib.xb_ballooned_pfns(g, buf, len(out))]


def count_flags(g: CData, start: int, stop: int, mask: int) -> int:
    if start >= stop:
        return 0
    return int(lib.xb_count_flags(g, start, stop, mask))


def guest_check(g: CData) -> str | None:
    msg = ffi.new("char[]", _MSG_LEN)
    if lib.xb_guest_check(g, msg, _MSG_LEN) == 0:
        return None
    return ffi.string(msg).decode()
