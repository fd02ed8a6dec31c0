"""Scenario files: the format (`spec`), building a world (`build`), the timeline (`events`),
running and summarising (`run`), and the built-in examples (`examples`)."""

from __future__ import annotations

from .run import Result, run_scenario
from .spec import ScenarioError, ScenarioSpec, load_spec

__all__ = ["Result", "ScenarioError", "ScenarioSpec", "load_spec", "run_scenario"]
