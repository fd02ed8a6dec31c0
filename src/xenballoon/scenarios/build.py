"""Building a world from a checked scenario: the clock, the host, its guests and balloons.

Three plug points, one function each:

- `cost_arguments`: the cost model as ``Hypervisor(..., cost=...)``;
- `attach_policy`: the host balancer (`xenballoon.policies`), ticking every ``interval``;
- `attach_guest_model`: the domain's swap, workload (`make_workload`), guest agent (with the
  xenstore nodes its toolstack lets it write) and self-ballooning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import policies
from ..errors import XenBalloonError
from ..frontend import Balloon
from ..frontend.selfballoon import SelfBalloon
from ..linux import Guest, attach_agent, workloads
from ..linux.workloads import Workload
from ..sim import Simulation
from ..xen import CostModel, Domain, Hypervisor
from ..xen.libxl import xenopsd_guest_nodes
from .spec import DomainSpec, PolicySpec, ScenarioError, ScenarioSpec, WorkloadEvent

__all__ = ["World", "attach_guest_model", "attach_policy", "build_world", "cost_arguments",
           "make_workload"]

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
    agents: dict[str, Any] = field(default_factory=dict)
    selfballoons: dict[str, SelfBalloon] = field(default_factory=dict)
    # log(domain, action, detail): an outcome that arrives after its event (the timeline's)
    log: Callable[[str, str, str], object] = lambda *_: None

    def __post_init__(self) -> None:
        self.declared = {name: (i, dom) for i, name, dom in self.spec.instances()}

    def boot(self, name: str) -> Balloon:
        """Create the declared domain ``name``: its frames, its guest, its balloon driver.

        Raises ``OutOfMemory`` (nothing changed) when the host lacks the frames.
        """
        index, dom = self.declared[name]
        # A dynamic range is written whole, as xenopsd does (default: memory .. maxmem).
        ranged = dom.dynamic_min is not None or dom.dynamic_max is not None
        dmin = dom.memory if dom.dynamic_min is None else dom.dynamic_min
        dmax = dom.static_max if dom.dynamic_max is None else dom.dynamic_max
        domain = self.hypervisor.create_domain(
            dom.memory, maxmem=dom.static_max, name=name,
            dynamic_min=dmin if ranged else None, dynamic_max=dmax if ranged else None)
        guest = Guest(domain, pv=dom.type == "pv")
        balloon = Balloon(guest, hotplug=dom.hotplug)
        self.guests[name], self.balloons[name] = guest, balloon
        attach_guest_model(self, name)
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


def make_workload(spec: Any, seed: int) -> Workload | None:
    """The `xenballoon.linux.workloads` object for a ``[domain.workload]`` table (sizes are
    pages and times seconds already: `spec` converted them); ``kind = "none"``: None.

    A random walk without its own ``seed`` takes ``seed`` (the scenario's seed plus the
    domain's index), so a run is the same for the same scenario seed.
    """
    kind, anon, file = spec.kind, spec.anon, spec.file
    if kind == "none":
        return None
    if kind == "constant":
        return workloads.Constant(anon, file)
    if kind == "step":
        return workloads.Step(anon, file, at=spec.at, anon_after=spec.anon_after,
                              file_after=spec.file_after)
    if kind == "ramp":
        return workloads.Ramp(anon, file, at=spec.at, over=spec.over, anon_to=spec.anon_to,
                              file_to=spec.file_to)
    if kind == "periodic":
        return workloads.Periodic(anon, file, period=spec.period, amplitude=spec.amplitude,
                                  shape=spec.shape)
    if kind == "random-walk":
        return workloads.RandomWalk(anon, file, step=spec.step, min=spec.min, max=spec.max,
                                    seed=seed if spec.seed is None else spec.seed,
                                    every=spec.interval)
    if kind == "trace":
        replay = workloads.Replay.from_csv(spec.path, loop=spec.loop)
        return replay if not (anon or file) else \
            workloads.Composite([replay], anon=anon, file=file)
    parts = [make_workload(part, seed + i) for i, part in enumerate(spec.parts)]
    return workloads.Composite([p for p in parts if p is not None] or
                               [workloads.Constant()], anon=anon, file=file)


def workload_problems(spec: Any, where: str, seed: int = 0) -> list[tuple[str, str]]:
    """A workload table its class refuses (a trace file that cannot be read, a bad range)."""
    try:
        make_workload(spec, seed)
    except (XenBalloonError, OSError, ValueError) as exc:
        return [(where, f"expected a workload its class accepts: {exc}")]
    return []


def guest_model_problems(index: int, dom: DomainSpec, where: str | None = None) \
        -> list[tuple[str, str]]:
    """What a domain asks of the guest memory model that cannot be built, with its key."""
    where = where or f"domain[{index}]"
    problems = []
    if dom.workload is not None:
        problems += workload_problems(dom.workload, f"{where}.workload")
    return problems


def grant_agent_nodes(hv: Hypervisor, domain: Domain, agent: str) -> None:
    """What the toolstack that reads ``agent`` lets the guest write: qubesd creates
    ``memory/meminfo`` owned by the domain (``qubesvm.py`` ``create_xs_entries``) for the
    meminfo-writer; xenopsd makes ``~/control`` and ``~/data`` the guest's own
    (`xenopsd_guest_nodes`) for xe-daemon."""
    if agent == "qmemman":
        path = f"{domain.home}/memory/meminfo"
        hv.xenstore.write(path, "")
        hv.xenstore.set_perms(path, [f"n{domain.domid}"])
    elif agent == "xapi":
        xenopsd_guest_nodes(hv.xenstore.connect(0), domain)


def attach_guest_model(world: World, name: str) -> None:
    """Give the booted domain ``name`` its swap, workload, agent and self-ballooning."""
    index, dom = world.declared[name]
    guest, balloon = world.guests[name], world.balloons[name]
    guest.swap_pages = dom.swap
    if dom.workload is not None:
        seed = world.spec.simulation.seed + index
        workload = make_workload(dom.workload, seed)
        if workload is not None:
            guest.run_workload(workload, interval=dom.workload.interval)
    if dom.agent != "none":
        grant_agent_nodes(world.hypervisor, guest.domain, dom.agent)
        world.agents[name] = attach_agent(guest, dom.agent)
    if dom.selfballoon is not None:
        world.selfballoons[name] = SelfBalloon(balloon, **dom.selfballoon.model_dump())


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
            problems += workload_problems(event.workload, f"event[{i}].workload")
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
