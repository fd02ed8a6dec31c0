"""The scenario file format: its schema (pydantic models) and `ScenarioError`.

A scenario is a TOML file or the same data as a Python dict.  Its top-level tables are
``[simulation]``, ``[host]``, ``[policy]``, ``[[domain]]`` and ``[[event]]`` (API.md, "Scenario
files"), plus ``description``: one sentence saying what the scenario shows.  Sizes and times
are read by `units`.  Everything is checked before anything runs: types and ranges by the
models, the relations between keys (names, times, the timeline) by `checks`; every problem is
reported as one `ScenarioError` listing each key path (``domain[2].workload.period``) with what
was expected there.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ..errors import InvalidArgument
from .values import to_pages, to_positive_pages, to_positive_seconds, to_seconds

__all__ = ["ACTIONS", "WORKLOAD_KINDS", "DomainSpec", "EventSpec", "HostSpec", "PolicySpec",
           "ScenarioError", "ScenarioSpec", "SimulationSpec", "WorkloadSpec"]

Pages = Annotated[int, BeforeValidator(to_pages)]
PositivePages = Annotated[int, BeforeValidator(to_positive_pages)]
Seconds = Annotated[float, BeforeValidator(to_seconds)]
PositiveSeconds = Annotated[float, BeforeValidator(to_positive_seconds)]
Count = Annotated[int, Field(ge=0)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
# An event's domain: a name, or a shell pattern (fnmatch) naming several, e.g. "web*".
Target = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.*?\[\]!-]+$", max_length=64)]
MAX_GROUP = 100_000
MAX_SAMPLES = 10_000_000  # per domain: the trace is preallocated


class ScenarioError(InvalidArgument):
    """A scenario that cannot run; ``.problems`` lists ``(key path, what was expected)``."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "scenario") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  {path}: {message}" for path, message in problems)
        super().__init__(f"invalid {source}:\n{lines}")


def _cost(value: Any) -> Any:
    if value in ("default", "instant"):
        return value
    if isinstance(value, dict) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
            for v in value.values()):
        return value
    raise InvalidArgument("expected 'default', 'instant' or a table of CostModel fields "
                     f"(non-negative nanoseconds), got {value!r}")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SimulationSpec(Model):
    duration: PositiveSeconds
    hz: Annotated[int, Field(ge=1, le=100_000)] = 250
    seed: Count = 0
    sample: PositiveSeconds = 1.0
    cost: Annotated[str | dict[str, float], BeforeValidator(_cost)] = "default"


class HostSpec(Model):
    memory: PositivePages
    scrub_freed: bool = True
    dom0_memory: Pages | None = None


class PolicySpec(Model):
    """``[policy]``: a balancer by name, its tick interval, and its own parameters."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)
    name: Annotated[str, Field(pattern=r"^(none|static|squeezed|qmemman|"
                                        r"[A-Za-z_][\w.]*:[A-Za-z_]\w*)$")] = "none"
    interval: PositiveSeconds = 1.0

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


# --- workloads (the guest memory model of issue 11 reads these) ------------------------------
class WorkloadBase(Model):
    anon: Pages = 0          # anonymous demand (for "step": before `at`)
    file: Pages = 0          # file working set (the page cache it would like)
    interval: PositiveSeconds = 1.0  # how often the guest steps the workload


class NoWorkload(WorkloadBase):
    kind: Literal["none"]


class ConstantWorkload(WorkloadBase):
    kind: Literal["constant"]


class StepWorkload(WorkloadBase):
    kind: Literal["step"]
    at: Seconds
    anon_after: Pages | None = None
    file_after: Pages | None = None


class RampWorkload(WorkloadBase):
    kind: Literal["ramp"]
    at: Seconds = 0.0
    over: PositiveSeconds
    anon_to: Pages | None = None
    file_to: Pages | None = None


class PeriodicWorkload(WorkloadBase):
    kind: Literal["periodic"]
    period: PositiveSeconds
    amplitude: Pages
    shape: Literal["sine", "square"] = "sine"


class RandomWalkWorkload(WorkloadBase):
    kind: Literal["random-walk"]
    step: PositivePages
    min: Pages = 0
    max: Pages | None = None
    seed: Count | None = None


class TraceWorkload(WorkloadBase):
    kind: Literal["trace"]
    path: Annotated[str, Field(min_length=1)]
    loop: bool = False


class CompositeWorkload(WorkloadBase):
    kind: Literal["composite"]
    parts: Annotated[list[WorkloadSpec], Field(min_length=1)]


WorkloadSpec = Annotated[
    Union[NoWorkload, ConstantWorkload, StepWorkload, RampWorkload, PeriodicWorkload,  # noqa: UP007
          RandomWalkWorkload, TraceWorkload, CompositeWorkload],
    Field(discriminator="kind")]
WORKLOAD_KINDS = ("none", "constant", "step", "ramp", "periodic", "random-walk", "trace",
                  "composite")
CompositeWorkload.model_rebuild()


def _selfballoon(value: Any) -> Any:
    """``selfballoon = true | false | { knobs }``: true is every knob at its default."""
    if isinstance(value, bool):
        return {} if value else None
    return value


class SelfBalloonSpec(Model):
    """``selfballoon = { ... }``: the knobs of ``xen_memory0/selfballoon/`` (`SelfBalloon`)."""

    interval: Annotated[int, Field(ge=1)] = 5
    downhysteresis: Annotated[int, Field(ge=1)] = 8
    uphysteresis: Annotated[int, Field(ge=1)] = 1
    min_usable_mb: Count = 0
    reserved_mb: Count = 0


class DomainSpec(Model):
    """``[[domain]]``: one guest, or with ``count = N`` a group of N alike guests named
    ``<name>1 .. <name>N``."""

    name: Name
    count: Annotated[int, Field(ge=1, le=MAX_GROUP)] = 1
    memory: PositivePages
    maxmem: Pages | None = None
    dynamic_min: Pages | None = None
    dynamic_max: Pages | None = None
    type: Literal["pv", "hvm"] = "pv"
    hotplug: bool = False
    autostart: bool = True   # false: the domain boots at a "create" event
    agent: Literal["none", "qmemman", "xapi"] = "none"
    # true: the default knobs, a table: these knobs, false: none (None)
    selfballoon: Annotated[SelfBalloonSpec | None, BeforeValidator(_selfballoon)] = None
    swap: Pages = 0
    workload: WorkloadSpec | None = None

    @property
    def static_max(self) -> int:
        return self.memory if self.maxmem is None else self.maxmem

    def names(self) -> list[str]:
        """The names of the domains this table declares."""
        if self.count == 1:
            return [self.name]
        return [f"{self.name}{i}" for i in range(1, self.count + 1)]


# --- the timeline --------------------------------------------------------------------------
class EventBase(Model):
    at: Seconds


class MemSetEvent(EventBase):
    action: Literal["mem-set"]
    domain: Target
    size: Pages


class MemMaxEvent(EventBase):
    action: Literal["mem-max"]
    domain: Target
    size: Pages


class CreateEvent(EventBase):
    action: Literal["create"]
    domain: Target


class DestroyEvent(EventBase):
    action: Literal["destroy"]
    domain: Target


class TenantEvent(EventBase):
    """Another tenant takes ``size`` from the host pool, or all of it but ``leave``."""

    action: Literal["tenant"]
    name: Name = "tenant"
    size: Pages | None = None
    leave: Pages | None = None


class FaultEvent(EventBase):
    """``increase-reservation``: the next ``calls`` populate hypercalls do at most
    ``max_frames`` frames; ``page-alloc``: the domain's driver fails its next ``count``
    page allocations."""

    action: Literal["fault"]
    fault: Literal["increase-reservation", "page-alloc"]
    domain: Target | None = None
    calls: Count = 1
    max_frames: Count = 0
    count: Count = 1


class WorkloadEvent(EventBase):
    action: Literal["workload"]
    domain: Target
    workload: WorkloadSpec


EventSpec = Annotated[
    Union[MemSetEvent, MemMaxEvent, CreateEvent, DestroyEvent, TenantEvent,  # noqa: UP007
          FaultEvent, WorkloadEvent],
    Field(discriminator="action")]
ACTIONS = ("mem-set", "mem-max", "create", "destroy", "tenant", "fault", "workload")


class ScenarioSpec(Model):
    description: str = ""
    simulation: SimulationSpec
    host: HostSpec
    policy: PolicySpec | None = None
    domain: list[DomainSpec] = []
    event: list[EventSpec] = []

    def instances(self) -> list[tuple[int, str, DomainSpec]]:
        """Every domain declared: (index of its table, its name, its table), in file order."""
        return [(i, name, dom) for i, dom in enumerate(self.domain) for name in dom.names()]

    @property
    def nr_samples(self) -> int:
        """Samples in the trace: at 0, every ``sample`` seconds, up to ``duration``."""
        return int(self.simulation.duration / self.simulation.sample + 1e-9) + 1
