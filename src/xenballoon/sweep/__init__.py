"""Sweeps: a scenario run over a grid of parameters and seeds, on Dask or an executor.

``xb.sweep(scenario, vary={"policy.name": ["qmemman", "squeezed"]}, seeds=4)`` returns a
pandas DataFrame with one row per run (`table`).  The grid (`grid`) is every combination of
the varied values times the seeds; the runs go out in batches (`runner`) to a dask Client, a
``concurrent.futures`` executor, or a local Dask cluster made for the sweep.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .api import sweep
from .grid import Grid, KeyPath, SweepError, parse_value, parse_vary

__all__ = ["Grid", "KeyPath", "SweepError", "parse_value", "parse_vary", "sweep"]


class _CallableModule(types.ModuleType):
    """``xenballoon.sweep`` is both this package and the function ``xb.sweep(...)``: the
    import system binds the package to that name, so the package calls the function."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
