"""The xenstore nodes libxl writes for a domain it creates (``tools/libs/light/libxl_create.c``).

The home and ``memory/`` belong to dom0 and only the domain may read them (so it sees its
target but cannot change it); ``data/`` belongs to the domain.  Sizes are in KiB.
"""

from __future__ import annotations

from ..units import pages_to_kb
from .domain import Domain
from .xenstore import XenStoreConnection

__all__ = ["make_domain_home", "memory_target_path", "static_max_path"]


def memory_target_path(domain: Domain) -> str:
    """``/local/domain/<domid>/memory/target``: the balloon target, in KiB."""
    return f"{domain.home}/memory/target"


def static_max_path(domain: Domain) -> str:
    """``/local/domain/<domid>/memory/static-max``: the most memory, in KiB."""
    return f"{domain.home}/memory/static-max"


def make_domain_home(xs: XenStoreConnection, domain: Domain, memory: int, maxmem: int) -> None:
    """Write the domain's nodes through dom0's connection ``xs``, with libxl's permissions."""
    home, domid = domain.home, domain.domid
    readonly = ["n0", f"r{domid}"]
    for path in (home, f"{home}/memory"):
        xs.mkdir(path)
        xs.set_perms(path, readonly)
    xs.mkdir(f"{home}/data")
    xs.set_perms(f"{home}/data", [f"n{domid}"])
    xs.write(f"{home}/name", domain.name)
    xs.write(f"{home}/domid", str(domid))
    xs.write(static_max_path(domain), str(pages_to_kb(maxmem)))
    xs.write(memory_target_path(domain), str(pages_to_kb(memory)))
