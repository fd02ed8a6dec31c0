"""The balloon's sysfs attributes: ``/sys/devices/system/xen_memory/xen_memory0`` (xen-balloon.c).

=======================  =====  ======================================  ==============
attribute                mode   read (always ends with a newline)       write
=======================  =====  ======================================  ==============
``target_kb``            0644   target_pages in KiB, decimal            KiB
``target``               0644   target_pages in bytes, decimal          bytes, K/M/G
``schedule_delay``       0444   seconds, hex without ``0x``             --
``max_schedule_delay``   0644   seconds, hex (``20`` for 32)            seconds, >= 1
``retry_count``          0444   count, hex                              --
``max_retry_count``      0644   count, hex (0 = retry forever)          count
``scrub_pages``          0644   ``1`` or ``0``                          0/1/y/n/on/off
``info/current_kb``      0444   current_pages in KiB, decimal           --
``info/low_kb``          0444   balloon_low in KiB, decimal             --
``info/high_kb``         0444   balloon_high in KiB, decimal            --
=======================  =====  ======================================  ==============

The four backoff attributes print in hex because the kernel shows them with the generic
``device_show_ulong`` (``%lx``).  A target write goes to ``balloon_set_new_target`` after
rounding down to whole pages (``target_kb >> 2``, ``target >> 12``), exactly as the
kernel's stores do.

xenballoon is strict where the kernel is lax.  The kernel parses ``target_kb`` with
``simple_strtoull`` and ``target`` with ``memparse``: they stop at the first character
that is not a digit and never fail, so ``"12abc"`` sets 12 and garbage sets the target to
0 pages.  Here a write must be one number, optionally followed by one newline: a
non-negative decimal without leading zeros, or ``0x`` hex (the kernel's base 0, whose
leading-zero octal is refused because ``"010"`` meaning 8 surprises everyone); ``target``
may add one ``K``, ``M`` or ``G`` (any case, powers of 1024).  Anything else -- a sign,
spaces, an empty string, a value past 2**64 - 1, a value the driver refuses (such as
``max_schedule_delay`` 0 or a target beyond 2**40 pages) -- raises ``OSError`` with
``errno.EINVAL``, and nothing changes.  A write to a read-only attribute raises
``errno.EACCES``, an unknown attribute ``errno.ENOENT``.  Every write counts as root's: the
kernel's ``CAP_SYS_ADMIN`` check (``EPERM``) on the target attributes is not modelled.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from typing import NamedTuple

from ..driver import BalloonDriver
from ..errors import InvalidArgument, InvalidType
from ..sim import guarded
from ..units import PAGE_SHIFT, PAGE_SHIFT_KB

__all__ = ["BalloonSysfs", "kstrtobool", "kstrtoull", "memparse"]

ROOT = "/sys/devices/system/xen_memory/xen_memory0"
ULLONG_MAX = (1 << 64) - 1

_NUMBER = r"0|[1-9][0-9]*|0[xX][0-9a-fA-F]+"
_ULL = re.compile(_NUMBER)
_MEMPARSE = re.compile(rf"({_NUMBER})([kKmMgG]?)")
_SHIFT = {"": 0, "k": 10, "m": 20, "g": 30}
_BOOL = {"1": True, "y": True, "on": True, "0": False, "n": False, "off": False}


class _Invalid(InvalidArgument):
    """A write the attribute refuses (EINVAL); the message says why."""


def _chomp(buf: str) -> str:
    """What sysfs hands the store: the text without its one optional trailing newline."""
    return buf[:-1] if buf.endswith("\n") else buf


def _why_not(buf: str, text: str) -> str:
    if re.fullmatch(r"0[0-9]+[kKmMgG]?", text):
        return f"leading zero (the kernel would read octal): {buf!r}"
    return f"not a non-negative decimal or 0x-hex number: {buf!r}"


def kstrtoull(buf: str) -> int:
    """A non-negative decimal or ``0x`` hex number up to 2**64 - 1 (one trailing newline ok)."""
    text = _chomp(buf)
    if not _ULL.fullmatch(text):
        raise _Invalid(_why_not(buf, text))
    value = int(text, 0)
    if value > ULLONG_MAX:
        raise _Invalid(f"number past 2**64 - 1: {buf!r}")
    return value


def memparse(buf: str) -> int:
    """A byte count: a number as ``kstrtoull`` takes it, then an optional K/M/G suffix."""
    text = _chomp(buf)
    match = _MEMPARSE.fullmatch(text)
    if match is None:
        raise _Invalid(_why_not(buf, text) + " (sizes look like 536870912, 512M, 0x200000K)")
    value = int(match[1], 0) << _SHIFT[match[2].lower()]
    if value > ULLONG_MAX:
        raise _Invalid(f"size past 2**64 - 1 bytes: {buf!r}")
    return value


def kstrtobool(buf: str) -> bool:
    """``1/y/on`` or ``0/n/off``, any case (the kernel looks at the first letters only)."""
    value = _BOOL.get(_chomp(buf).lower())
    if value is None:
        raise _Invalid(f"not one of 0/1/y/n/on/off: {buf!r}")
    return value


# --- the attributes' show and store functions, named after xen-balloon.c's ---------------------
def show_target_kb(b: BalloonDriver) -> str:
    return f"{b.stats.target_pages << PAGE_SHIFT_KB}\n"


def store_target_kb(b: BalloonDriver, buf: str) -> None:
    b.set_target(kstrtoull(buf) >> PAGE_SHIFT_KB)


def show_target(b: BalloonDriver) -> str:
    return f"{b.stats.target_pages << PAGE_SHIFT}\n"


def store_target(b: BalloonDriver, buf: str) -> None:
    b.set_target(memparse(buf) >> PAGE_SHIFT)


def device_show_ulong(field: str) -> Callable[[BalloonDriver], str]:
    return lambda b: f"{getattr(b.stats, field):x}\n"


def device_store_ulong(field: str) -> Callable[[BalloonDriver, str], None]:
    def store(b: BalloonDriver, buf: str) -> None:
        setattr(b, field, kstrtoull(buf))
    return store


def device_show_bool(b: BalloonDriver) -> str:
    return f"{int(b.scrub_pages)}\n"


def device_store_bool(b: BalloonDriver, buf: str) -> None:
    b.scrub_pages = kstrtobool(buf)


def show_info_kb(field: str) -> Callable[[BalloonDriver], str]:
    return lambda b: f"{getattr(b.stats, field) << PAGE_SHIFT_KB}\n"


class _Attr(NamedTuple):
    show: Callable[[BalloonDriver], str]
    store: Callable[[BalloonDriver, str], None] | None  # None: read-only (0444)


_ATTRS: dict[str, _Attr] = {
    "target_kb": _Attr(show_target_kb, store_target_kb),
    "target": _Attr(show_target, store_target),
    "schedule_delay": _Attr(device_show_ulong("schedule_delay"), None),
    "max_schedule_delay": _Attr(device_show_ulong("max_schedule_delay"),
                                device_store_ulong("max_schedule_delay")),
    "retry_count": _Attr(device_show_ulong("retry_count"), None),
    "max_retry_count": _Attr(device_show_ulong("max_retry_count"),
                             device_store_ulong("max_retry_count")),
    "scrub_pages": _Attr(device_show_bool, device_store_bool),
    "info/current_kb": _Attr(show_info_kb("current_pages"), None),
    "info/low_kb": _Attr(show_info_kb("balloon_low"), None),
    "info/high_kb": _Attr(show_info_kb("balloon_high"), None),
}


def _error(code: int, attr: str, why: str = "") -> OSError:
    message = os.strerror(code) + (f" ({why})" if why else "")
    return OSError(code, message, f"{ROOT}/{attr}")


@guarded
class BalloonSysfs:
    """The ``xen_memory0`` device of one balloon: ``read(attr)`` and ``write(attr, text)``."""

    root = ROOT
    attributes: tuple[str, ...] = tuple(_ATTRS)
    writable: frozenset[str] = frozenset(n for n, a in _ATTRS.items() if a.store is not None)

    def __init__(self, balloon: BalloonDriver) -> None:
        self._balloon = balloon

    def _attr(self, attr: str) -> _Attr:
        if not isinstance(attr, str):
            raise InvalidType(f"attribute name must be a str, not {type(attr).__name__}")
        try:
            return _ATTRS[attr]
        except KeyError:
            raise _error(errno.ENOENT, attr, "no such attribute") from None

    def read(self, attr: str) -> str:
        """The attribute's text as the kernel formats it, ending with a newline."""
        return self._attr(attr).show(self._balloon)

    def write(self, attr: str, text: str) -> None:
        """Store ``text`` (one trailing newline allowed); ``OSError`` and no change if refused."""
        store = self._attr(attr).store
        if not isinstance(text, str):
            raise InvalidType(f"sysfs writes take a str, not {type(text).__name__}")
        if store is None:
            raise _error(errno.EACCES, attr, "read-only attribute")
        if not self._balloon.guest.alive:
            raise _error(errno.ENODEV, attr, "the guest's domain has been destroyed")
        try:
            store(self._balloon, text)
        except ValueError as exc:  # _Invalid, or a value the driver refuses
            raise _error(errno.EINVAL, attr, str(exc)) from None

    def mode(self, attr: str) -> int:
        """The file mode: 0o644 for writable attributes, 0o444 for read-only ones."""
        return 0o444 if self._attr(attr).store is None else 0o644

    def ls(self, directory: str = "") -> list[str]:
        """The entries of ``xen_memory0`` (or of its ``info`` directory), sorted."""
        prefix = f"{directory}/" if directory else ""
        names = {a[len(prefix):].split("/")[0] for a in _ATTRS if a.startswith(prefix)}
        if not names:
            raise _error(errno.ENOENT, directory, "no such directory")
        return sorted(names)

    def __repr__(self) -> str:
        return f"<BalloonSysfs {ROOT} of domain {self._balloon.guest.domain.domid}>"
