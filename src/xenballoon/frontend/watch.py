"""The xenstore ``memory/target`` watch of the xen-balloon front end (xen-balloon.c).

The guest registers the watch through its own xenstore connection, on the relative path
``memory/target``, so it reads the node with the guest's permissions (it may read its own
target, not write it).  The watch fires once when registered and on every change.

The kernel reads the node with ``xenbus_scanf(..., "%llu", ...)`` and silently ignores a
missing or unparsable value.  xenballoon accepts what ``%llu`` accepts as a whole value:
ASCII decimal digits, with the whitespace the kernel's ``vsscanf`` skips (``isspace``: space,
``\t \n \v \f \r``) allowed before and after; no sign (``%llu`` takes none), no other
character (a control character such as ``\x1c``, which Python's ``str.strip`` would take as
whitespace, included).  It converts KiB to pages as ``kib >> (PAGE_SHIFT - 10)``, and ignores
anything else, or a number past what any simulated machine could hold (it is checked by its
length first, so a 5,000-digit value is refused without converting it), with a logged
warning, leaving the target as it was.  The HVM ``memory/static-max``
adjustment (``target_diff``) is not modelled: guests here see exactly their boot memory,
so it would always be zero.
"""

from __future__ import annotations

import re

from .._log import log, pr_warn
from .._validate import MAX_COUNT as MAX_TARGET
from ..driver import BalloonDriver
from ..sim import guarded
from ..units import kb_to_pages
from ..xen import WatchHandle

__all__ = ["NODE", "TargetWatch", "log"]

# %llu: vsscanf skips isspace() characters first; the number is ASCII digits.
_KSPACE = "[ \t\n\v\f\r]*"
_TARGET = re.compile(f"{_KSPACE}([0-9]+){_KSPACE}")
_MAX_DIGITS = len(str(MAX_TARGET << 2))
NODE = "memory/target"


@guarded
class TargetWatch:
    """``watch_target``: a write to ``memory/target`` (KiB) sets the balloon's target.

    The object is the watch's callback (``watch(path)``): no bound method is kept per
    balloon.
    """

    def __init__(self, balloon: BalloonDriver) -> None:
        self._balloon = balloon
        domain = balloon.guest.domain
        self._xs = domain.xenstore.connect(domain.domid)
        self._handle: WatchHandle | None = self._xs.watch(NODE, self)

    @property
    def path(self) -> str:
        """The watched node, ``/local/domain/<domid>/memory/target``."""
        return f"{self._xs.home}/{NODE}"

    def __call__(self, path: str) -> None:
        """``watch_target``: the watch fired (``path``: the node, relative to the home)."""
        try:
            text = self._xs.read(NODE)
        except KeyError:
            pr_warn("%s is missing; target unchanged", self.path)
            return
        except PermissionError:
            pr_warn("%s is not readable by the guest; target unchanged", self.path)
            return
        match = _TARGET.fullmatch(text)
        if match is None:
            pr_warn("ignoring unparsable %s = %r", self.path, text[:64])
            return
        digits = match[1].lstrip("0") or "0"
        pages = MAX_TARGET + 1 if len(digits) > _MAX_DIGITS else kb_to_pages(int(digits))
        if pages > MAX_TARGET:
            pr_warn("ignoring absurd %s = %r", self.path, text[:64])
            return
        self._balloon.set_target(pages)

    def unwatch(self) -> None:
        if self._handle is not None:
            self._handle.unwatch()
            self._handle = None
