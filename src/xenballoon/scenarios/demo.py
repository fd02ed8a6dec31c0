"""The built-in demo: a host, three guests and the toolstack's actions on a timeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..driver import BalloonDriver
from ..errors import InvalidArgument
from ..frontend import Balloon
from ..linux import MEM_ONLINE, PAGES_PER_SECTION, Guest, MemoryBlock
from ..sim import Simulation
from ..units import KIB_PER_PAGE
from ..units import PAGES_PER_MIB as MIB
from ..xen import Hypervisor

__all__ = ["MIB", "DemoResult", "Event", "run_demo"]


@dataclass(frozen=True)
class Event:
    """One line of a timeline: a toolstack action or the end of a worker run."""

    time: float
    domain: str
    what: str
    target: int | None = None
    current: int | None = None
    balloon: int | None = None
    state: str | None = None
    host_free: int | None = None


@dataclass
class DemoResult:
    hypervisor: Hypervisor
    balloons: dict[str, Balloon]
    events: list[Event] = field(default_factory=list)


def _record(events: list[Event], hv: Hypervisor) -> Callable[[BalloonDriver], None]:
    def on_run(b: BalloonDriver) -> None:
        s = b.stats
        events.append(Event(hv.sim.now, b.guest.domain.name, "worker",
                            s.target_pages, s.current_pages, s.balloon_low + s.balloon_high,
                            b.state.name, hv.free_pages))
    return on_run


def run_demo(scale: int = 1) -> DemoResult:
    """Two PV guests trade memory on a 1 GiB host, then the host is squeezed; at the end a
    third guest grows past its boot memory by memory hotplug.

    ``scale`` multiplies every size (1 = a 1 GiB host of 262,144 pages).
    """
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise InvalidArgument(f"scale must be a positive integer, got {scale!r}")
    sim = Simulation()
    hv = Hypervisor(sim, 1024 * MIB * scale)
    result = DemoResult(hv, {})
    events = result.events
    on_run = _record(events, hv)
    for name in ("vm1", "vm2"):
        dom = hv.create_domain(256 * MIB * scale, maxmem=512 * MIB * scale, name=name)
        balloon = Balloon(Guest(dom, pv=True))
        balloon.add_listener(on_run)
        result.balloons[name] = balloon
        events.append(Event(sim.now, name, f"boot {256 * scale}M, max {512 * scale}M",
                            host_free=hv.free_pages))
    # vm3: a small HVM guest with memory hotplug, allowed to grow to 128M.
    dom = hv.create_domain(16 * MIB * scale, maxmem=128 * MIB * scale, name="vm3")
    guest = Guest(dom)
    balloon = Balloon(guest, hotplug=True)
    balloon.add_listener(on_run)
    result.balloons["vm3"] = balloon
    events.append(Event(sim.now, "vm3", f"boot {16 * scale}M, hotplug",
                        host_free=hv.free_pages))

    def on_online(event: int, block: MemoryBlock) -> None:
        if event == MEM_ONLINE:
            events.append(Event(sim.now, "vm3", f"memory{block.id} online "
                                f"+{PAGES_PER_SECTION // MIB}M", host_free=hv.free_pages))

    guest.hotplug.register_memory_notifier(on_online)
    domains = {name: b.guest.domain for name, b in result.balloons.items()}
    hog: list = []

    def mem_set(domain_name: str, mib: int) -> Callable[[], None]:
        def act() -> None:
            dom = domains[domain_name]
            events.append(Event(sim.now, domain_name, f"mem-set {mib * scale}M",
                                host_free=hv.free_pages))
            hv.mem_set(dom.domid, mib * scale * MIB * KIB_PER_PAGE)
        return act

    def squeeze() -> None:
        leave = 4 * MIB * scale
        hog.append(hv.create_domain(hv.free_pages - leave, name="tenant"))
        events.append(Event(sim.now, "tenant", "takes all but 4M",
                            host_free=hv.free_pages))

    def release() -> None:
        hv.destroy_domain(hog.pop())
        events.append(Event(sim.now, "tenant", "destroyed",
                            host_free=hv.free_pages))

    sim.call_at(1.0, mem_set("vm1", 448))
    sim.call_at(2.0, mem_set("vm2", 128))
    sim.call_at(3.0, squeeze)
    sim.call_at(4.0, mem_set("vm2", 512))
    sim.call_at(30.0, release)
    sim.call_at(31.0, mem_set("vm2", 512))
    sim.call_at(32.0, mem_set("vm3", 48))  # past its 16M of boot memory: one section
    sim.run()
    return result
