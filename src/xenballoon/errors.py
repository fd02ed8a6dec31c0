"""The exceptions xenballoon raises: one root, each also the matching builtin (pynacl-style).

Conversion lives here: `ensure` raises the right class for a failed check, and
`status_error` turns a core's negative status code into the right exception.
"""

from __future__ import annotations

import errno
from typing import NoReturn

__all__ = ["InvalidArgument", "InvalidType", "InvariantError", "OutOfMemory", "ReentrancyError",
           "XenBalloonError", "ensure", "raise_status", "status_error"]


class XenBalloonError(Exception):
    """Base of every error xenballoon raises on purpose."""


class InvalidArgument(XenBalloonError, ValueError):
    """An argument has the right type but a bad value; nothing changed."""


class InvalidType(XenBalloonError, TypeError):
    """An argument has the wrong type; nothing changed."""


class OutOfMemory(XenBalloonError, MemoryError):
    """A request needed more pages than the host or guest has; nothing changed."""


class InvariantError(XenBalloonError, AssertionError):
    """An invariant of the model broke (the kernel would BUG()); names the first one."""


class ReentrancyError(XenBalloonError, RuntimeError):
    """A call that may not be nested was made from inside itself (``Simulation.run`` from an
    event); nothing changed."""


def ensure(cond: object, message: str, *,
           raising: type[XenBalloonError] = InvalidArgument) -> None:
    """Raise ``raising(message)`` unless ``cond`` holds (the one place checks become errors)."""
    if not cond:
        raise raising(message)


def status_error(rc: int, message: str) -> XenBalloonError:
    """The exception for a core's negative status ``rc`` (the kernel's ``-errno``).

    ``-ENOMEM``: `OutOfMemory` (a shortfall, nothing changed); ``-EINVAL``: `InvalidArgument`;
    anything else (the cores' ``BUG``, -1): `InvariantError`, as the kernel would BUG().
    """
    if rc == -errno.ENOMEM:
        return OutOfMemory(message)
    if rc == -errno.EINVAL:
        return InvalidArgument(message)
    return InvariantError(message)


def raise_status(rc: int, message: str) -> NoReturn:
    """``raise status_error(rc, message)``."""
    raise status_error(rc, message)
