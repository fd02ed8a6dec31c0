"""``xen-balloon.c``: the balloon driver with its front end, as a guest's kernel loads it.

xen-balloon.c's ``balloon_init`` starts the driver, registers the xenstore watch on
``memory/target`` and the ``xen_memory0`` sysfs device.  `Balloon` is that: a
`BalloonDriver` plus a `TargetWatch` (unwatched when the domain is destroyed, through the
host's domain destroy chain) and a `BalloonSysfs`.
"""

from __future__ import annotations

from functools import cached_property

from ..driver import BalloonDriver
from ..linux import Guest
from ..sim import guarded
from ..xen import Domain
from .sysfs import BalloonSysfs
from .watch import TargetWatch

__all__ = ["Balloon"]


@guarded
class Balloon(BalloonDriver):
    """``balloon_init()`` plus the xen-balloon front end, for one guest."""

    def __init__(self, guest: Guest, *, hotplug: bool = False, batch: int = 512,
                 max_retry_count: int = 4, max_schedule_delay: int = 32,
                 scrub_pages: bool = True) -> None:
        super().__init__(guest, hotplug=hotplug, batch=batch, max_retry_count=max_retry_count,
                         max_schedule_delay=max_schedule_delay, scrub_pages=scrub_pages)
        self.watch = TargetWatch(self)
        guest.domain.hypervisor.domain_destroy_chain.register_once(_unwatch)

    @cached_property
    def sysfs(self) -> BalloonSysfs:
        """``/sys/devices/system/xen_memory/xen_memory0``: the attributes of xen-balloon.c."""
        return BalloonSysfs(self)


def _unwatch(domain: Domain) -> None:
    """On the host's domain destroy chain: the ``memory/target`` watch of the balloon in
    ``domain`` goes (a plain `BalloonDriver` has none)."""
    guest = domain.guest
    if guest is not None and isinstance(guest.balloon, Balloon):
        guest.balloon.watch.unwatch()
