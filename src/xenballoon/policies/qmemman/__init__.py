"""qmemman, Qubes OS's host memory balancer: `algo` (the algorithms) and `daemon`
(qmemmand and its ``SystemState``: the host view, balancing, ballooning for a VM start)."""

from __future__ import annotations

from .algo import (
    NO_PROGRESS_MSG,
    SLOW_MEMSET_REACT_MSG,
    DomainState,
    Prefs,
    balance,
    balloon,
)
from .daemon import Qmemman, create_xs_entries

__all__ = ["NO_PROGRESS_MSG", "SLOW_MEMSET_REACT_MSG", "DomainState", "Prefs", "Qmemman",
           "balance", "balloon", "create_xs_entries"]
