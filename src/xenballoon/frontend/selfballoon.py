"""Self-ballooning (Linux ``drivers/xen/xen-selfballoon.c``): the guest sets its own target.

Written from the last version of that file (Dan Magenheimer, 2011; removed with tmem in
Linux 5.3, "xen: remove tmem driver"), as ``research/kernel-companions.md`` section 4
describes it; nothing copied.  Every ``selfballoon_interval`` seconds (default 5) the
delayed work ``selfballoon_process``:

1. ``cur = totalram_pages``; ``goal = Committed_AS + totalreserve_pages +
   MB2PAGES(selfballoon_reserved_mb)``;
2. moves part of the way: ``cur > goal`` gives ``cur - (cur - goal) / downhysteresis``
   (8: an eighth of the gap per interval), ``cur < goal`` gives ``cur + (goal - cur) /
   uphysteresis`` (1: all of it at once);
3. never below a floor: ``totalreserve + MB2PAGES(min_usable_mb)`` when that knob is set,
   else a curve of the useful memory (``max_pfn - totalreserve``): under 16 MiB no
   ballooning (``max_pfn``); under 64 MiB ``reserve + 16 MiB + (useful - 16 MiB) / 2``; under
   512 MiB ``reserve + 40 MiB + (useful - 40 MiB) / 8``; else ``reserve + 99 MiB +
   (useful - 99 MiB) / 32``;
4. ``balloon_set_new_target(tgt + current_pages - totalram_pages)``, and re-arms.

Knobs, under ``xen_memory0/selfballoon/`` (`SelfBalloonSysfs`): ``selfballooning`` (0/1; a
0 to 1 write schedules the work), ``selfballoon_interval``, ``selfballoon_downhysteresis``,
``selfballoon_uphysteresis``, ``selfballoon_min_usable_mb``, ``selfballoon_reserved_mb``
(0 at init means 10 % of RAM).  Writes are decimal (``kstrtoul(buf, 10)``); 0 and parse
errors are EINVAL.  Frontswap (and its self-shrinking knobs) is off: the model has no
tmem, so ``frontswap_curr_pages()`` is 0.  Disabled in domain 0, as the kernel refuses it.
In the model Committed_AS is the workload's anonymous memory plus swap in use
(`xenballoon.linux.vmstat`).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable

from ..errors import InvalidArgument
from ..sim.work import DelayedWork
from ..units import PAGE_SHIFT
from .xen_balloon import Balloon

__all__ = ["SelfBalloon", "SelfBalloonSysfs"]

MB_SHIFT = 20 - PAGE_SHIFT


def mb2pages(mb: int) -> int:
    return mb << MB_SHIFT


class SelfBalloon:
    """``xen-selfballoon.c`` for one guest's `Balloon` (its knobs are attributes)."""

    def __init__(self, balloon: Balloon, *, selfballooning: bool = True, interval: int = 5,
                 downhysteresis: int = 8, uphysteresis: int = 1, min_usable_mb: int = 0,
                 reserved_mb: int = 0) -> None:
        if balloon.guest.domain.domid == 0:
            raise InvalidArgument("self-ballooning is disabled for domain0 (-ENODEV)")
        for label, value in (("interval", interval), ("downhysteresis", downhysteresis),
                             ("uphysteresis", uphysteresis)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InvalidArgument(f"{label} must be a positive integer, got {value!r}")
        for label, value in (("min_usable_mb", min_usable_mb), ("reserved_mb", reserved_mb)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidArgument(f"{label} must be a non-negative integer, got {value!r}")
        self.balloon = balloon
        self.guest = balloon.guest
        self.interval = interval
        self.downhysteresis, self.uphysteresis = downhysteresis, uphysteresis
        self.min_usable_mb = min_usable_mb
        # xen_selfballoon_init: 0 means 10 % of RAM.
        self.reserved_mb = reserved_mb or (self.guest.totalram_pages // 10) >> MB_SHIFT
        self.enabled = False
        self.runs = 0
        self._work = DelayedWork(self.guest.sim, self.process)
        self.guest.domain.destroy_chain.register(lambda _d: self._work.cancel())
        if selfballooning:
            self.enable(True)

    @property
    def sysfs(self) -> SelfBalloonSysfs:
        return SelfBalloonSysfs(self)

    def enable(self, on: bool) -> None:
        """The ``selfballooning`` knob: turning it on schedules the work after an interval."""
        was, self.enabled = self.enabled, bool(on)
        if self.enabled and not was:
            self._work.schedule(self.interval * self.guest.sim.hz)

    def floor(self) -> int:
        """The least ``totalram_pages`` self-ballooning leaves (the knob, or the curve)."""
        reserve = self.guest.totalreserve_pages
        if self.min_usable_mb:
            return reserve + mb2pages(self.min_usable_mb)
        max_pfn = self.guest.nr_pfns
        useful = max_pfn - reserve
        for below, base, slope in ((16, None, 0), (64, 16, 2), (512, 40, 8)):
            if useful < mb2pages(below):
                if base is None:
                    return max_pfn
                return reserve + mb2pages(base) + (useful - mb2pages(base)) // slope
        return reserve + mb2pages(99) + (useful - mb2pages(99)) // 32

    def goal(self) -> int:
        """Committed_AS + totalreserve_pages + reserved_mb, in pages."""
        return self.guest.vmstat().committed_as + self.guest.totalreserve_pages \
            + mb2pages(self.reserved_mb)

    def process(self) -> None:
        """``selfballoon_process``: one step toward the goal, then re-arm."""
        if not self.enabled or not self.guest.alive:
            return
        self.runs += 1
        cur, goal = self.guest.totalram_pages, self.goal()
        if cur > goal:
            tgt = cur - (cur - goal) // self.downhysteresis
        elif cur < goal:
            tgt = cur + (goal - cur) // self.uphysteresis
        else:
            tgt = cur
        tgt = max(tgt, self.floor())
        self.balloon.set_target(max(0, tgt + self.balloon.current_pages - cur))
        self._work.schedule(self.interval * self.guest.sim.hz)


_DECIMAL = re.compile(r"[0-9]+")
_ROOT = "/sys/devices/system/xen_memory/xen_memory0/selfballoon"


def _kstrtoul10(buf: object) -> int:
    if not isinstance(buf, str):
        raise InvalidArgument(f"sysfs writes take a str, not {type(buf).__name__}")
    text = buf[:-1] if buf.endswith("\n") else buf
    if not _DECIMAL.fullmatch(text):
        raise InvalidArgument(f"not a decimal number: {buf!r}")
    return int(text)


def _positive(name: str) -> Callable[[SelfBalloon, int], None]:
    def store(sb: SelfBalloon, value: int) -> None:
        if value == 0:
            raise InvalidArgument(f"{name} cannot be 0")
        setattr(sb, name, value)
    return store


def _store_enabled(sb: SelfBalloon, value: int) -> None:
    if value not in (0, 1):
        raise InvalidArgument("selfballooning takes 0 or 1")
    sb.enable(bool(value))


# sysfs name -> (the attribute shown, its store)
_ATTRS: dict[str, tuple[str, Callable[[SelfBalloon, int], None]]] = {
    "selfballooning": ("enabled", _store_enabled),
    "selfballoon_interval": ("interval", _positive("interval")),
    "selfballoon_downhysteresis": ("downhysteresis", _positive("downhysteresis")),
    "selfballoon_uphysteresis": ("uphysteresis", _positive("uphysteresis")),
    "selfballoon_min_usable_mb": ("min_usable_mb", _positive("min_usable_mb")),
    "selfballoon_reserved_mb": ("reserved_mb", _positive("reserved_mb")),
}


class SelfBalloonSysfs:
    """``xen_memory0/selfballoon/``: ``read(name)`` as ``%d\\n``, ``write(name, text)``."""

    root = _ROOT
    attributes = tuple(_ATTRS)

    def __init__(self, selfballoon: SelfBalloon) -> None:
        self._sb = selfballoon

    def _attr(self, name: str) -> tuple[str, Callable[[SelfBalloon, int], None]]:
        try:
            return _ATTRS[name]
        except (KeyError, TypeError):
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), f"{_ROOT}/{name}") from None

    def read(self, name: str) -> str:
        return f"{int(getattr(self._sb, self._attr(name)[0]))}\n"

    def write(self, name: str, text: str) -> None:
        """Store ``text``; ``OSError`` EINVAL and no change if refused."""
        _, store = self._attr(name)
        try:
            store(self._sb, _kstrtoul10(text))
        except ValueError as exc:
            raise OSError(errno.EINVAL, f"{os.strerror(errno.EINVAL)} ({exc})",
                          f"{_ROOT}/{name}") from None

    def ls(self) -> list[str]:
        return sorted(_ATTRS)
