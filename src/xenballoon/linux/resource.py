"""The guest's iomem resource tree (``kernel/resource.c``): what ``/proc/iomem`` shows.

Addresses are pfns, not bytes: a resource spans pfns ``start .. end-1``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from .. import _validate
from ..core.abi import MAX_GFNS
from ..errors import InvalidArgument

__all__ = ["Resource", "ResourceTree", "round_up"]


def round_up(n: int, align: int) -> int:
    """``ALIGN(n, align)``: ``n`` rounded up to a multiple of ``align``."""
    return -(-n // align) * align


@dataclass(frozen=True)
class Resource:
    """A range of the guest physical address space (``struct resource``), in pfns.

    ``mergeable``: ``IORESOURCE_SYSRAM_MERGEABLE``, memory added with ``MHP_MERGE_RESOURCE``.
    """

    start: int
    end: int  # exclusive
    name: str = "System RAM"
    mergeable: bool = False

    @property
    def size(self) -> int:
        return self.end - self.start


class ResourceTree:
    """``iomem_resource``: the address space below ``limit`` pfns, and the ranges taken.

    Flat: the guest's RAM needs only the root's children, kept sorted and disjoint.
    """

    def __init__(self, limit: int) -> None:
        self._limit = _validate.as_count(limit, "limit", maximum=MAX_GFNS)
        self._children: list[Resource] = []

    @property
    def limit(self) -> int:
        """Pfns at and above it are beyond the address space (``MAX_PHYSMEM_BITS``)."""
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        value = _validate.as_count(value, "limit", maximum=MAX_GFNS)
        if value < self.used:
            raise InvalidArgument(f"limit {value} is below pfn {self.used}, which is in use")
        self._limit = value

    @property
    def used(self) -> int:
        """The end of the highest range taken (0 if none)."""
        return self._children[-1].end if self._children else 0

    def __iter__(self) -> Iterator[Resource]:
        return iter(tuple(self._children))

    def __len__(self) -> int:
        return len(self._children)

    def __contains__(self, res: object) -> bool:
        return res in self._children

    def request(self, start: int, size: int, name: str = "System RAM") -> Resource | None:
        """``request_resource``: take the range ``start .. start+size-1``, if it is free."""
        res = Resource(start, start + size, name)
        if res.end > self._limit or any(c.start < res.end and res.start < c.end
                                        for c in self._children):
            return None
        return self._insert(res)

    def allocate(self, size: int, align: int, name: str = "System RAM") -> Resource | None:
        """``allocate_resource``: the first free ``align``-aligned range of ``size`` pfns."""
        start = 0
        for child in self._children:
            candidate = round_up(start, align)
            if candidate + size <= child.start:
                return self._insert(Resource(candidate, candidate + size, name))
            start = max(start, child.end)
        candidate = round_up(start, align)
        if candidate + size <= self._limit:
            return self._insert(Resource(candidate, candidate + size, name))
        return None

    def release(self, res: Resource) -> None:
        """``release_resource``: give the range back."""
        try:
            self._children.remove(res)
        except ValueError:
            raise InvalidArgument(f"{res} is not in the resource tree") from None

    def merge(self, res: Resource) -> Resource:
        """``merge_system_ram_resource``: mark it mergeable and merge it with its neighbours."""
        i = self._children.index(res)
        merged = replace(res, mergeable=True)
        lo, hi = i, i + 1
        if i > 0 and self._joins(self._children[i - 1], merged):
            merged, lo = replace(merged, start=self._children[i - 1].start), i - 1
        if i + 1 < len(self._children) and self._joins(merged, self._children[i + 1]):
            merged, hi = replace(merged, end=self._children[i + 1].end), i + 2
        self._children[lo:hi] = [merged]
        return merged

    @staticmethod
    def _joins(a: Resource, b: Resource) -> bool:
        return a.end == b.start and a.mergeable and b.mergeable and a.name == b.name

    def _insert(self, res: Resource) -> Resource:
        self._children.append(res)
        self._children.sort(key=lambda r: r.start)
        return res

    def __repr__(self) -> str:
        ranges = ", ".join(f"{r.start:#x}-{r.end - 1:#x} {r.name}" for r in self._children)
        return f"<ResourceTree limit={self._limit:#x}: {ranges}>"
