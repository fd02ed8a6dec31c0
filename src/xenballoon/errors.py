"""The exceptions xenballoon raises: one root, each also the matching builtin."""

from __future__ import annotations


class XenBalloonError(Exception):
    """Base of every error xenballoon raises on purpose."""


class OutOfMemory(XenBalloonError, MemoryError):
    """A request needed more pages than the host or guest has; nothing changed."""


class InvariantError(XenBalloonError, AssertionError):
    """An invariant of the model broke (the kernel would BUG()); names the first one."""
