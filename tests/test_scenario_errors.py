"""Bad scenario files: each is refused before anything runs, naming the key and what was
expected there."""

from __future__ import annotations

from pathlib import Path

import pytest

import xenballoon as xb
from xenballoon.cli import main
from xenballoon.scenarios import ScenarioError, load_spec

SIM = '[simulation]\nduration = "1m"\n'
HOST = '[host]\nmemory = "1GiB"\n'
VM1 = '[[domain]]\nname = "vm1"\nmemory = "256MiB"\n'
OK = SIM + HOST + VM1


def vm(name: str, extra: str = "") -> str:
    return f'[[domain]]\nname = "{name}"\nmemory = "64MiB"\n{extra}'


def event(body: str) -> str:
    return f"[[event]]\n{body}\n"


CASES = [
    ("missing-duration", '[simulation]\nhz = 100\n' + HOST + VM1,
     "simulation.duration", "required key is missing"),
    ("duration-unit", '[simulation]\nduration = "5 parsecs"\n' + HOST + VM1,
     "simulation.duration", "expected a time in seconds, or a string such as"),
    ("duration-negative", '[simulation]\nduration = -5\n' + HOST + VM1,
     "simulation.duration", "expected a time"),
    ("duration-zero", '[simulation]\nduration = "0s"\n' + HOST + VM1,
     "simulation.duration", "expected a time above 0"),
    ("hz-zero", SIM + 'hz = 0\n' + HOST + VM1, "simulation.hz", "expected at least 1, got 0"),
    ("seed-negative", SIM + 'seed = -1\n' + HOST + VM1, "simulation.seed", "expected at least 0"),
    ("too-many-samples", '[simulation]\nduration = "10h"\nsample = "1ms"\n' + HOST + VM1,
     "simulation.sample", "expected at most 10,000,000 samples"),
    ("cost-garbage", SIM + 'cost = "slow"\n' + HOST + VM1,
     "simulation.cost", "expected 'default', 'instant' or a table"),
    ("cost-table-field", SIM + '[simulation.cost]\ninflate_page = 100\n' + HOST + VM1,
     "simulation.cost", "expected a table of CostModel fields"),
    ("host-memory-words", SIM + '[host]\nmemory = "lots"\n' + VM1,
     "host.memory", "expected a size such as '512MiB'"),
    ("host-memory-zero", SIM + '[host]\nmemory = "1K"\n' + VM1,
     "host.memory", "at least one page"),
    ("unknown-table", OK + '[hosts]\nmemory = "1G"\n', "hosts", "unknown key"),
    ("domain-typo", OK + 'maxmen = "1GiB"\n', "domain[0].maxmen", "did you mean 'maxmem'?"),
    ("domain-type", OK + 'type = "xen"\n', "domain[0].type", "expected 'pv' or 'hvm', got 'xen'"),
    ("domain-bool", OK + 'hotplug = "yes"\n', "domain[0].hotplug", "expected true or false"),
    ("domain-name", SIM + HOST + vm("vm 1"), "domain[0].name", "a name of letters, digits"),
    ("domain-missing-memory", SIM + HOST + '[[domain]]\nname = "vm1"\n',
     "domain[0].memory", "required key is missing"),
    ("duplicate-name", OK + vm("vm2") + vm("vm1"), "domain[2].name",
     "expected a unique name; 'vm1' is already declared by domain[0]"),
    ("group-clash", OK + vm("vm", "count = 3\n") + vm("vm2"), "domain[2].name",
     "'vm2' is already declared by domain[1]"),
    ("maxmem-below-memory", OK + 'maxmem = "128MiB"\n', "domain[0].maxmem",
     "expected at least memory (256 MiB), got 128 MiB"),
    ("dynamic-max-above-maxmem", OK + 'dynamic_max = "1GiB"\n', "domain[0].dynamic_max",
     "expected at most maxmem"),
    ("does-not-fit", SIM + HOST + vm("a", 'memory = "768MiB"\n'.replace("memory", "maxmem"))
     + '[[domain]]\nname = "b"\nmemory = "1GiB"\n', "domain[1].memory",
     "expected the domains to fit in the 960 MiB the host has left"),
    ("workload-kind", OK + '[domain.workload]\nkind = "bursty"\n', "domain[0].workload.kind",
     "expected one of 'none', 'constant', 'step'"),
    ("workload-no-kind", OK + '[domain.workload]\nanon = "1G"\n', "domain[0].workload.kind",
     "the key is missing"),
    ("workload-period", SIM + HOST + vm("a") + vm("b") + vm("c")
     + '[domain.workload]\nkind = "periodic"\namplitude = "64MiB"\nperiod = "soon"\n',
     "domain[2].workload.period", "expected a time"),
    ("workload-missing-period", OK + '[domain.workload]\nkind = "periodic"\namplitude = "1M"\n',
     "domain[0].workload.period", "required key is missing"),
    ("workload-composite-part", OK + '[domain.workload]\nkind = "composite"\n'
     '[[domain.workload.parts]]\nkind = "constant"\nanon = "1M"\n'
     '[[domain.workload.parts]]\nkind = "step"\nat = "1m"\nanon_after = "many"\n',
     "domain[0].workload.parts[1].anon_after", "expected a size"),
    ("workload-walk-range", OK + '[domain.workload]\nkind = "random-walk"\nstep = "1M"\n'
     'min = "2M"\nmax = "1M"\n', "domain[0].workload", "must be at least min"),
    ("workload-trace-missing", OK + '[domain.workload]\nkind = "trace"\n'
     'path = "/nonexistent/demand.csv"\n', "domain[0].workload", "No such file"),
    ("agent-name", OK + 'agent = "vmtoolsd"\n', "domain[0].agent", "'none', 'qmemman' or"),
    ("selfballoon-knob", OK + 'selfballoon = { interval = 0 }\n',
     "domain[0].selfballoon.interval", "expected at least 1, got 0"),
    ("policy-name", OK + '[policy]\nname = "my policy"\n', "policy.name",
     "'none', 'static', 'squeezed', 'qmemman' or 'package.module:Class'"),
    ("policy-class", OK + '[policy]\nname = "nosuch.module:Policy"\n', "policy",
     "expected a policy and its parameters: policy 'nosuch.module:Policy': cannot import"),
    ("policy-parameter", OK + '[policy]\nname = "static"\nreserve = "1G"\n', "policy",
     "expected a policy and its parameters"),
    ("event-action", OK + event('at = 1\naction = "reboot"\ndomain = "vm1"'), "event[0].action",
     "expected one of 'mem-set', 'mem-max', 'create'"),
    ("event-size", OK + event('at = 1\naction = "mem-set"\ndomain = "vm1"\nsize = 1.5'),
     "event[0].size", "expected a size"),
    ("event-unknown-domain", OK + event('at = 1\naction = "mem-set"\ndomain = "vm9"\nsize = "1G"'),
     "event[0].domain", "expected a declared domain or a pattern matching one (domains: vm1)"),
    ("event-after-end", OK + event('at = "2m"\naction = "destroy"\ndomain = "vm1"'),
     "event[0].at", "expected a time within the run (duration 60 s), got 120 s"),
    ("event-not-running", OK + event('at = 1\naction = "destroy"\ndomain = "vm1"')
     + event('at = 2\naction = "mem-set"\ndomain = "vm1"\nsize = "1M"'), "event[1].domain",
     "expected domains that are running at 2 s; 'vm1' is not running"),
    ("event-create-running", OK + event('at = 1\naction = "create"\ndomain = "vm1"'),
     "event[0].domain", "expected domains that are not running at 1 s"),
    ("tenant-both", OK + event('at = 1\naction = "tenant"\nsize = "1M"\nleave = "1M"'),
     "event[0].leave", "expected size or leave, not both"),
    ("tenant-name-taken", OK + event('at = 1\naction = "tenant"\nname = "vm1"'),
     "event[0].name", "expected a name not in use"),
    ("fault-no-domain", OK + event('at = 1\naction = "fault"\nfault = "page-alloc"'),
     "event[0].domain", "required for fault = 'page-alloc'"),
    ("fault-kind", OK + event('at = 1\naction = "fault"\nfault = "cosmic-ray"'),
     "event[0].fault", "expected 'increase-reservation' or 'page-alloc'"),
    ("workload-event-range", OK + event('at = 1\naction = "workload"\ndomain = "vm1"\n'
                                        'workload = { kind = "random-walk", step = "1M", '
                                        'min = "2M", max = "1M" }'),
     "event[0].workload", "must be at least min"),
    ("not-toml", "[simulation\nduration = 1", "(file)", "not valid TOML"),
]


@pytest.mark.parametrize("text, path, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_scenario_file_names_the_key(tmp_path: Path, text: str, path: str,
                                         message: str) -> None:
    """The error lists the key path and what was expected there; nothing runs."""
    file = tmp_path / "bad.toml"
    file.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        xb.run_scenario(file)
    assert any(p == path and message in m for p, m in caught.value.problems), \
        caught.value.problems
    assert f"  {path}: " in str(caught.value) and str(file) in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    """Several bad keys give one error listing each of them."""
    with pytest.raises(ScenarioError) as caught:
        load_spec({"simulation": {"duration": "x"}, "host": {"memory": -1},
                   "domain": [{"name": "vm1", "memory": "1M", "colour": "red"}]})
    paths = [p for p, _ in caught.value.problems]
    assert paths == ["simulation.duration", "host.memory", "domain[0].colour"]


def test_scenario_error_is_a_value_error() -> None:
    """ScenarioError is a XenBalloonError and a ValueError."""
    assert issubclass(xb.ScenarioError, xb.XenBalloonError)
    assert issubclass(xb.ScenarioError, ValueError)


def test_cli_prints_the_key_path_and_fails(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`xenballoon run bad.toml` exits 1 and prints each key path."""
    file = tmp_path / "bad.toml"
    file.write_text(OK + 'type = "xen"\n')
    assert main(["run", str(file)]) == 1
    out = capsys.readouterr().out
    assert "domain[0].type" in out and "expected 'pv' or 'hvm'" in out
