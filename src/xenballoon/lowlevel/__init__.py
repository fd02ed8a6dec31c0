"""Xen's Python bindings, ``xen.lowlevel.xc`` and ``xen.lowlevel.xs``, for a simulated host.

``install(hv)`` is a context manager under which existing dom0 Python code runs unchanged
against ``hv`` in simulated time::

    with xenballoon.lowlevel.install(hv):
        import xen.lowlevel.xc, xen.lowlevel.xs
        xc = xen.lowlevel.xc.xc()
        xc.domain_getinfo()           # the simulated domains, memory in KiB
        time.sleep(0.1)               # advances the simulation by 0.1 s

Inside it, ``sys.modules`` holds the modules ``xen``, ``xen.lowlevel``,
``xen.lowlevel.xc`` (``xc``, ``Error``) and ``xen.lowlevel.xs`` (``xs``, ``Error``), and
``time.sleep`` / ``time.time`` / ``time.monotonic`` follow the simulation: ``sleep(s)``
runs the Simulation for ``s`` seconds, ``time()`` is ``epoch + now`` and ``monotonic()`` is
``now``.  On exit every one of those entries and attributes is put back exactly as it was
(an entry that was absent is removed again).  Code that bound ``from time import sleep``
before entering keeps the real function.  The dom0 code runs outside the Simulation's
events (its sleeps drive the Simulation); a host balancer running *inside* them uses
`xenballoon.policies` instead.

The objects themselves (`Xc`, `Xs`, and ``bind(hv)`` which makes the argument-less classes)
live in `xenballoon.lowlevel.xc` and `xenballoon.lowlevel.xs`.
"""

from __future__ import annotations

import math
import sys
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgument, InvalidType
from . import xc as _xc_mod
from . import xs as _xs_mod
from .xc import Xc
from .xs import Xs

if TYPE_CHECKING:
    from ..xen.hypervisor import Hypervisor

__all__ = ["install", "modules", "Xc", "Xs"]

MODULE_NAMES = ("xen", "xen.lowlevel", "xen.lowlevel.xc", "xen.lowlevel.xs")
TIME_NAMES = ("sleep", "time", "monotonic")
_ABSENT = object()


def modules(hv: Hypervisor) -> dict[str, types.ModuleType]:
    """The four modules ``install`` puts in ``sys.modules``, bound to ``hv``."""
    xen = types.ModuleType("xen", "Xen's Python tools (simulated by xenballoon)")
    xen.__path__ = []
    lowlevel = types.ModuleType("xen.lowlevel", "Xen's C bindings (simulated by xenballoon)")
    lowlevel.__path__ = []
    xc = types.ModuleType("xen.lowlevel.xc", _xc_mod.__doc__)
    xc.xc = _xc_mod.bind(hv)  # type: ignore[attr-defined]
    xc.Error = _xc_mod.Error  # type: ignore[attr-defined]
    xs = types.ModuleType("xen.lowlevel.xs", _xs_mod.__doc__)
    xs.xs = _xs_mod.bind(hv)  # type: ignore[attr-defined]
    xs.Error = _xs_mod.Error  # type: ignore[attr-defined]
    xen.lowlevel = lowlevel  # type: ignore[attr-defined]
    lowlevel.xc = xc  # type: ignore[attr-defined]
    lowlevel.xs = xs  # type: ignore[attr-defined]
    return {"xen": xen, "xen.lowlevel": lowlevel, "xen.lowlevel.xc": xc,
            "xen.lowlevel.xs": xs}


def _clock(hv: Hypervisor, epoch: float) -> dict[str, Any]:
    sim = hv.sim

    def sleep(seconds: float) -> None:
        """``time.sleep`` in simulated time: run the Simulation for ``seconds``."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise InvalidType(f"sleep length must be a number, not {type(seconds).__name__}")
        if math.isnan(seconds) or seconds < 0:
            raise InvalidArgument("sleep length must be non-negative")
        if sim.running:
            raise RuntimeError("time.sleep inside a Simulation event would run the simulation "
                               "re-entrantly: dom0 code runs outside its events")
        sim.advance(seconds)

    def now() -> float:
        """``time.time`` in simulated time: ``epoch + sim.now``."""
        return epoch + sim.now

    def monotonic() -> float:
        """``time.monotonic`` in simulated time: ``sim.now``."""
        return sim.now

    return {"sleep": sleep, "time": now, "monotonic": monotonic}


@contextmanager
def install(hv: Hypervisor, *, epoch: float = 0.0) -> Iterator[dict[str, types.ModuleType]]:
    """Make ``import xen.lowlevel.xc`` / ``xs`` and ``time`` refer to ``hv`` until exit.

    Yields the installed modules.  Nesting is allowed: each exit restores what its entry
    found.
    """
    from ..xen.hypervisor import Hypervisor

    if not isinstance(hv, Hypervisor):
        raise InvalidType(f"hv must be a Hypervisor, not {type(hv).__name__}")
    if isinstance(epoch, bool) or not isinstance(epoch, (int, float)) or not math.isfinite(
            epoch):
        raise InvalidArgument(f"epoch must be a finite number of seconds, got {epoch!r}")
    new = modules(hv)
    saved_modules = {name: sys.modules.get(name, _ABSENT) for name in MODULE_NAMES}
    saved_time = {name: getattr(time, name) for name in TIME_NAMES}
    sys.modules.update(new)
    for name, fn in _clock(hv, float(epoch)).items():
        setattr(time, name, fn)
    try:
        yield new
    finally:
        for name, fn in saved_time.items():
            setattr(time, name, fn)
        for name, module in saved_modules.items():
            if module is _ABSENT:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module  # type: ignore[assignment]
