"""The policy protocol: registry, attach_policy's ticks and watches, the static baseline."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

import xenballoon as xb
from xenballoon.policies import (
    NullPolicy,
    Policy,
    PolicyBase,
    SimClock,
    attach_policy,
    available_policies,
    make_policy,
    register_policy,
    run_async,
)
from xenballoon.policies.static import StaticPolicy


class Recorder:
    """A user's policy with no xenballoon base class: ticks and watch events."""

    name = "recorder"

    def __init__(self, interval: float | None = 2.0) -> None:
        self.interval = interval
        self.ticks: list[float] = []
        self.events: list[tuple[str, object]] = []

    def attach(self, xc: Any, xs: Any, clock: Any) -> None:
        self.clock = clock
        xs.watch("/local/domain/1/memory/target", "target")

    def tick(self) -> None:
        self.ticks.append(self.clock.now)

    def watch_fired(self, path: str, token: object) -> None:
        self.events.append((path, token))


def test_builtin_names_are_registered() -> None:
    """none, static, squeezed and qmemman build by name and satisfy the protocol."""
    assert {"none", "static", "squeezed", "qmemman"} <= set(available_policies())
    for name in ("none", "static", "squeezed", "qmemman"):
        policy = make_policy(name)
        assert isinstance(policy, Policy) and policy.name == name


def test_make_policy_passes_parameters() -> None:
    """Keyword parameters reach the constructor."""
    policy = make_policy("static", interval=5.0, reserve_kb=1024)
    assert isinstance(policy, StaticPolicy)
    assert policy.interval == 5.0 and policy.reserve_kb == 1024


def test_import_path_builds_a_users_class(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """'package.module:Class' imports and builds a class written by the user."""
    (tmp_path / "my_balancer.py").write_text(textwrap.dedent('''
        class Mine:
            name = "mine"
            def __init__(self, interval=None, knob=0):
                self.interval, self.knob = interval, knob
            def attach(self, xc, xs, clock): pass
            def tick(self): pass
            def watch_fired(self, path, token): pass
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    policy = make_policy("my_balancer:Mine", knob=3)
    assert policy.name == "mine" and policy.knob == 3  # type: ignore[attr-defined]


def test_register_policy_adds_a_name() -> None:
    """register_policy makes a factory available by name."""
    register_policy("recorder-test", Recorder)
    assert isinstance(make_policy("recorder-test", interval=1.0), Recorder)


@pytest.mark.parametrize("spec, params, exc, match", [
    ("nonesuch", {}, ValueError, "unknown policy"),
    ("no_such_module_xyz:Cls", {}, ValueError, "cannot import"),
    ("xenballoon.policies.static:Nope", {}, ValueError, "has no class"),
    ("static", {"bogus": 1}, TypeError, "bogus"),
    ("static", {"interval": -1.0}, ValueError, "positive"),
    ("xenballoon.errors:XenBalloonError", {}, TypeError, "no method attach"),
    (5, {}, TypeError, "str"),
])
def test_bad_policy_requests(spec: Any, params: dict, exc: type, match: str) -> None:
    """Each mistake is a clear exception naming what was wrong."""
    with pytest.raises(exc, match=match):
        make_policy(spec, **params)


def test_attach_policy_ticks_every_interval_and_delivers_watches(machine) -> None:  # type: ignore[no-untyped-def]
    """Ticks at interval, 2 interval, ...; a watch event after the write that fired it."""
    hv = machine()
    hv.create_domain(1024)
    policy = Recorder(interval=2.0)
    attachment = attach_policy(hv, policy)
    hv.sim.advance(5.0)
    assert policy.ticks == [2.0, 4.0]
    hv.mem_set(1, 2048)
    assert policy.events == [("/local/domain/1/memory/target", "target")]
    hv.sim.advance(0.0)
    assert policy.events[-1] == ("/local/domain/1/memory/target", "target")
    assert len(policy.events) == 2
    attachment.detach()
    hv.mem_set(1, 1024)
    hv.sim.advance(10.0)
    assert policy.ticks == [2.0, 4.0] and len(policy.events) == 2


def test_attach_refuses_a_non_policy(machine) -> None:  # type: ignore[no-untyped-def]
    """An object without the methods is a TypeError before anything is wired."""
    with pytest.raises(TypeError, match="no method attach"):
        attach_policy(machine(), object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Hypervisor"):
        attach_policy(None, NullPolicy())  # type: ignore[arg-type]


def test_sleeping_inside_an_event_is_refused(machine) -> None:  # type: ignore[no-untyped-def]
    """A policy's tick may not block; it must schedule a continuation."""
    hv = machine()

    class Sleeper(PolicyBase):
        name = "sleeper"

        def tick(self) -> None:
            self.clock.sleep(1.0)

    attach_policy(hv, Sleeper(interval=1.0))
    with pytest.raises(RuntimeError, match="cannot sleep"):
        hv.sim.advance(2.0)


def test_run_async_drives_waits_on_the_clock(sim: xb.Simulation) -> None:
    """A generator's yields become timer waits; done() gets its result."""
    clock, seen = SimClock(sim), []

    def steps():  # type: ignore[no-untyped-def]
        seen.append(sim.now)
        yield 0.5
        seen.append(sim.now)
        yield 1.0
        return "done"

    results: list[str] = []
    run_async(clock, steps(), results.append)
    sim.run()
    assert seen == [0.0, 0.5] and results == ["done"] and sim.now == 1.5


def test_null_policy_does_nothing(machine) -> None:  # type: ignore[no-untyped-def]
    """'none' attaches and leaves every target alone."""
    hv = machine()
    hv.create_domain(1024)
    attach_policy(hv, NullPolicy(interval=1.0))
    hv.sim.advance(3.0)
    assert hv.xenstore.read("/local/domain/1/memory/target") == "4096"


@pytest.mark.parametrize("backend", ["c", "python"])
def test_static_split_gives_every_domain_an_equal_share(backend: str) -> None:
    """Host memory less the reserve, split equally, capped at static-max."""
    hv = xb.Hypervisor(xb.Simulation(), 65536, backend=backend)
    small = xb.Balloon(xb.Guest(hv.create_domain(4096, maxmem=32768), pv=True))
    capped = xb.Balloon(xb.Guest(hv.create_domain(8192)))
    attach_policy(hv, StaticPolicy(reserve_kb=4096 * 4))
    hv.sim.advance(1.0)
    share_kb = (65536 - 4096) * 4 // 2
    assert hv.xenstore.read("/local/domain/1/memory/target") == str(share_kb)
    assert hv.xenstore.read("/local/domain/2/memory/target") == str(8192 * 4)
    assert small.stats.current_pages == share_kb // 4
    assert capped.stats.current_pages == 8192
    third = hv.create_domain(1024)
    hv.sim.advance(1.0)
    assert hv.xenstore.read(f"{third.home}/memory/target") == str(1024 * 4)  # its static-max
    assert hv.xenstore.read("/local/domain/1/memory/target") == str((65536 - 4096) * 4 // 3)
    hv.check(guests=True)


def test_static_rejects_a_bad_reserve() -> None:
    """reserve_kb must be a non-negative integer."""
    with pytest.raises(ValueError, match="reserve_kb"):
        StaticPolicy(reserve_kb=-1)


def test_spike_comparison_separates_demand_driven_from_static_policies() -> None:
    """On the demand spike, qmemman (demand-driven) avoids the OOM kills that the static
    split and squeezed (ranges, no telemetry) suffer; no balancer moves no pages."""
    from xenballoon.policies.compare import compare

    rows = {r.policy: r for r in compare()}
    assert rows["none"].pages_moved == 0 and rows["none"].oom_kills > 0
    assert rows["qmemman"].oom_kills == 0 and rows["qmemman"].unmet_mib_s == 0
    assert rows["static"].oom_kills > 0 and rows["squeezed"].oom_kills > 0
    assert rows["squeezed"].min_free_mib >= 72  # its slush fund holds
    assert rows["qmemman"].min_free_mib >= 50 * 0.9  # its free-memory margin holds


def test_builtin_policies_see_the_host_only_as_dom0_does() -> None:
    """static, squeezed and qmemman import nothing of the simulated host: only the
    protocol, errors and each other, so they could drive a real host's bindings."""
    import ast
    import importlib

    allowed = {"xenballoon.errors", "xenballoon.policies.base", "xenballoon.policies.qmemman",
               "xenballoon.policies.qmemman.algo"}
    for name in ("static", "squeezed", "qmemman.algo", "qmemman.daemon"):
        module = importlib.import_module(f"xenballoon.policies.{name}")
        tree = ast.parse(Path(module.__file__).read_text())  # type: ignore[arg-type]
        package = module.__name__.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                assert target in allowed, f"{module.__name__} imports {target}"
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) \
                    else [node.module or ""]
                assert not any(n.startswith("xenballoon") for n in names), names


def test_blocking_calls_from_any_simulation_event_are_refused(machine) -> None:  # type: ignore[no-untyped-def]
    """A blocking policy call (here squeezed's free_memory) scheduled as a plain event
    would run the loop re-entrantly: refused with a clear error, time intact."""
    from xenballoon.policies.squeezed import Squeezed, xenopsd_nodes

    hv = machine()
    policy = Squeezed(interval=None)
    attachment = attach_policy(hv, policy)
    hv.create_domain(16384)
    xenopsd_nodes(attachment.xs, 1, 1024, 16384 * 4)  # it could free, given time
    hv.sim.call_later(2.0, lambda: policy.free_memory(200 * 1024))
    with pytest.raises(RuntimeError, match="cannot sleep"):
        hv.sim.run()
    assert hv.sim.now == 2.0
