"""Building a world from a checked scenario: the clock, the host, its guests and balloons.

Three plug points, one function each:

- `cost_arguments`: the cost model as ``Hypervisor(..., cost=...)``;
- `attach_policy`: the host balancer (`xenballoon.policies`), ticking every ``interval``;
- `attach_guest_model`: workloads, swap, guest agents and self-ballooning.  Not wired in
  yet: a scenario that asks for them is refused before anything runs, with an error naming
  the key (no stand-in model).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import policies
from ..errors import XenBalloonError
from ..frontend import Balloon
from ..linux import Guest
from ..sim import Simulation
from ..xen import CostModel, Domain, Hypervisor
from .spec import DomainSpec, PolicySpec, ScenarioError, ScenarioSpec, WorkloadEvent

__all__ = ["World", "attach_guest_model", "attach_policy", "build_world", "cost_arguments"]

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
    """The ``cost=`` keyword for ``Hypervisor``: ``"instant"`` is none (the instantaneous
    model), ``"default"`` is ``CostModel.default()``, a table is ``CostModel(**table)``."""
    cost = spec.simulation.cost
    if isinstance(cost, dict):
        return {"cost": CostModel(**cost)}
    return {} if cost == "instant" else {"cost": CostModel.default()}


def cost_problems(spec: ScenarioSpec) -> list[tuple[str, str]]:
    """A cost table CostModel refuses, with what it says."""
    try:
        cost_arguments(spec)
    except (XenBalloonError, TypeError) as exc:
        return [("simulation.cost", f"expected a table of CostModel fields: {exc}")]
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


def make_balancer(policy: PolicySpec) -> Any:
    """The policy ``[policy]`` names, built with its interval and its own parameters."""
    return policies.make_policy(policy.name, interval=policy.interval, **policy.params)


def attach_policy(world: World, policy: PolicySpec | None) -> None:
    """Start the host balancer named by ``[policy]``: dom0 handles on the host, a tick every
    ``interval`` and its xenstore watches, in simulated time (`policies.attach_policy`)."""
    if policy is not None and policy.name != "none":
        world.policy = policies.attach_policy(world.hypervisor, make_balancer(policy))


def policy_problems(policy: PolicySpec | None) -> list[tuple[str, str]]:
    """A policy that cannot be built (unknown name or class, bad parameters)."""
    if policy is None or policy.name == "none":
        return []
    try:
        make_balancer(policy)
    except XenBalloonError as exc:
        return [("policy", f"expected a policy and its parameters: {exc}")]
    return []


def unavailable(spec: ScenarioSpec) -> list[tuple[str, str]]:
    """Every part of the scenario this version cannot run, with its key path."""
    problems = cost_problems(spec) + policy_problems(spec.policy)
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
                    dom0=spec.host.dom0_memory, **cost_arguments(spec))
    world = World(spec, sim, hv, np.random.default_rng(spec.simulation.seed))
    for _, name, dom in spec.instances():
        if dom.autostart:
            world.boot(name)
    attach_policy(world, spec.policy)
    return world
