"""Scenarios: a host, its guests and the toolstack's actions on a simulated timeline.

Today the built-in demo (`demo.run_demo`); room is left for the scenario file format and
building a world from it.
"""

from __future__ import annotations

from .demo import DemoResult, Event, run_demo

__all__ = ["DemoResult", "Event", "run_demo"]
