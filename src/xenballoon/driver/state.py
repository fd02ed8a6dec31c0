"""What the driver reports: ``enum bp_state`` and ``struct balloon_stats`` (balloon.c)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields

from ..core import abi as K

__all__ = ["BP_STATES", "STAT_FIELDS", "BPState", "BalloonStats"]


class BPState(enum.IntEnum):
    """What ``balloon_process`` ended with.

    DONE: done or nothing to do; WAIT: wait to be rescheduled (hotplugged memory to be
    onlined); EAGAIN: error, go to sleep and retry; ECANCELED: error, operation cancelled.
    """

    DONE = K.BP_DONE
    WAIT = K.BP_WAIT
    EAGAIN = K.BP_EAGAIN
    ECANCELED = K.BP_ECANCELED

    def __str__(self) -> str:
        return self.name

    def __format__(self, spec: str) -> str:
        return format(self.name, spec)


@dataclass(frozen=True)
class BalloonStats:
    """``struct balloon_stats``: the driver works to make current_pages == target_pages."""

    current_pages: int
    target_pages: int
    target_unpopulated: int
    balloon_low: int
    balloon_high: int
    total_pages: int
    schedule_delay: int
    max_schedule_delay: int
    retry_count: int
    max_retry_count: int


STAT_FIELDS = tuple(f.name for f in fields(BalloonStats))
BP_STATES = tuple(BPState(i) for i in range(len(BPState)))  # by value, without BPState()
