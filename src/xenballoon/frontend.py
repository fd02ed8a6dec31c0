"""The xen-balloon front end: the xenstore ``memory/target`` watch (xen-balloon.c).

The kernel reads the node with ``%llu``; xenballoon accepts a plain non-negative
decimal integer (surrounding whitespace allowed) and ignores anything else with a
warning, leaving the target as it was.  The HVM ``memory/static-max`` adjustment
(``target_diff``) is not modelled: guests here see exactly their boot memory, so
it would always be zero.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from ._validate import MAX_COUNT as MAX_TARGET
from .xenstore import WatchHandle

if TYPE_CHECKING:
    from .balloon import Balloon

__all__ = ["TargetWatch", "log"]

log = logging.getLogger("xenballoon")
_DECIMAL = re.compile(r"[0-9]+")
PAGE_SHIFT_KB = 2  # PAGE_SHIFT - 10: KiB -> pages


class TargetWatch:
    """``watch_target``: a write to ``memory/target`` (KiB) sets the balloon's target."""

    def __init__(self, balloon: Balloon) -> None:
        self._balloon = balloon
        domain = balloon.guest.domain
        self.path = f"{domain.home}/memory/target"
        self._store = domain.hypervisor.xenstore
        self._handle: WatchHandle | None = self._store.watch(self.path, self._fired)

    def _fired(self, path: str) -> None:
        try:
            text = self._store.read(self.path)
        except KeyError:
            log.warning("xen:balloon: %s is missing; target unchanged", self.path)
            return
        stripped = text.strip()
        if not _DECIMAL.fullmatch(stripped):
            log.warning("xen:balloon: ignoring unparsable %s = %r", self.path, text)
            return
        pages = int(stripped) >> PAGE_SHIFT_KB
        if pages > MAX_TARGET:
            log.warning("xen:balloon: ignoring absurd %s = %r", self.path, text)
            return
        self._balloon.set_target(pages)

    def unwatch(self) -> None:
        if self._handle is not None:
            self._handle.unwatch()
            self._handle = None
