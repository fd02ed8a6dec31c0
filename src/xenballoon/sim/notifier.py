"""Notifier chains (``kernel/notifier.c``): how lower layers tell upper ones, not importing them.

A lower object (a domain, a guest's memory hotplug) owns a chain; an upper one (the guest,
the balloon driver) registers a callback on it.  The lower object calls the chain and never
knows who listens, so every import arrow points down.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from ..errors import InvalidType

__all__ = ["NOTIFY_DONE", "NOTIFY_OK", "NotifierChain"]

NOTIFY_DONE = 0  # include/linux/notifier.h: not interested
NOTIFY_OK = 1    # handled

F = TypeVar("F", bound=Callable[..., object])


class NotifierChain(Generic[F]):
    """``struct blocking_notifier_head``: callbacks called in the order registered."""

    __slots__ = ("name", "_callbacks")

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._callbacks: list[F] = []

    def register(self, callback: F) -> Callable[[], None]:
        """``blocking_notifier_chain_register``; returns the matching unregister callable."""
        if not callable(callback):
            raise InvalidType("callback must be callable")
        self._callbacks.append(callback)

        def unregister() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unregister

    def call_chain(self, *args: object) -> list[object]:
        """``blocking_notifier_call_chain``: call each callback in turn; their results.

        The callbacks registered when the call starts are called (a snapshot).
        """
        callbacks = self._callbacks
        if not callbacks:  # the common case of a worker run nobody listens to: no copies
            return []
        return [callback(*args) for callback in tuple(callbacks)]

    def register_once(self, callback: F) -> None:
        """Register ``callback`` unless it is registered already (a function shared by
        every object of a kind, on a chain they share)."""
        if callback not in self._callbacks:
            self.register(callback)

    def __contains__(self, callback: object) -> bool:
        return callback in self._callbacks

    def __len__(self) -> int:
        return len(self._callbacks)

    def __repr__(self) -> str:
        return f"<NotifierChain {self.name!r}: {len(self._callbacks)} registered>"
