"""A workload whose anonymous demand oscillates: a sine or a square wave."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...errors import InvalidArgument
from .base import pages, seconds

__all__ = ["Periodic"]

SHAPES = ("sine", "square")


class Periodic:
    """Anonymous demand ``anon + amplitude * wave(t / period)`` pages (never below 0,
    rounded down), file working set ``file`` pages.

    ``shape="sine"``: ``sin(2 pi t / period)``; ``"square"``: +1 for the first half of
    each period, -1 for the second.
    """

    def __init__(self, anon: int = 0, file: int = 0, *, period: float, amplitude: int,
                 shape: str = "sine") -> None:
        self.anon = pages(anon, "anon")
        self.file = pages(file, "file")
        self.period = seconds(period, "period", positive=True)
        self.amplitude = pages(amplitude, "amplitude")
        if shape not in SHAPES:
            raise InvalidArgument(f"shape must be one of {', '.join(SHAPES)}, got {shape!r}")
        self.shape = shape

    def demand(self, t: float) -> tuple[int, int]:
        # One code path with the batch (numpy's sin), so both give the same pages.
        anon = np.zeros(1, dtype=np.uint64)
        PeriodicBatch([self]).demand(np.array([t], dtype=np.float64), anon, anon[:0])
        return int(anon[0]), self.file

    @classmethod
    def batch(cls, workloads: Sequence[Periodic]) -> PeriodicBatch:
        return PeriodicBatch(workloads)

    def __repr__(self) -> str:
        return (f"Periodic(anon={self.anon}, file={self.file}, period={self.period}, "
                f"amplitude={self.amplitude}, shape={self.shape!r})")


class PeriodicBatch:
    """Waves evaluated with numpy across guests."""

    def __init__(self, workloads: Sequence[Periodic]) -> None:
        self.anon = np.array([float(w.anon) for w in workloads], dtype=np.float64)
        self.file = np.array([w.file for w in workloads], dtype=np.uint64)
        self.period = np.array([w.period for w in workloads], dtype=np.float64)
        self.amplitude = np.array([float(w.amplitude) for w in workloads], dtype=np.float64)
        self.square = np.array([w.shape == "square" for w in workloads], dtype=bool)

    def demand(self, t: np.ndarray, anon: np.ndarray, file: np.ndarray) -> None:
        phase = t / self.period
        wave = np.where(self.square, np.where(phase % 1.0 < 0.5, 1.0, -1.0),
                        np.sin(2.0 * np.pi * phase))
        np.copyto(anon, np.trunc(np.maximum(self.anon + self.amplitude * wave, 0.0)),
                  casting="unsafe")
        if len(file):
            file[:] = self.file

    def sync(self) -> None:
        """Stateless."""
