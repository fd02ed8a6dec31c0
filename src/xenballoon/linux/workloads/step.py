"""A workload whose demand changes once, at a given time."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import pages, seconds

__all__ = ["Step"]


class Step:
    """(``anon``, ``file``) pages before ``at`` seconds, (``anon_after``, ``file_after``)
    from then on (each defaults to its value before)."""

    def __init__(self, anon: int = 0, file: int = 0, *, at: float, anon_after: int | None = None,
                 file_after: int | None = None) -> None:
        self.anon = pages(anon, "anon")
        self.file = pages(file, "file")
        self.at = seconds(at, "at")
        self.anon_after = self.anon if anon_after is None else pages(anon_after, "anon_after")
        self.file_after = self.file if file_after is None else pages(file_after, "file_after")

    def demand(self, t: float) -> tuple[int, int]:
        if t < self.at:
            return self.anon, self.file
        return self.anon_after, self.file_after

    @classmethod
    def batch(cls, workloads: Sequence[Step]) -> StepBatch:
        return StepBatch(workloads)

    def __repr__(self) -> str:
        return (f"Step(anon={self.anon}, file={self.file}, at={self.at}, "
                f"anon_after={self.anon_after}, file_after={self.file_after})")


class StepBatch:
    """Steps evaluated with one comparison across guests."""

    def __init__(self, workloads: Sequence[Step]) -> None:
        def column(name: str) -> np.ndarray:
            return np.array([getattr(w, name) for w in workloads], dtype=np.uint64)

        self.at = np.array([w.at for w in workloads], dtype=np.float64)
        self.before = column("anon"), column("file")
        self.after = column("anon_after"), column("file_after")

    def demand(self, t: np.ndarray, anon: np.ndarray, file: np.ndarray) -> None:
        later = t >= self.at
        np.copyto(anon, np.where(later, self.after[0], self.before[0]))
        np.copyto(file, np.where(later, self.after[1], self.before[1]))

    def sync(self) -> None:
        """Stateless."""
