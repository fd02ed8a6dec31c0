"""The host-balancer protocol: a policy sees the host only as a dom0 tool does.

A policy gets three things and nothing else:

- ``xc``: a ``xen.lowlevel.xc.xc()`` handle (`xenballoon.lowlevel.xc`): ``physinfo()``,
  ``domain_getinfo()``, ``domain_setmaxmem()`` ..., memory in KiB;
- ``xs``: a ``xen.lowlevel.xs.xs()`` handle (`xenballoon.lowlevel.xs`): reads, writes,
  watches, transactions;
- ``clock`` (`Clock`): ``now``, ``call_later(delay, fn)`` for its own timers, and
  ``sleep(seconds)`` for blocking calls made from *outside* the event loop.

and implements (`Policy`):

- ``name`` (str) and ``interval`` (seconds between ``tick()`` calls, or ``None`` for a
  purely event-driven policy);
- ``attach(xc, xs, clock)``: remember the handles, set up watches;
- ``tick()``: the periodic check;
- ``watch_fired(path, token)``: an event of a watch it set with ``xs.watch(path, token)``.

Because nothing else is visible, the same object could drive a real host given Xen's own
bindings and a clock over a real event loop (``asyncio``: ``now = loop.time()``,
``call_later = loop.call_later``).  `attach_policy(hv, policy)` wires one to a simulated
host: ticks and watch deliveries are ordinary Simulation events.

Operations that wait (squeezed's "set targets, wait 1 s, look again", qmemman's 0.1 s
polls) are written once as generators that ``yield`` the seconds to wait and ``return``
their result; `run_async` drives one on the clock (inside the simulation), `run_blocking`
drives one to completion with ``clock.sleep`` (a caller outside it, such as a toolstack
asking for memory before it starts a VM).

`make_policy(name_or_path, **params)` builds one by name (``"none"``, ``"static"``,
``"squeezed"``, ``"qmemman"``, or anything added with `register_policy`) or by import path
``"package.module:Class"``; a user's class with the same methods works everywhere a
built-in one does.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from ..errors import InvalidArgument, InvalidType
from ..lowlevel.xc import Xc
from ..lowlevel.xs import Xs

if TYPE_CHECKING:
    from ..sim import Simulation
    from ..xen.hypervisor import Hypervisor

__all__ = ["Attachment", "Clock", "NullPolicy", "Policy", "PolicyBase", "SimClock",
           "attach_policy", "available_policies", "check_interval", "make_policy",
           "register_policy", "run_async", "run_blocking"]

T = TypeVar("T")
Steps = Generator[float, None, T]  # yields seconds to wait, returns the result


class Cancellable(Protocol):
    def cancel(self) -> object: ...


class Clock(Protocol):
    """What a policy knows of time."""

    @property
    def now(self) -> float: ...

    def call_later(self, delay: float, fn: Callable[[], object]) -> Cancellable: ...

    def sleep(self, seconds: float) -> None: ...


@runtime_checkable
class Policy(Protocol):
    """A host balancer (see the module docstring)."""

    name: str
    interval: float | None

    def attach(self, xc: Any, xs: Any, clock: Clock) -> None: ...

    def tick(self) -> None: ...

    def watch_fired(self, path: str, token: object) -> None: ...


class SimClock:
    """A `Clock` on a Simulation.  ``sleep`` runs the Simulation, so it is refused inside
    the Simulation's own events (a policy's tick, watch delivery or timer), which must
    return and schedule a continuation instead (`run_async`)."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.in_event = False

    @property
    def now(self) -> float:
        return self.sim.now

    def call_later(self, delay: float, fn: Callable[[], object]) -> Cancellable:
        return self.sim.call_later(delay, lambda: self.run_event(fn))

    def run_event(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` as a Simulation event of this clock's policy."""
        outer, self.in_event = self.in_event, True
        try:
            fn()
        finally:
            self.in_event = outer

    def sleep(self, seconds: float) -> None:
        if self.in_event or self.sim.running:
            raise RuntimeError("a policy cannot sleep inside a Simulation event: yield the "
                               "wait from an operation run with run_async")
        self.sim.advance(seconds)


def run_blocking(clock: Clock, steps: Steps[T]) -> T:
    """Drive ``steps`` to the end, sleeping on ``clock`` for each wait; its result."""
    while True:
        try:
            delay = next(steps)
        except StopIteration as stop:
            return stop.value
        clock.sleep(delay)


def run_async(clock: Clock, steps: Steps[T],
              done: Callable[[T], object] | None = None) -> None:
    """Drive ``steps`` on ``clock``'s timers; call ``done(result)`` when it returns.

    An exception from the generator propagates out of the event that ran it.
    """

    def step() -> None:
        try:
            delay = next(steps)
        except StopIteration as stop:
            if done is not None:
                done(stop.value)
            return
        clock.call_later(delay, step)

    step()


def check_interval(interval: Any) -> float | None:
    """``None`` or a positive finite number of seconds."""
    if interval is None:
        return None
    if isinstance(interval, bool) or not isinstance(interval, (int, float)):
        raise InvalidType(f"interval must be seconds (a number) or None, "
                        f"not {type(interval).__name__}")
    if not math.isfinite(interval) or interval <= 0:
        raise InvalidArgument(f"interval must be a positive number of seconds, got {interval!r}")
    return float(interval)


class PolicyBase:
    """Convenience base: stores the handles; ``tick`` and ``watch_fired`` do nothing."""

    name = "base"

    def __init__(self, *, interval: float | None = None) -> None:
        self.interval = check_interval(interval)
        self.xc: Any = None
        self.xs: Any = None
        self.clock: Any = None

    def attach(self, xc: Any, xs: Any, clock: Clock) -> None:
        self.xc, self.xs, self.clock = xc, xs, clock

    def tick(self) -> None:
        """Nothing to do periodically."""

    def watch_fired(self, path: str, token: object) -> None:
        """Nothing to do on a watch event."""


class NullPolicy(PolicyBase):
    """``"none"``: no host balancer; guests keep whatever targets the toolstack sets."""

    name = "none"


class Attachment:
    """A policy wired to a simulated host; ``detach()`` stops its ticks and watches."""

    def __init__(self, hv: Hypervisor, policy: Policy) -> None:
        check_policy(policy)
        self.policy = policy
        self.clock = SimClock(hv.sim)
        self.xc = Xc(hv)
        self.xs = Xs(hv)
        self.active = True
        self._tick_timer: Cancellable | None = None
        self._dispatch_timer: Cancellable | None = None
        self.xs.notify(self._events_queued)
        self.clock.run_event(lambda: policy.attach(self.xc, self.xs, self.clock))
        self._schedule_tick()

    def _schedule_tick(self) -> None:
        interval = check_interval(self.policy.interval)
        if interval is not None and self.active:
            self._tick_timer = self.clock.call_later(interval, self._tick)

    def _tick(self) -> None:
        if self.active:
            self.policy.tick()
            self._schedule_tick()

    def _events_queued(self) -> None:
        # Deliver after the store operation that fired the watch, as a separate event.
        if self._dispatch_timer is None and self.active:
            self._dispatch_timer = self.clock.call_later(0.0, self._dispatch)

    def _dispatch(self) -> None:
        self._dispatch_timer = None
        while self.active:
            event = self.xs.check_watch()
            if event is None:
                return
            self.policy.watch_fired(*event)

    def detach(self) -> None:
        if not self.active:
            return
        self.active = False
        for timer in (self._tick_timer, self._dispatch_timer):
            if timer is not None:
                timer.cancel()
        self.xs.close()

    def __repr__(self) -> str:
        state = "" if self.active else " detached"
        return f"<Attachment {self.policy.name!r}{state}>"


def attach_policy(hv: Hypervisor, policy: Policy) -> Attachment:
    """Give ``policy`` dom0 handles on ``hv`` and run its ticks and watches in simulation."""
    from ..xen.hypervisor import Hypervisor

    if not isinstance(hv, Hypervisor):
        raise InvalidType(f"hv must be a Hypervisor, not {type(hv).__name__}")
    return Attachment(hv, policy)


def check_policy(policy: object) -> None:
    """``TypeError`` naming what ``policy`` lacks to be a `Policy`."""
    for method in ("attach", "tick", "watch_fired"):
        if not callable(getattr(policy, method, None)):
            raise InvalidType(f"{type(policy).__name__} is not a policy: it has no method "
                            f"{method}()")
    if not isinstance(getattr(policy, "name", None), str):
        raise InvalidType(f"{type(policy).__name__} is not a policy: its name is not a str")
    check_interval(getattr(policy, "interval", None))


_REGISTRY: dict[str, str | Callable[..., Any]] = {
    "none": NullPolicy,
    "static": "xenballoon.policies.static:StaticPolicy",
    "squeezed": "xenballoon.policies.squeezed:Squeezed",
    "qmemman": "xenballoon.policies.qmemman:Qmemman",
}


def register_policy(name: str, factory: str | Callable[..., Any]) -> None:
    """Make ``make_policy(name)`` build ``factory(**params)`` (a callable or import path)."""
    if not isinstance(name, str) or not name or ":" in name:
        raise InvalidArgument(f"a policy name is a non-empty str without ':', got {name!r}")
    if not (callable(factory) or isinstance(factory, str)):
        raise InvalidType("factory must be callable or a 'package.module:Class' path")
    _REGISTRY[name] = factory


def available_policies() -> list[str]:
    """The registered policy names."""
    return sorted(_REGISTRY)


def _import(path: str) -> Callable[..., Any]:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise InvalidArgument(f"bad policy path {path!r}: want 'package.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidArgument(f"policy {path!r}: cannot import {module_name}: {exc}") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise InvalidArgument(f"policy {path!r}: {module_name} has no class {attr}")
    return factory


def make_policy(name_or_path: str, **params: Any) -> Policy:
    """A policy by registered name or ``"package.module:Class"``, built with ``params``."""
    if not isinstance(name_or_path, str):
        raise InvalidType(f"a policy is named by a str, not {type(name_or_path).__name__}")
    if ":" in name_or_path:
        factory = _import(name_or_path)
    elif name_or_path in _REGISTRY:
        entry = _REGISTRY[name_or_path]
        factory = _import(entry) if isinstance(entry, str) else entry
    else:
        raise InvalidArgument(f"unknown policy {name_or_path!r}: want one of "
                         f"{', '.join(available_policies())} or 'package.module:Class'")
    try:
        policy = factory(**params)
    except TypeError as exc:
        raise InvalidType(f"policy {name_or_path!r}: {exc}") from exc
    check_policy(policy)
    return policy
