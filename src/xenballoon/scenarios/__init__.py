"""Scenarios: a host, its guests and a timeline of events, from a file or a dict.

The file format (`spec`, its checks in `checks`, its values in `values`), building a world
(`build`), the timeline's actions (`events`), running and summarising (`run`), and the
built-in scenarios (`examples`, ``demo`` among them).
"""

from __future__ import annotations

from .load import load_spec
from .run import Result, ScenarioRun, run_scenario
from .spec import ScenarioError, ScenarioSpec

__all__ = ["Result", "ScenarioError", "ScenarioRun", "ScenarioSpec", "load_spec", "run_scenario"]
