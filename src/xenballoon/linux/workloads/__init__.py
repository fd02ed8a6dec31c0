"""Guest memory demand: workloads, and the stepper that applies them to guests.

Every workload gives, at ``t`` seconds after it started, ``(anon, file)``: pages of
anonymous demand and pages of file working set (`base.Workload`).  Parameters are in
pages (``xenballoon.units`` converts sizes) and seconds, with the names of the scenario
file's ``[domain.workload]`` table: ``anon``, ``file``, ``at``, ``anon_after``, ...
"""

from __future__ import annotations

from .base import Batch, ScalarBatch, Workload, batch_of
from .composite import Composite
from .constant import Constant
from .periodic import Periodic
from .ramp import Ramp
from .random_walk import RandomWalk
from .replay import Replay
from .step import Step
from .stepper import WorkloadStepper

__all__ = ["Batch", "Composite", "Constant", "Periodic", "Ramp", "RandomWalk", "Replay",
           "ScalarBatch", "Step", "Workload", "WorkloadStepper", "batch_of"]
