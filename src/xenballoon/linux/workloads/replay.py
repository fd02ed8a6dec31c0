"""A workload that replays a recorded trace of demand."""

from __future__ import annotations

import csv
import os
from typing import Any

import numpy as np

from ...errors import InvalidArgument

__all__ = ["Replay"]

COLUMNS = ("time", "anon", "file")


class Replay:
    """Demand recorded at ``times`` (seconds, increasing, the first 0): from each time on,
    ``anon[i]`` pages of anonymous demand and ``file[i]`` pages of file working set, until
    the next.  With ``loop`` the trace starts over every ``times[-1]`` seconds (its last
    sample then begins the next round as the first does); without, the last sample holds.

    `Replay.from_csv` reads a file with the header ``time,anon,file`` (seconds, pages).
    """

    def __init__(self, times: Any, anon: Any, file: Any, *, loop: bool = False) -> None:
        self.times = _column(times, "times", np.float64)
        self.anon = _column(anon, "anon", np.uint64)
        self.file = _column(file, "file", np.uint64)
        if not len(self.times) == len(self.anon) == len(self.file):
            raise InvalidArgument(f"times, anon and file differ in length: {len(self.times)}, "
                                  f"{len(self.anon)}, {len(self.file)}")
        if len(self.times) == 0:
            raise InvalidArgument("a trace needs at least one sample")
        if self.times[0] != 0.0 or np.any(np.diff(self.times) <= 0):
            raise InvalidArgument("times must start at 0 and increase")
        if not isinstance(loop, bool):
            raise InvalidArgument(f"loop must be a bool, got {loop!r}")
        self.loop = loop and self.times[-1] > 0

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str], *, loop: bool = False) -> Replay:
        """A trace from a CSV file with the columns ``time,anon,file``."""
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows or tuple(cell.strip() for cell in rows[0]) != COLUMNS:
            raise InvalidArgument(f"{os.fspath(path)}: the first line must be "
                                  f"{','.join(COLUMNS)}")
        body = [row for row in rows[1:] if row]
        try:
            times = [float(row[0]) for row in body]
            anon = [int(row[1]) for row in body]
            file = [int(row[2]) for row in body]
        except (IndexError, ValueError) as exc:
            raise InvalidArgument(f"{os.fspath(path)}: each line must be a time in seconds "
                                  f"and two page counts: {exc}") from None
        return cls(times, anon, file, loop=loop)

    def demand(self, t: float) -> tuple[int, int]:
        if self.loop:
            t = t % float(self.times[-1])
        i = int(np.searchsorted(self.times, t, side="right")) - 1
        return int(self.anon[i]), int(self.file[i])

    def __repr__(self) -> str:
        return f"Replay({len(self.times)} samples over {self.times[-1]} s, loop={self.loop})"


def _column(values: Any, name: str, dtype: type) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{name} must be a 1-D sequence of numbers: {exc}") from None
    if array.ndim != 1 or not np.all(np.isfinite(array)) or np.any(array < 0):
        raise InvalidArgument(f"{name} must be a 1-D sequence of finite non-negative numbers")
    if dtype is np.uint64 and np.any(array != np.trunc(array)):
        raise InvalidArgument(f"{name} must hold whole pages")
    return array.astype(dtype)
