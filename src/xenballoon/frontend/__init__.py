"""The xen-balloon front end (``drivers/xen/xen-balloon.c``): how the world steers the driver.

The xenstore watch on ``memory/target`` (`TargetWatch`), the sysfs device
``/sys/devices/system/xen_memory/xen_memory0`` (`BalloonSysfs`), and `Balloon`: the driver
with both attached, the public entry point; `SelfBalloon`, the guest setting its own
target (``xen-selfballoon.c``).
"""

from __future__ import annotations

from .selfballoon import SelfBalloon, SelfBalloonSysfs
from .sysfs import BalloonSysfs
from .watch import TargetWatch
from .xen_balloon import Balloon

__all__ = ["Balloon", "BalloonSysfs", "SelfBalloon", "SelfBalloonSysfs", "TargetWatch"]
