"""The xenstore node: compiled (not tracked by the cyclic collector) or the plain-Python twin.

A host of 10,000 domains holds some 80,000 nodes; as Python objects each is walked by every
full collection.  A node holds only a str or None, a tuple of (int, int) tuples, an int and
a dict of str keys: nothing that can lead back to a node, so it can never be part of a
reference cycle and need not be tracked.  ``csrc/xenstore/node.c`` is such a node, with
the semantics of ``pynode`` (read it).  ``XENBALLOON_BACKEND`` chooses, as it does for the
core and the clock: ``python`` selects the twin, anything else the compiled node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core import BACKEND

__all__ = ["NO_CHILDREN", "Node"]

if TYPE_CHECKING or BACKEND == "python":
    from .pynode import NO_CHILDREN, Node
else:
    try:
        from ._node import NO_CHILDREN, Node
    except ImportError as exc:
        raise ImportError(
            "xenballoon's compiled xenstore node (xenballoon.xen.xenstore._node) is missing or "
            f"broken: {exc}. Reinstall with `pip install .`, or set XENBALLOON_BACKEND=python "
            "to use the plain-Python node.") from exc
