"""The simulated clock: a deterministic discrete-event loop (jiffies, timers).

Two interchangeable implementations of one semantics: ``cloop``, the compiled event loop
(``csrc/sim/clock.c``; the default), and ``pyloop``, the reference twin in plain Python
(read it for the semantics).  ``XENBALLOON_BACKEND`` chooses, as it does for the core:
``python`` selects the plain-Python clock and delayed work, anything else the compiled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import BACKEND

__all__ = ["Simulation", "Timer"]

if TYPE_CHECKING or BACKEND == "python":
    from .pyloop import Simulation, Timer
else:
    try:
        from .cloop import Simulation, Timer
    except ImportError as exc:
        raise ImportError(
            "xenballoon's compiled event loop (xenballoon.sim._clock) is missing or broken: "
            f"{exc}. Reinstall with `pip install .`, or set XENBALLOON_BACKEND=python to use "
            "the plain-Python clock.") from exc
