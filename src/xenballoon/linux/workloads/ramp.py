"""A workload whose demand moves linearly from one level to another."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import pages, seconds

__all__ = ["Ramp"]


class Ramp:
    """(``anon``, ``file``) pages until ``at``, then a straight line reaching (``anon_to``,
    ``file_to``) ``over`` seconds later, and those from then on (pages rounded down)."""

    def __init__(self, anon: int = 0, file: int = 0, *, over: float, at: float = 0.0,
                 anon_to: int | None = None, file_to: int | None = None) -> None:
        self.anon = pages(anon, "anon")
        self.file = pages(file, "file")
        self.over = seconds(over, "over", positive=True)
        self.at = seconds(at, "at")
        self.anon_to = self.anon if anon_to is None else pages(anon_to, "anon_to")
        self.file_to = self.file if file_to is None else pages(file_to, "file_to")

    def _fraction(self, t: float) -> float:
        return min(1.0, max(0.0, (t - self.at) / self.over))

    def demand(self, t: float) -> tuple[int, int]:
        x = self._fraction(t)
        return (int(self.anon + (self.anon_to - self.anon) * x),
                int(self.file + (self.file_to - self.file) * x))

    @classmethod
    def batch(cls, workloads: Sequence[Ramp]) -> RampBatch:
        return RampBatch(workloads)

    def __repr__(self) -> str:
        return (f"Ramp(anon={self.anon}, file={self.file}, over={self.over}, at={self.at}, "
                f"anon_to={self.anon_to}, file_to={self.file_to})")


class RampBatch:
    """Ramps evaluated with numpy across guests (the same float arithmetic as `Ramp`)."""

    def __init__(self, workloads: Sequence[Ramp]) -> None:
        def column(name: str) -> np.ndarray:
            return np.array([float(getattr(w, name)) for w in workloads], dtype=np.float64)

        self.at, self.over = column("at"), column("over")
        self.anon, self.file = column("anon"), column("file")
        self.anon_span = column("anon_to") - self.anon
        self.file_span = column("file_to") - self.file

    def demand(self, t: np.ndarray, anon: np.ndarray, file: np.ndarray) -> None:
        x = np.clip((t - self.at) / self.over, 0.0, 1.0)
        np.copyto(anon, np.trunc(self.anon + self.anon_span * x), casting="unsafe")
        np.copyto(file, np.trunc(self.file + self.file_span * x), casting="unsafe")

    def sync(self) -> None:
        """Stateless."""
