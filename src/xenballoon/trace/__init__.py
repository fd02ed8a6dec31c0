"""Traces of a run: recording (`recorder`), writing (`io`) and plotting (`plot`)."""

from __future__ import annotations

from .io import Event, MissingExtra, Trace

__all__ = ["Event", "MissingExtra", "Trace"]
