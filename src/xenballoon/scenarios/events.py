"""The timeline: one table from action name to what the toolstack does.

Each handler acts on the world and returns a line for the event log.  What the toolstack
refuses at run time (``xl mem-set`` above static-max, ``xl mem-max`` below the target, a
domain the host has no memory to create, a domain that is not running because its creation
was refused) is an outcome, not a crash: the event log says ``refused: ...`` and the run goes
on, as it would on a host.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..errors import InvalidArgument, XenBalloonError
from ..policies.base import Steps, run_async
from ..toolstack import xl
from ..trace.io import Event
from ..units import KIB_PER_PAGE
from ..xen import Domain
from .build import World, make_workload
from .checks import matching
from .spec import EventSpec
from .values import format_pages

__all__ = ["ACTIONS", "schedule_timeline"]


def _running(world: World, name: str) -> Domain:
    """The running guest's domain (by object: xl's lookup by name scans every domain)."""
    if name not in world.guests:
        raise InvalidArgument(f"domain '{name}' is not running")
    return world.guests[name].domain


def mem_set(world: World, event: Any, name: str) -> str:
    xl.mem_set(world.hypervisor, _running(world, name), event.size * KIB_PER_PAGE)
    return f"target {format_pages(event.size)}"


def mem_max(world: World, event: Any, name: str) -> str:
    xl.mem_max(world.hypervisor, _running(world, name), event.size * KIB_PER_PAGE)
    return f"max {format_pages(event.size)}"


def create(world: World, event: Any, name: str) -> str:
    """Boot the domain; under a balancer with reservations (squeezed), first reserve its
    boot memory as xenopsd's VM start does, then boot it on the reservation, or log the
    refusal (e.g. ``DomainsRefusedToCooperate``) when the others do not balloon down."""
    attachment = world.policy
    reserve = getattr(getattr(attachment, "policy", None), "reserve_steps", None)
    if reserve is None:
        balloon = world.boot(name)
        return f"booted with {format_pages(balloon.guest.domain.tot_pages)}"
    _, dom = world.declared[name]
    balancer = attachment.policy

    def start() -> Steps[None]:
        try:
            reservation = yield from reserve(dom.memory * KIB_PER_PAGE)
        except XenBalloonError as exc:
            world.log(name, "create", f"refused: {type(exc).__name__}: {exc}")
            return
        try:
            balloon = world.boot(name)
        except XenBalloonError as exc:
            balancer.delete_reservation(reservation)
            world.log(name, "create", f"refused: {exc}")
            return
        balancer.transfer_reservation_to_domain(reservation, balloon.guest.domain.domid)
        world.log(name, "create", f"booted with {format_pages(balloon.guest.domain.tot_pages)}"
                  f" on {balancer.name}'s {reservation}")

    # xenopsd's VM start runs beside the timeline: after this event is logged
    attachment.clock.call_later(0.0, lambda: run_async(attachment.clock, start()))
    return f"asks {balancer.name} to reserve {format_pages(dom.memory)}"


def destroy(world: World, event: Any, name: str) -> str:
    hv = world.hypervisor
    domain = world.tenants.pop(name, None)
    if domain is None:
        if name not in world.guests:
            raise InvalidArgument(f"domain '{name}' is not running")
        domain = world.guests.pop(name).domain
        world.balloons.pop(name)
    pages = domain.tot_pages
    hv.destroy_domain(domain)
    return f"gave back {format_pages(pages)}, host free {format_pages(hv.free_pages)}"


def tenant(world: World, event: Any, name: str) -> str:
    hv = world.hypervisor
    domain = hv.add_tenant(event.size, leave=event.leave, name=name)
    world.tenants[name] = domain
    return f"takes {format_pages(domain.tot_pages)}, host free {format_pages(hv.free_pages)}"


def fault(world: World, event: Any, name: str) -> str:
    if event.fault == "increase-reservation":
        world.hypervisor.inject_increase_fault(event.calls, event.max_frames)
        return (f"next {event.calls} populate call(s) do at most {event.max_frames} "
                "frame(s)")
    _running(world, name)
    world.guests[name].fail_next_allocations(event.count)
    return f"next {event.count} page allocation(s) of the driver fail"


def workload(world: World, event: Any, name: str) -> str:
    """The domain's programs change: its guest runs the new workload from now on."""
    _running(world, name)
    guest = world.guests[name]
    index, _ = world.declared[name]
    new = make_workload(event.workload, world.spec.simulation.seed + index)
    if new is None:
        guest.stop_workload()
        return "no workload"
    guest.run_workload(new, interval=event.workload.interval)
    return f"{event.workload.kind} workload"


Handler = Callable[[World, Any, str], str]
ACTIONS: dict[str, Handler] = {
    "mem-set": mem_set,
    "mem-max": mem_max,
    "create": create,
    "destroy": destroy,
    "tenant": tenant,
    "fault": fault,
    "workload": workload,
}


def targets(world: World, event: EventSpec) -> list[str]:
    """The domains an event acts on: its pattern's matches, a tenant, or the host."""
    if event.action == "tenant":
        return [event.name]
    pattern = getattr(event, "domain", None)
    if pattern is None:
        return ["host"]
    if pattern in world.tenants:
        return [pattern]
    return matching(pattern, list(world.declared))


def schedule_timeline(world: World, log: list[Event],
                      after: Callable[[str], object] | None = None) -> None:
    """Put every event of the scenario on the clock (same time: file order).

    ``after(domain)`` runs after each event on each domain, e.g. for the recorder.
    """

    def later(name: str, action: str, detail: str) -> None:
        log.append(Event(world.sim.now, name, action, detail))
        if after is not None:
            after(name)

    world.log = later

    def fire(event: EventSpec) -> None:
        handler = ACTIONS[event.action]
        for name in targets(world, event):
            try:
                detail = handler(world, event, name)
            except (XenBalloonError, ValueError) as exc:
                detail = f"refused: {exc}"
            log.append(Event(world.sim.now, name, event.action, detail))
            if after is not None:
                after(name)

    for event in sorted(world.spec.event, key=lambda e: e.at):
        world.sim.call_at(event.at, functools.partial(fire, event))
