"""A workload whose anonymous demand takes a seeded random walk."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...errors import InvalidArgument
from .base import pages, seconds

__all__ = ["RandomWalk"]

BLOCK = 256  # moves drawn at a time from a walk's generator


class RandomWalk:
    """Anonymous demand starting at ``anon`` pages that moves ``step`` pages up or down
    (equally likely) every ``every`` seconds, kept within ``[min, max]``; file working set
    ``file`` pages.  ``seed`` makes the walk repeatable (numpy's default generator).

    The walk is a function of the moves made so far: at time t it has made
    ``floor(t / every)`` moves, however often it is asked.
    """

    def __init__(self, anon: int = 0, file: int = 0, *, step: int, min: int = 0,  # noqa: A002
                 max: int | None = None, seed: int | None = None,  # noqa: A002
                 every: float = 1.0) -> None:
        self.anon = pages(anon, "anon")
        self.file = pages(file, "file")
        self.step = pages(step, "step")
        if self.step == 0:
            raise InvalidArgument("step must be at least 1 page")
        self.min = pages(min, "min")
        self.max = None if max is None else pages(max, "max")
        if self.max is not None and self.max < self.min:
            raise InvalidArgument(f"max ({self.max}) must be at least min ({self.min})")
        self.seed = None if seed is None else pages(seed, "seed")
        self.every = seconds(every, "every", positive=True)
        self.value = self.anon
        self.moves = 0
        self._rng = np.random.default_rng(self.seed)
        self._block = self._draw()
        self._next = 0

    def _draw(self) -> np.ndarray:
        return self._rng.integers(0, 2, size=BLOCK, dtype=np.int64) * 2 - 1

    def _move(self) -> int:
        if self._next == BLOCK:
            self._block, self._next = self._draw(), 0
        sign = int(self._block[self._next])
        self._next += 1
        return sign

    @property
    def high(self) -> int:
        return (1 << 62) if self.max is None else self.max

    def demand(self, t: float) -> tuple[int, int]:
        target = int(t // self.every)
        while self.moves < target:
            self.value = min(self.high, max(self.min, self.value + self.step * self._move()))
            self.moves += 1
        return self.value, self.file

    @classmethod
    def batch(cls, workloads: Sequence[RandomWalk]) -> RandomWalkBatch:
        return RandomWalkBatch(workloads)

    def __repr__(self) -> str:
        return (f"RandomWalk(anon={self.anon}, file={self.file}, step={self.step}, "
                f"min={self.min}, max={self.max}, seed={self.seed}, every={self.every})")


class RandomWalkBatch:
    """Walks moved together: one numpy update per step across guests.

    Each walk keeps drawing from its own generator in blocks, so a walk moves exactly as
    it would alone; `sync` writes the positions back into the walks.
    """

    def __init__(self, workloads: Sequence[RandomWalk]) -> None:
        self.walks = list(workloads)
        n = len(self.walks)
        self.value = np.array([w.value for w in self.walks], dtype=np.int64)
        self.moves = np.array([w.moves for w in self.walks], dtype=np.int64)
        self.step = np.array([w.step for w in self.walks], dtype=np.int64)
        self.low = np.array([w.min for w in self.walks], dtype=np.int64)
        self.high = np.array([w.high for w in self.walks], dtype=np.int64)
        self.every = np.array([w.every for w in self.walks], dtype=np.float64)
        self.file = np.array([w.file for w in self.walks], dtype=np.uint64)
        self.blocks = np.zeros((n, BLOCK), dtype=np.int64)
        self.next = np.zeros(n, dtype=np.int64)
        self.rows = np.arange(n)
        for i, w in enumerate(self.walks):
            self.blocks[i] = w._block
            self.next[i] = w._next

    def _refill(self, rows: np.ndarray) -> None:
        for i in rows.tolist():
            self.blocks[i] = self.walks[i]._draw()
            self.next[i] = 0

    def demand(self, t: np.ndarray, anon: np.ndarray, file: np.ndarray) -> None:
        target = (t // self.every).astype(np.int64)
        while True:
            behind = self.moves < target
            if not behind.all():
                if not behind.any():
                    break
                rows = self.rows[behind]
            else:
                rows = self.rows
            spent = self.next[rows] == BLOCK
            if spent.any():
                self._refill(rows[spent])
            sign = self.blocks[rows, self.next[rows]]
            self.next[rows] += 1
            self.value[rows] = np.minimum(self.high[rows], np.maximum(
                self.low[rows], self.value[rows] + self.step[rows] * sign))
            self.moves[rows] += 1
        np.copyto(anon, self.value, casting="unsafe")
        file[:] = self.file

    def sync(self) -> None:
        for i, w in enumerate(self.walks):
            w.value = int(self.value[i])
            w.moves = int(self.moves[i])
            w._block = self.blocks[i].copy()
            w._next = int(self.next[i])
