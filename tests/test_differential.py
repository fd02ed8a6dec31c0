"""The compiled core against the reference core: the same random steps on a C world and a
Python world in one process give identical outcomes and identical state after every step."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule, run_state_machine_as_test
from worlds import GUEST, Steps, World, lockstep_settings

import xenballoon as xb

MIN_DIFF_STEPS = 3_000


class TwoWorlds(Steps):
    """The steps on a C world and a Python world in lockstep."""

    def make_worlds(self, scrub_freed: bool, scrub_pages: bool,
                    batch: int | None) -> list[World]:
        # No skip when the C core is missing: backend="c" raises ImportError and this fails.
        return [World(backend, scrub_freed, scrub_pages, batch) for backend in ("c", "python")]

    def step(self, name: str, *args: Any) -> list[tuple[Any, ...]]:
        c, py = super().step(name, *args)
        assert c == py, f"{name}{args}: the C core gave {c}, the reference core {py}"
        return [c, py]

    @invariant()
    def both_cores_agree(self) -> None:
        if self.worlds:
            c, py = (world.snapshot() for world in self.worlds)
            for key in py:
                assert c[key] == py[key], f"{key} differs: {_difference(c[key], py[key])}"


# Slow (~20 ms a page) so that runs of tens of pages span several steps of `advance`
# (0.004 s to 64 s), with fractions of a nanosecond: both cores must sum them alike.
SLOW = xb.CostModel(hypercall_ns=500_000, populate_ns=20_000_000.5, release_ns=10_000_000.25,
                    scrub_ns=5_000_000, xen_scrub_ns=2_500_000.125, alloc_page_ns=1_250_000,
                    free_page_ns=1_250_000, wakeup_ns=4_000_000, update_va_mapping_ns=3_000_000)


class TwoTimedWorlds(TwoWorlds):
    """The same, on hosts with a cost model: runs span time and interleave with the steps."""

    def make_worlds(self, scrub_freed: bool, scrub_pages: bool,
                    batch: int | None) -> list[World]:
        return [World(backend, scrub_freed, scrub_pages, batch, cost=SLOW)
                for backend in ("c", "python")]

    @rule(i=GUEST, delta=st.integers(-120, 120),
          seconds=st.sampled_from([0.0, 0.001, 0.01, 0.05, 0.2, 1.0]))
    def nudge(self, i: int, delta: int, seconds: float) -> None:
        """A target a little away from where the guest is, then a short while: mid-run."""
        current = self.worlds[0].balloons[i].stats.current_pages
        self.step("set_target", i, max(0, current + delta))
        self.step("advance", seconds)


def _difference(c: Any, py: Any) -> str:
    """Where two observations first differ, briefly."""
    if isinstance(c, (list, tuple)) and isinstance(py, (list, tuple)) and len(c) == len(py):
        i = next(i for i, (a, b) in enumerate(zip(c, py, strict=True)) if a != b)
        return f"at [{i}]: " + _difference(c[i], py[i])
    return f"C {c!r}, reference {py!r}"


def test_c_and_reference_core_agree_step_by_step() -> None:
    """Stats, balloon order, p2m, host pool, data tags and leaks agree after every step."""
    TwoWorlds.runs = TwoWorlds.checks = 0
    run_state_machine_as_test(TwoWorlds, settings=lockstep_settings(max_examples=45))
    assert TwoWorlds.steps() >= MIN_DIFF_STEPS, f"only {TwoWorlds.steps()} steps"


def test_c_and_reference_core_agree_step_by_step_with_a_cost_model() -> None:
    """With a cost model too: every run's turns interleave with the steps identically."""
    TwoTimedWorlds.runs = TwoTimedWorlds.checks = 0
    run_state_machine_as_test(TwoTimedWorlds, settings=lockstep_settings(max_examples=45))
    assert TwoTimedWorlds.steps() >= MIN_DIFF_STEPS, f"only {TwoTimedWorlds.steps()} steps"
