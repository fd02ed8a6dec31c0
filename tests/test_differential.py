"""The compiled core against the reference core: the same random steps on a C world and a
Python world in one process give identical outcomes and identical state after every step."""

from __future__ import annotations

from typing import Any

from hypothesis.stateful import invariant, run_state_machine_as_test
from worlds import Steps, World, lockstep_settings

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
