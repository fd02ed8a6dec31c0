"""Building a world from a checked scenario: the clock, the host, its guests and balloons.

Three plug points, one function each, for the parts other issues bring:

- `cost_arguments`: the cost model (issue 10) as ``Hypervisor(..., cost=...)``;
- `attach_guest_model`: workloads, swap, guest agents and self-ballooning (issue 11/12);
- `attach_policy`: the host balancer (issue 12).

Until a part exists in this version, a scenario that asks for it is refused before anything
runs, with an error naming the key (no stand-in model); the one exception is ``cost =
"default"``, the file default, which runs instantaneously with a logged warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..frontend import Balloon
from ..linux import Guest
from ..sim import Simulation
from ..xen import Domain, Hypervisor
from .spec import DomainSpec, PolicySpec, ScenarioError, ScenarioSpec, WorkloadEvent

__all__ = ["World", "attach_guest_model", "attach_policy", "build_world", "cost_arguments"]

log = logging.getLogger("xenballoon.scenarios")
_LATER = "not available yet in this version of xenballoon"


@dataclass
class World:
    """A running scenario: everything it built, by name (the domains' names)."""

    spec: ScenarioSpec
    sim: Simulation
    hypervisor: Hypervisor
    rng: np.random.Generator
    guests: dict[str, Guest] = field(default_factory=dict)
    balloons: dict[str, Balloon] = field(default_factory=dict)
    tenants: dict[str, Domain] = field(default_factory=dict)
    policy: Any = None
    on_boot: list[Callable[[str, Balloon], object]] = field(default_factory=list)
    declared: dict[str, tuple[int, DomainSpec]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.declared = {name: (i, dom) for i, name, dom in self.spec.instances()}

    def boot(self, name: str) -> Balloon:
        """Create the declared domain ``name``: its frames, its guest, its balloon driver.

        Raises ``OutOfMemory`` (nothing changed) when the host lacks the frames.
        """
        index, dom = self.declared[name]
        domain = self.hypervisor.create_domain(dom.memory, maxmem=dom.static_max, name=name)
        guest = Guest(domain, pv=dom.type == "pv")
        balloon = Balloon(guest, hotplug=dom.hotplug)
        attach_guest_model(self, index, dom)
        self.guests[name], self.balloons[name] = guest, balloon
        for callback in tuple(self.on_boot):
            callback(name, balloon)
        return balloon


def cost_arguments(spec: ScenarioSpec) -> dict[str, Any]:
    """The ``cost=`` keyword for ``Hypervisor`` (issue 10's CostModel).

    Until ``xb.CostModel`` exists, ``"instant"`` and ``"default"`` both run the instantaneous
    model (``"default"`` with a warning) and a table is refused.  When it lands this becomes
    ``{"cost": CostModel.default() | CostModel(**table)}`` for those two cases.
    """
    cost = spec.simulation.cost
    if cost == "default":
        log.warning("the cost model is %s: running with instantaneous ballooning", _LATER)
    return {}


def cost_problems(spec: ScenarioSpec) -> list[tuple[str, str]]:
    if isinstance(spec.simulation.cost, dict):
        return [("simulation.cost", f"a table of CostModel fields is {_LATER} (issue 10); "
                 "expected 'default' or 'instant'")]
    return []


def guest_model_problems(index: int, dom: DomainSpec, where: str | None = None) \
        -> list[tuple[str, str]]:
    """What a domain asks of the guest memory model that this version cannot run."""
    where = where or f"domain[{index}]"
    asked = []
    if dom.workload is not None and dom.workload.kind != "none":
        asked.append((f"{where}.workload", "workloads"))
    if dom.agent != "none":
        asked.append((f"{where}.agent", "guest agents"))
    if dom.swap:
        asked.append((f"{where}.swap", "swap"))
    if dom.selfballoon:
        asked.append((f"{where}.selfballoon", "self-ballooning"))
    return [(path, f"{what} are {_LATER} (the guest memory model); expected the default")
            for path, what in asked]


def attach_guest_model(world: World, index: int, dom: DomainSpec) -> None:
    """Give domain ``index`` its workload, swap, agent and self-ballooning (issue 11/12).

    The guest memory model is not in this version: `build_world` refuses any scenario that
    asks for one, so there is nothing to attach yet.  This is where it will be wired in.
    """
    problems = guest_model_problems(index, dom)
    if problems:
        raise ScenarioError(problems)


def attach_policy(world: World, policy: PolicySpec | None) -> None:
    """Start the host balancer named by ``[policy]`` (issue 12), ticking every interval.

    Only ``"none"`` exists in this version; `build_world` refuses the others beforehand.
    """
    if policy is not None and policy.name != "none":
        raise ScenarioError(policy_problems(policy))


def policy_problems(policy: PolicySpec | None) -> list[tuple[str, str]]:
    if policy is None or policy.name == "none":
        return []
    return [("policy.name", f"host balancers ({policy.name!r}) are {_LATER}; expected 'none'")]


def unavailable(spec: ScenarioSpec) -> list[tuple[str, str]]:
    """Every part of the scenario this version cannot run, with its key path."""
    problems = cost_problems(spec) + policy_problems(spec.policy)
    if spec.host.dom0_memory is not None:
        problems.append(("host.dom0_memory", f"a Domain-0 is {_LATER}; expected no "
                         "dom0_memory"))
    for i, dom in enumerate(spec.domain):
        problems += guest_model_problems(i, dom)
    for i, event in enumerate(spec.event):
        if isinstance(event, WorkloadEvent):
            problems.append((f"event[{i}].action", f"workload changes are {_LATER} (the "
                             "guest memory model); expected another action"))
    return problems


def build_world(spec: ScenarioSpec) -> World:
    """The world at time 0: the host and every domain with ``autostart`` (in file order)."""
    problems = unavailable(spec)
    if problems:
        raise ScenarioError(problems)
    sim = Simulation(hz=spec.simulation.hz)
    hv = Hypervisor(sim, spec.host.memory, scrub_freed=spec.host.scrub_freed,
                    **cost_arguments(spec))
    world = World(spec, sim, hv, np.random.default_rng(spec.simulation.seed))
    for _, name, dom in spec.instances():
        if dom.autostart:
            world.boot(name)
    attach_policy(world, spec.policy)
    return world
