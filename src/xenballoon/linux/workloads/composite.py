"""A workload made of others: their demands add up."""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import InvalidArgument, InvalidType
from .base import Workload, pages

__all__ = ["Composite"]


class Composite:
    """The sum of ``parts`` (each a workload with its own clock from the same start), plus
    ``anon`` and ``file`` pages of constant demand."""

    def __init__(self, parts: Sequence[Workload], *, anon: int = 0, file: int = 0) -> None:
        self.parts = list(parts)
        if not self.parts:
            raise InvalidArgument("a composite workload needs at least one part")
        for i, part in enumerate(self.parts):
            if not isinstance(part, Workload):
                raise InvalidType(f"parts[{i}] is not a workload (no demand(t) method): "
                                  f"{type(part).__name__}")
        self.anon = pages(anon, "anon")
        self.file = pages(file, "file")

    def demand(self, t: float) -> tuple[int, int]:
        anon, file = self.anon, self.file
        for part in self.parts:
            a, f = part.demand(t)
            anon += a
            file += f
        return anon, file

    def __repr__(self) -> str:
        return f"Composite({self.parts!r}, anon={self.anon}, file={self.file})"
