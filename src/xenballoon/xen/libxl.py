"""The xenstore nodes a toolstack writes for each domain (all sizes in KiB).

What libxl writes (``tools/libs/light``): ``libxl_create.c`` makes the home and ``memory/``
owned by dom0 and readable by the domain (it sees its target but cannot change it), and
``data/`` the domain's own; ``libxl__build_post`` (``libxl_dom.c``) writes, in one
transaction, ``memory/static-max`` (``max_memkb``), ``memory/target`` and
``memory/videoram`` (``video_memkb``: 0 for PV and PVH).  What the other toolstacks add:
XenServer's xenopsd (XAPI ``ocaml/xenopsd/xc/domain.ml``, ``set_memory_dynamic_range``)
writes ``memory/dynamic-min`` and ``memory/dynamic-max``, the range squeezed may move the
domain in; Qubes (``qubes/vm/qubesvm.py``, ``create_xs_entries``) writes
``memory/hotplug-max`` for a domain with memory hotplug, the most qmemman may give it.

`DomainMemory` is what a domain is created with, in pages: libxl's ``target_memkb`` and
``max_memkb`` less the video RAM (the guest's own RAM; the video RAM, populated by the
device model on a real host, is not modelled beyond its node).  Domain-0 gets the same nodes
(``libxl__fill_dom0_memory_info``, ``libxl_mem.c``, fills in its target and static-max), owned
by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..units import pages_to_kb
from .domain import Domain
from .xenstore import XenStore, XenStoreConnection

__all__ = ["DomainMemory", "make_domain_home", "memory_node_path", "memory_target_path",
           "static_max_path", "xenopsd_guest_nodes"]


@dataclass(frozen=True)
class DomainMemory:
    """A domain's memory as its toolstack configures it (pages).

    ``memory``: boot memory, the initial target; ``maxmem``: static-max; ``videoram``: the
    video RAM libxl reports (``memory/videoram``; 0 for PV); ``dynamic_min`` /
    ``dynamic_max``: XenServer's dynamic range (nodes written only when given);
    ``hotplug_max``: Qubes's most memory for a hotplug domain (written only when given).
    """

    memory: int
    maxmem: int
    videoram: int = 0
    dynamic_min: int | None = None
    dynamic_max: int | None = None
    hotplug_max: int | None = None

    def nodes(self) -> dict[str, int]:
        """The ``memory/*`` nodes and their values in KiB, in the order toolstacks write them."""
        nodes = {"static-max": pages_to_kb(self.maxmem), "target": pages_to_kb(self.memory),
                 "videoram": pages_to_kb(self.videoram)}
        for name, value in (("dynamic-min", self.dynamic_min),
                            ("dynamic-max", self.dynamic_max),
                            ("hotplug-max", self.hotplug_max)):
            if value is not None:
                nodes[name] = pages_to_kb(value)
        return nodes


def memory_node_path(domain: Domain, node: str) -> str:
    """``/local/domain/<domid>/memory/<node>``."""
    return f"{domain.home}/memory/{node}"


def memory_target_path(domain: Domain) -> str:
    """``/local/domain/<domid>/memory/target``: the balloon target, in KiB."""
    return memory_node_path(domain, "target")


def static_max_path(domain: Domain) -> str:
    """``/local/domain/<domid>/memory/static-max``: the most memory, in KiB."""
    return memory_node_path(domain, "static-max")


def make_domain_home(xs: XenStore, domain: Domain, memory: DomainMemory) -> None:
    """Write the domain's nodes as domain 0, with libxl's permissions, in one store step.

    The same requests as mkdir + set_perms of ``~`` and ``~/memory`` (read-only to the
    guest), of ``~/data`` (the guest's), then writes of ``name``, ``domid`` and the
    ``memory/*`` nodes; `XenStore.make_domain_home` fires the same watch events in that order
    (and makes the nodes directly when no watch can see them).
    """
    xs.make_domain_home(domain.domid, domain.name, memory.nodes())


def xenopsd_guest_nodes(xs: XenStoreConnection, domain: Domain) -> None:
    """Give the domain ``~/control`` and ``~/data`` as XenServer's xenopsd does.

    xenopsd (XAPI ``ocaml/xenopsd/xc/domain.ml``, ``xenbus_utils.ml``) makes both directories
    the guest's own, so its agent may create ``control/feature-balloon``; libxl leaves
    ``~/control`` read-only to the guest (``libxl_create.c``), where that write fails with
    EACCES (`make_domain_home` makes no ``control/``: the guest would create it in its
    read-only home).
    """
    for sub in ("control", "data"):
        path = f"{domain.home}/{sub}"
        xs.mkdir(path)
        xs.set_perms(path, [f"n{domain.domid}"])
