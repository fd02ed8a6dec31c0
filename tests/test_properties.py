"""Random sequences of every operation, faults included, on a small host: after each step
the hypervisor and every guest check out, and what the model handed out is what they hold."""

from __future__ import annotations

from hypothesis.stateful import run_state_machine_as_test
from worlds import MIN_STEPS, Steps, World, lockstep_settings

import xenballoon as xb


class OneWorld(Steps):
    """The steps on one world, on the backend this test run selected."""

    def make_worlds(self, scrub_freed: bool, scrub_pages: bool,
                    batch: int | None) -> list[World]:
        return [World(None, scrub_freed, scrub_pages, batch)]


def test_random_steps_keep_every_invariant() -> None:
    """At least 10,000 random steps: no frame lost, no state broken, no leak while scrubbing."""
    OneWorld.runs = OneWorld.checks = 0
    run_state_machine_as_test(OneWorld, settings=lockstep_settings(max_examples=150))
    assert OneWorld.steps() >= MIN_STEPS, f"only {OneWorld.steps()} steps on {xb.BACKEND}"
