"""A workload whose demand never changes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import pages

__all__ = ["Constant"]


class Constant:
    """``anon`` pages of anonymous demand and ``file`` pages of file working set, always."""

    def __init__(self, anon: int = 0, file: int = 0) -> None:
        self.anon = pages(anon, "anon")
        self.file = pages(file, "file")

    def demand(self, t: float) -> tuple[int, int]:
        return self.anon, self.file

    @classmethod
    def batch(cls, workloads: Sequence[Constant]) -> ConstantBatch:
        return ConstantBatch(workloads)

    def __repr__(self) -> str:
        return f"Constant(anon={self.anon}, file={self.file})"


class ConstantBatch:
    """Constant demands: two copies per step."""

    def __init__(self, workloads: Sequence[Constant]) -> None:
        self.anon = np.array([w.anon for w in workloads], dtype=np.uint64)
        self.file = np.array([w.file for w in workloads], dtype=np.uint64)

    def demand(self, t: np.ndarray, anon: np.ndarray, file: np.ndarray) -> None:
        anon[:] = self.anon
        file[:] = self.file

    def sync(self) -> None:
        """Stateless."""
