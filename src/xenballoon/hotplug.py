"""How the driver finds memory when the balloon is empty: ``reserve_additional_memory``.

A strategy object, so the worker loop does not branch on the configuration (as the
seed swaps in a stub of the same signature when hotplug is not built in).
"""

from __future__ import annotations

from typing import Any

from ._pycore import BP_ECANCELED

__all__ = ["NoHotplug"]


class NoHotplug:
    """Without CONFIG_XEN_BALLOON_MEMORY_HOTPLUG: clamp the target and give up."""

    name = "none"

    def __init__(self, stats: Any) -> None:
        self._stats = stats

    def reserve_additional_memory(self) -> int:
        """The target is out of reach: settle for what is populated (plus handed-out pages)."""
        s = self._stats
        s.target_pages = s.current_pages + s.target_unpopulated
        return BP_ECANCELED
