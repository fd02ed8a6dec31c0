"""Choose the core at import: ``XENBALLOON_BACKEND=c`` (default) or ``python``."""

from __future__ import annotations

import os
from types import ModuleType

BACKENDS = ("c", "python")


def load(name: str | None = None) -> ModuleType:
    """The core module for ``name`` ("c" or "python"); None: the default backend."""
    if name is None:
        return core
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; valid values are: {', '.join(BACKENDS)}")
    return _load(name)[1]


def _load(name: str) -> tuple[str, ModuleType]:
    if name == "c":
        try:
            from . import _ccore
        except ImportError as exc:
            raise ImportError(
                "xenballoon's compiled core (xenballoon._core) is missing or broken: "
                f"{exc}. Reinstall with `pip install .`, or set XENBALLOON_BACKEND=python "
                "to use the pure-Python reference core."
            ) from exc
        return name, _ccore
    if name == "python":
        from . import _pycore

        return name, _pycore
    raise ImportError(
        f"unknown xenballoon backend {name!r} (XENBALLOON_BACKEND); "
        f"valid values are: {', '.join(BACKENDS)}"
    )


BACKEND, core = _load(os.environ.get("XENBALLOON_BACKEND", "c").strip().lower() or "c")
