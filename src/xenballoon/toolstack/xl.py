"""What a host administrator gets from ``xl``: ``xl list`` as data, mem-set and mem-max.

Sizes are text or ints as ``xl`` reads them: a bare number is KiB (`xenballoon.units`:
xl's manual page, ``docs/man/xl.1.pod.in``), suffixes ``b``/``k``/``m``/``g``/``t``; the same
number means the same here, in the CLI and in `xenballoon.units.parse_size`.

libxl's checks are made here, not in `Hypervisor.mem_set` / `mem_max` (the raw operations):
``libxl_set_memory_target`` (``tools/libs/light/libxl_mem.c``) subtracts ``memory/videoram``
from the new target and refuses one above ``memory/static-max`` ("memory_dynamic_max must be
less than or equal to memory_static_max"), and a Domain-0 target below 128 MiB;
``libxl_domain_setmaxmem`` refuses a maximum below the current ``memory/target``
("memory_static_max must be greater than or equal to memory_dynamic_max").  A refusal is
`InvalidArgument` (a ``ValueError``) and changes nothing.  A target below what the guest can
ever reach -- its reserve (``totalreserve_pages``), which the driver never balloons out -- is
accepted, as xl accepts it, with a warning on the ``xenballoon`` logger saying so.

``domain_list(hv)`` is ``xl list`` as data (one `DomainInfo` per domain, memory in MiB
rounded down); the CLI renders it (`xenballoon.cli.render.domain_table`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import _validate
from .._log import log
from ..errors import InvalidArgument, InvalidType
from ..units import MIB_SHIFT, PAGE_SHIFT, kb_to_pages, parse_kb
from ..xen import Domain, Hypervisor

__all__ = ["DOM0_MIN_TARGET_KB", "DomainInfo", "below_reserve", "domain_list", "mem_max",
           "mem_set"]

_DOMID = re.compile(r"[0-9]+")
DOM0_MIN_TARGET_KB = 131072  # libxl_set_memory_target: dom0 is never set below 128 MiB
_MIB = MIB_SHIFT - PAGE_SHIFT  # pages -> MiB


def _domain(hv: Hypervisor, domain: Domain | int | str) -> Domain:
    """A domain by object, domid, or name (all digits: a domid, as xl decides)."""
    if isinstance(domain, str) and not _DOMID.fullmatch(domain):
        return hv.by_name(domain)
    if isinstance(domain, str):
        domain = int(domain)
    return hv.lookup(domain)


def _kb(size: int | str) -> int:
    if isinstance(size, str):
        return parse_kb(size)
    if isinstance(size, bool) or not isinstance(size, int):
        raise InvalidType(f"a size is KiB as an int or a str such as '512M', "
                          f"not {type(size).__name__}")
    return _validate.as_count(size, "size (KiB)")


def _node_kb(hv: Hypervisor, dom: Domain, node: str) -> int | None:
    """``memory/<node>`` of the domain in KiB, if it is there and parses."""
    try:
        return int(hv.xenstore.read(f"{dom.home}/memory/{node}"))
    except (KeyError, ValueError):
        return None


def below_reserve(domain: Domain, target_kb: int) -> str | None:
    """Why ``target_kb`` cannot be reached by the guest in ``domain``, if it cannot.

    The floor is the guest's reserve (``totalreserve_pages``): the driver balloons out only
    free pages above it (``si_mem_available``).  None when the target is reachable or no
    guest runs in the domain.
    """
    guest = domain.guest
    if guest is None:
        return None
    reserve = int(guest.totalreserve_pages)
    pages = kb_to_pages(target_kb)
    if pages >= reserve:
        return None
    return (f"target {target_kb} KiB ({pages} pages) for {domain.name} is below what the "
            f"guest can ever reach: its reserve of {reserve} pages (totalreserve_pages), "
            f"which the balloon never gives back; it will stop there")


def mem_set(hv: Hypervisor, domain: Domain | int | str, size: int | str) -> None:
    """``xl mem-set DOMAIN SIZE``: write the domain's ``memory/target``, as libxl does.

    ``size`` is KiB as an int, or text as xl reads it (``"256m"``; a bare number is KiB).
    Refused (`InvalidArgument`, nothing written) as libxl refuses it: the target less
    ``memory/videoram`` above ``memory/static-max``, or Domain-0 below 128 MiB.
    """
    dom, target_kb = _domain(hv, domain), _kb(size)
    new_kb = max(0, target_kb - (_node_kb(hv, dom, "videoram") or 0))
    static_max = _node_kb(hv, dom, "static-max")
    if static_max is not None and new_kb > static_max:
        raise InvalidArgument(
            f"xl mem-set {dom.name} {target_kb}k: memory_dynamic_max must be less than or "
            f"equal to memory_static_max ({new_kb} KiB > static-max {static_max} KiB; "
            f"libxl_set_memory_target)")
    if dom.domid == 0 and new_kb < DOM0_MIN_TARGET_KB:
        raise InvalidArgument(f"xl mem-set {dom.name}: new target {new_kb} KiB for dom0 is "
                              f"below the minimum threshold ({DOM0_MIN_TARGET_KB} KiB)")
    warning = below_reserve(dom, new_kb)
    if warning is not None:
        log.warning("xl mem-set: %s", warning)
    hv.mem_set(dom.domid, new_kb)


def mem_max(hv: Hypervisor, domain: Domain | int | str, size: int | str) -> None:
    """``xl mem-max DOMAIN SIZE``: set the domain's maximum, as libxl does (sizes as for
    `mem_set`).  Refused (`InvalidArgument`, nothing changed) below the current
    ``memory/target``, as ``libxl_domain_setmaxmem`` refuses it.
    """
    dom, max_kb = _domain(hv, domain), _kb(size)
    target = _node_kb(hv, dom, "target")
    if target is not None and max_kb < target:
        raise InvalidArgument(
            f"xl mem-max {dom.name} {max_kb}k: memory_static_max must be greater than or "
            f"equal to memory_dynamic_max ({max_kb} KiB < target {target} KiB; "
            f"libxl_domain_setmaxmem)")
    hv.mem_max(dom.domid, max_kb)


@dataclass(frozen=True)
class DomainInfo:
    """One line of ``xl list``, plus what the balloon driver in the guest is doing.

    ``balloon``: the `BPState` name of the guest's last worker run (None without a balloon);
    ``pending``: the worker is queued -- a new target not yet acted on, or a retry after
    EAGAIN -- so ``balloon`` is not the last word (``xl list`` shows e.g. ``DONE, pending``).
    """

    domid: int
    name: str
    mem_mib: int                 # tot_pages
    max_mib: int                 # max_pages
    target_mib: int | None       # memory/target; None if missing or unparsable
    balloon: str | None = None   # the BPState of the guest's balloon, if it runs one
    pending: bool = False        # the balloon's worker is queued

    @property
    def balloon_status(self) -> str:
        """``balloon`` as ``xl list`` shows it: with ``, pending`` while work is queued."""
        if self.balloon is None:
            return ""
        return f"{self.balloon}, pending" if self.pending else self.balloon


def domain_list(hv: Hypervisor) -> list[DomainInfo]:
    """``xl list``: every live domain, by domid (Domain-0 first when the host has one).

    One consistent view: the host's lock is held for the whole listing, and the targets
    are read from the store in one step (domain 0 reads the nodes directly).
    """
    infos = []
    with hv.sim.lock:  # the world's lock (the host's)
        domains = sorted(hv.domains.items())
        targets = hv.xenstore.values(f"/local/domain/{domid}/memory/target"
                                     for domid, _ in domains)
        for (domid, dom), target in zip(domains, targets, strict=True):
            core = dom.handle
            try:
                target_kb: int | None = None if target is None else int(target)
            except ValueError:
                target_kb = None
            guest = dom.guest
            balloon = guest.balloon if guest is not None else None
            infos.append(DomainInfo(
                domid, dom.name, int(core.tot_pages) >> _MIB, int(core.max_pages) >> _MIB,
                None if target_kb is None else kb_to_pages(target_kb) >> _MIB,
                None if balloon is None else balloon.state.name,
                False if balloon is None else balloon.work_pending))
    return infos
