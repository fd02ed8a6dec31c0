"""What a workload is: anonymous demand and a file working set, in pages, over time.

A workload stands for the programs of a guest.  `Workload.demand` says, at ``t`` seconds
after the workload started, how many pages of anonymous memory it wants resident (its
processes' heaps and stacks: only the workload, swap or the OOM killer free them) and how
many pages of files it reads over and over (its file working set: what it would like the
page cache to hold).  The guest applies one demand per step (`Guest.run_workload`); how
the kernel meets it, short of memory, is the core's (``csrc/vmscan.c``).

Any object with a ``demand(t) -> (anon, file)`` method is a workload: users plug in their
own.  A workload class may add a classmethod ``batch(workloads) -> Batch`` to compute
the demands of many instances at once (numpy across guests); without it the stepper
asks each instance in turn (`ScalarBatch`).  A workload instance is stepped by one
guest; while attached, its state belongs to the stepper.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ... import _validate
from ...errors import InvalidArgument, InvalidType

__all__ = ["Batch", "ScalarBatch", "Workload", "batch_of", "pages", "seconds"]


@runtime_checkable
class Workload(Protocol):
    """Anything with ``demand(t)``: (anonymous pages, file working-set pages) at time t."""

    def demand(self, t: float) -> tuple[int, int]:
        """Pages wanted ``t`` seconds after the workload started (t only grows)."""
        ...


class Batch(Protocol):
    """The demands of several workloads of one class, computed together."""

    def demand(self, t: np.ndarray, anon: np.ndarray, file: np.ndarray) -> None:
        """Fill ``anon[i]``, ``file[i]`` (uint64) for member i at its elapsed time ``t[i]``."""
        ...

    def sync(self) -> None:
        """Write any state the batch advanced back into its members."""
        ...


class ScalarBatch:
    """Any workloads, asked one at a time (the fallback for classes without ``batch``)."""

    def __init__(self, workloads: Sequence[Workload]) -> None:
        self.workloads = list(workloads)

    def demand(self, t: np.ndarray, anon: np.ndarray, file: np.ndarray) -> None:
        for i, w in enumerate(self.workloads):
            a, f = w.demand(float(t[i]))
            anon[i] = a
            file[i] = f

    def sync(self) -> None:
        """Nothing to write back: each member kept its own state."""


def batch_of(workloads: Sequence[Workload]) -> Batch:
    """A `Batch` for workloads of one class: the class's own, else a `ScalarBatch`."""
    make = getattr(type(workloads[0]), "batch", None)
    return ScalarBatch(workloads) if make is None else make(workloads)


def pages(value: Any, name: str) -> int:
    """A page count parameter (pages, not bytes): a non-negative integer."""
    return _validate.as_count(value, name)


def seconds(value: Any, name: str, *, positive: bool = False) -> float:
    """A time parameter in seconds: a finite non-negative (or positive) number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidType(f"{name} must be a number of seconds, not "
                                    f"{type(value).__name__}")
    number = float(value)
    if not np.isfinite(number) or number < 0 or (positive and number == 0):
        need = "positive" if positive else "non-negative"
        raise InvalidArgument(f"{name} must be a finite {need} number of seconds, "
                                        f"got {value!r}")
    return number
