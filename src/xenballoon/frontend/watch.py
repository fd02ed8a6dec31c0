"""The xenstore ``memory/target`` watch of the xen-balloon front end (xen-balloon.c).

The guest registers the watch through its own xenstore connection, on the relative path
``memory/target``, so it reads the node with the guest's permissions (it may read its own
target, not write it).  The watch fires once when registered and on every change.

The kernel reads the node with ``%llu`` and silently ignores a missing or unparsable
value.  xenballoon accepts a plain non-negative decimal integer (surrounding whitespace
allowed), converts KiB to pages as ``kib >> (PAGE_SHIFT - 10)``, and ignores anything else
with a logged warning, leaving the target as it was.  The HVM ``memory/static-max``
adjustment (``target_diff``) is not modelled: guests here see exactly their boot memory,
so it would always be zero.
"""

from __future__ import annotations

import re

from .._log import log, pr_warn
from .._validate import MAX_COUNT as MAX_TARGET
from ..driver import BalloonDriver
from ..units import kb_to_pages
from ..xen import WatchHandle

__all__ = ["NODE", "TargetWatch", "log"]

_DECIMAL = re.compile(r"[0-9]+")
NODE = "memory/target"


class TargetWatch:
    """``watch_target``: a write to ``memory/target`` (KiB) sets the balloon's target."""

    def __init__(self, balloon: BalloonDriver) -> None:
        self._balloon = balloon
        domain = balloon.guest.domain
        self._xs = domain.xenstore.connect(domain.domid)
        self.path = f"{domain.home}/{NODE}"
        self._handle: WatchHandle | None = self._xs.watch(NODE, self._fired)

    def _fired(self, path: str) -> None:
        try:
            text = self._xs.read(NODE)
        except KeyError:
            pr_warn("%s is missing; target unchanged", self.path)
            return
        except PermissionError:
            pr_warn("%s is not readable by the guest; target unchanged", self.path)
            return
        stripped = text.strip()
        if not _DECIMAL.fullmatch(stripped):
            pr_warn("ignoring unparsable %s = %r", self.path, text)
            return
        pages = kb_to_pages(int(stripped))
        if pages > MAX_TARGET:
            pr_warn("ignoring absurd %s = %r", self.path, text)
            return
        self._balloon.set_target(pages)

    def unwatch(self) -> None:
        if self._handle is not None:
            self._handle.unwatch()
            self._handle = None
