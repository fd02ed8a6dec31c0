"""The core: the per-page state and the steps of balloon.c over it, with no policy.

Two interchangeable backends implement the same functions over the same array layout:
``_c`` (the C in ``csrc/`` through cffi; the default) and ``_py`` (the reference core in
plain Python, one module per C file; the oracle the C is tested against).  ``abi`` holds
the constants both share with ``csrc/xb_api.h``.  Return conventions are the C ones:
status codes and counts, never exceptions; the layers above raise.

The backend is chosen at import: ``XENBALLOON_BACKEND=c`` (default) or ``python``.
"""

from __future__ import annotations

import os
from types import ModuleType

from ..errors import InvalidArgument

BACKENDS = ("c", "python")


def load(name: str | None = None) -> ModuleType:
    """The core module for ``name`` ("c" or "python"); None: the default backend."""
    if name is None:
        return core
    if name not in BACKENDS:
        raise InvalidArgument(f"unknown backend {name!r}; valid values are: {', '.join(BACKENDS)}")
    return _load(name)[1]


def _load(name: str) -> tuple[str, ModuleType]:
    if name == "c":
        try:
            from . import _c
        except ImportError as exc:
            raise ImportError(
                "xenballoon's compiled core (xenballoon._core) is missing or broken: "
                f"{exc}. Reinstall with `pip install .`, or set XENBALLOON_BACKEND=python "
                "to use the pure-Python reference core."
            ) from exc
        return name, _c
    if name == "python":
        from . import _py

        return name, _py
    raise ImportError(
        f"unknown xenballoon backend {name!r} (XENBALLOON_BACKEND); "
        f"valid values are: {', '.join(BACKENDS)}"
    )


BACKEND, core = _load(os.environ.get("XENBALLOON_BACKEND", "c").strip().lower() or "c")
