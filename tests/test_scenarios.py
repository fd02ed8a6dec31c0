"""Scenarios: the built-in examples (from Python and from the CLI), the timeline's actions,
the summary, and what the toolstack refuses while a scenario runs."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import xenballoon as xb
from xenballoon.cli import main
from xenballoon.scenarios import Result, examples, run_scenario
from xenballoon.scenarios.load import read_toml

MIB = 256
Summary = dict[str, Any]


def balloon_runs(result: Result, domain: str) -> list[tuple[float, str]]:
    """(time, state) of the domain's worker runs that were logged."""
    return [(e.time, e.detail.split(":")[0]) for e in result.events
            if e.domain == domain and e.action == "balloon"]


def sample_at(result: Result, t: float) -> int:
    return int((result.trace.times <= t).sum()) - 1


def demo(s: Summary) -> None:
    d = s["domains"]
    assert [d[n]["current_pages"] for n in ("vm1", "vm2", "vm3")] == [448 * MIB, 512 * MIB,
                                                                      48 * MIB]
    assert d["vm2"]["time_to_target"] == 27.0   # set at 4 s, reached at 31 s
    assert s["host"]["min_free_pages"] == 0


def host_oom_deflate(s: Summary) -> None:
    vm1 = s["domains"]["vm1"]
    assert vm1["state"] == "DONE" and vm1["current_pages"] == 1024 * MIB
    assert vm1["targets"][-1] == {"target_pages": 1024 * MIB, "set_at": 20.0,
                                  "reached_at": 70.0, "seconds": 50.0}
    assert s["host"]["min_free_pages"] == 0


def hotplug_growth(s: Summary) -> None:
    d = s["domains"]
    assert d["hotplug"]["current_pages"] == 768 * MIB
    assert d["no-hotplug"]["current_pages"] == 512 * MIB
    assert d["no-hotplug"]["state"] == "ECANCELED"


def thousand_guests(s: Summary) -> None:
    d = s["domains"]
    assert len(d) == 1000
    assert {(v["state"], v["current_pages"]) for v in d.values()} == {("DONE", 4 * MIB)}
    assert s["host"]["min_free_pages"] == 0
    assert s["host"]["free_pages"] == 5 * 1024 * MIB - 1000 * 4 * MIB


def qmemman_anonymous(s: Summary) -> None:
    anon = s["domains"]["anon"]
    assert anon["current_pages"] == 500 * MIB > anon["target_pages"]  # never moved
    assert anon["pswpout"] > 0 and anon["oom_kills"] == 0  # all anonymous, some swapped


def squeezed_vm_start(s: Summary) -> None:
    d = s["domains"]
    assert d["new"]["state"] == "not running"
    assert {d[n]["state"] for n in ("db1", "db2")} == {"ECANCELED"}
    assert all(d[n]["current_pages"] > 700 * MIB for n in ("db1", "db2"))


def selfballoon_spike(s: Summary) -> None:
    d = s["domains"]
    assert d["self"]["oom_kills"] == 1 and d["self"]["pswpout"] > 0
    assert d["self"]["current_pages"] < 512 * MIB
    assert d["plain"]["oom_kills"] == 0 and d["plain"]["unmet_anon_page_seconds"] == 0
    assert d["plain"]["current_pages"] == 1024 * MIB


CHECKS: dict[str, Callable[[Summary], None]] = {
    "demo": demo, "host-oom-deflate": host_oom_deflate, "hotplug-growth": hotplug_growth,
    "thousand-guests": thousand_guests, "qmemman-anonymous": qmemman_anonymous,
    "squeezed-vm-start": squeezed_vm_start, "selfballoon-spike": selfballoon_spike}


@pytest.fixture(scope="module")
def ran() -> dict[str, Result]:
    return {name: run_scenario(examples.path(name)) for name in examples.names()}


def test_every_example_has_a_description_and_a_check() -> None:
    """Each built-in example says what it shows, and this file checks its outcome."""
    assert sorted(CHECKS) == examples.names()
    for name in examples.names():
        assert len(examples.describe(name)) > 60


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example_from_python(ran: dict[str, Result], name: str) -> None:
    """xb.run_scenario runs each example to its key outcome; every frame is accounted for."""
    result = ran[name]
    CHECKS[name](result.summary)
    result.world.hypervisor.check(guests=True)
    assert result.world.hypervisor.leaks == 0


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              name: str) -> None:
    """`xenballoon run --example NAME --json` prints a summary and writes the same dict."""
    out = tmp_path / "summary.json"
    assert main(["run", "--example", name, "--json", str(out)]) == 0
    CHECKS[name](json.loads(out.read_text()))
    printed = capsys.readouterr().out
    assert "timeline" in printed and "host:" in printed


def test_demo_example_tells_the_demo_story(ran: dict[str, Result]) -> None:
    """The squeezed guest backs off at 4, 6, 10 s, cancels at 18 s and recovers at 31 s;
    vm3 hotplugs a section (WAIT) and populates it at 32 s."""
    result = ran["demo"]
    assert balloon_runs(result, "vm2") == [(4.0, "EAGAIN"), (6.0, "EAGAIN"), (10.0, "EAGAIN"),
                                           (18.0, "ECANCELED"), (31.0, "DONE")]
    vm3 = [(e.time, e.action, e.detail.split(":")[0]) for e in result.events
           if e.domain == "vm3"]
    assert vm3[-3:] == [(32.0, "hotplug", "memory1 online +128 MiB"),
                        (32.0, "balloon", "WAIT"), (32.0, "balloon", "DONE")]
    vm3 = result.world.balloons["vm3"].stats
    assert vm3.total_pages == 16 * MIB + xb.PAGES_PER_SECTION


def test_out_of_memory_mid_deflate_backs_off_then_cancels(ran: dict[str, Result]) -> None:
    """With 64 MiB free, vm1's deflate stalls: EAGAIN at 20, 22, 26 s, ECANCELED at 34 s
    with the target unmet; the rewritten target at 70 s brings it back."""
    result = ran["host-oom-deflate"]
    assert balloon_runs(result, "vm1") == [(20.0, "EAGAIN"), (22.0, "EAGAIN"),
                                           (26.0, "EAGAIN"), (34.0, "ECANCELED"),
                                           (70.0, "DONE")]
    k = sample_at(result, 50.0)
    assert result.trace.pages["current_pages"][k, 0] == 576 * MIB
    assert result.trace.host_free_pages[k] == 0


def test_hotplug_guest_grows_past_boot_memory(ran: dict[str, Result]) -> None:
    """At 59 s the hotplug guest holds 1.5 GiB (boot 512 MiB); its twin stays at boot."""
    result = ran["hotplug-growth"]
    k = sample_at(result, 59.0)
    assert result.trace.pages["current_pages"][k].tolist() == [1536 * MIB, 512 * MIB]
    assert result.world.balloons["hotplug"].stats.total_pages == 512 * MIB + 8 * 32768


def test_thousand_guests_some_give_up_when_static_resplits(ran: dict[str, Result]) -> None:
    """The batch job's arrival at 10 min makes the static policy write every guest's 4 MiB
    share with 128 MiB free: 128 get it, 872 give up (ECANCELED); rewriting vm[1-5]*'s
    targets at 30 min brings those 472 back, the other 400 wait for 45 min."""
    result = ran["thousand-guests"]
    trace = result.trace
    asked = [i for i, n in enumerate(trace.domains) if n[2] in "12345"]
    k = sample_at(result, 20 * 60)
    assert len(asked) == 556
    assert (trace.state[k] == xb.BPState.ECANCELED).sum() == 872
    assert (trace.pages["current_pages"][k] == 4 * MIB).sum() == 128
    after = trace.pages["current_pages"][sample_at(result, 31 * 60)]
    assert set(after[asked].tolist()) == {4 * MIB}
    assert (after == 3 * MIB).sum() == 400
    assert result.world.policy.policy.name == "static"


def test_qmemman_logs_that_the_anonymous_guest_refused(caplog: pytest.LogCaptureFixture) \
        -> None:
    """qmemman asks "anon" (domid 2) to balloon down at 10 s; it does not move a page."""
    with caplog.at_level(logging.WARNING, logger="xenballoon.qmemman"):
        result = run_scenario(examples.path("qmemman-anonymous"))
    refused = [r.getMessage() for r in caplog.records
               if "VM refused to give back requested memory" in r.getMessage()]
    assert refused and all(m.startswith("dom 2:") for m in refused)
    k = sample_at(result, 20.0)
    anon = result.trace.domains.index("anon")
    assert result.trace.pages["current_pages"][k, anon] == 500 * MIB
    assert result.trace.pages["swap_used"][k, anon] > 0


def test_squeezed_refuses_the_vm_start_after_its_stuck_timeout(ran: dict[str, Result]) -> None:
    """The start asked at 20 s waits for the balance thread, then the two guests do not move
    for 5 s: DomainsRefusedToCooperate names both (domids 1, 2) at 27 s."""
    creates = [(e.time, e.detail) for e in ran["squeezed-vm-start"].events
               if e.action == "create"]
    assert creates == [(20.0, "asks squeezed to reserve 1 GiB"),
                       (27.0, "refused: DomainsRefusedToCooperate: "
                              "Domains_refused_to_cooperate: [1, 2]")]


def test_selfballooned_guest_swaps_then_is_oom_killed_in_the_spike(
        ran: dict[str, Result]) -> None:
    """Before the spike "self" holds about 400 MiB; during the ramp it swaps; by 70 s the
    OOM killer has killed its workload; "plain" keeps every page of its demand."""
    result = ran["selfballoon-spike"]
    pages = result.trace.pages
    before, during, after = (sample_at(result, t) for t in (59.0, 65.0, 70.0))
    assert pages["current_pages"][before, 0] < 420 * MIB
    assert pages["swap_used"][during, 0] > 0 and pages["oom_kills"][before, 0] == 0
    assert pages["oom_kills"][after, 0] == 1 and pages["anon_pages"][after, 0] == 0
    assert pages["anon_pages"][after, 1] == 700 * MIB and pages["oom_kills"][after, 1] == 0


def test_workload_event_changes_the_demand() -> None:
    """A ``workload`` event replaces the domain's workload from its time on."""
    spec = {"simulation": {"duration": 20, "cost": "instant"}, "host": {"memory": "1GiB"},
            "domain": [{"name": "vm1", "memory": "512MiB", "workload":
                        {"kind": "constant", "anon": "100MiB", "file": "50MiB"}}],
            "event": [{"at": 10, "action": "workload", "domain": "vm1",
                       "workload": {"kind": "constant", "anon": "300MiB"}}]}
    result = run_scenario(spec)
    pages = result.trace.pages
    assert pages["anon_pages"][sample_at(result, 9.0), 0] == 100 * MIB
    assert pages["file_pages"][sample_at(result, 9.0), 0] == 50 * MIB
    assert pages["anon_pages"][sample_at(result, 11.0), 0] == 300 * MIB
    assert ("vm1", "workload", "constant workload") in [
        (e.domain, e.action, e.detail) for e in result.events]


def test_guest_model_keys_are_wired_into_the_guests() -> None:
    """swap sizes the swap device; each agent writes the node its toolstack lets it write
    (qmemman: memory/meminfo, xapi: control/feature-balloon); selfballoon takes its knobs."""
    spec = {"simulation": {"duration": 2, "cost": "instant"}, "host": {"memory": "1GiB"},
            "domain": [{"name": "q", "memory": "128MiB", "agent": "qmemman", "swap": "64MiB",
                        "workload": {"kind": "constant", "anon": "32MiB"}},
                       {"name": "x", "memory": "128MiB", "agent": "xapi",
                        "selfballoon": {"interval": 2, "reserved_mb": 16}}]}
    world = run_scenario(spec).world
    store = world.hypervisor.xenstore
    q, x = world.guests["q"], world.guests["x"]
    assert q.swap_pages == 64 * MIB and x.swap_pages == 0
    assert store.read(f"{q.domain.home}/memory/meminfo") == str(32 * 1024)  # used KiB
    assert store.read(f"{x.domain.home}/control/feature-balloon") == "1"
    assert (world.selfballoons["x"].interval, world.selfballoons["x"].reserved_mb) == (2, 16)
    assert "q" not in world.selfballoons


def test_random_walk_is_the_same_for_the_same_seed() -> None:
    """A random walk without its own seed takes [simulation] seed + the domain's index."""
    def run(seed: int) -> list[int]:
        spec = {"simulation": {"duration": 30, "cost": "instant", "seed": seed},
                "host": {"memory": "1GiB"},
                "domain": [{"name": "vm", "count": 2, "memory": "256MiB", "workload":
                            {"kind": "random-walk", "anon": "64MiB", "step": "4MiB"}}]}
        return run_scenario(spec).trace.pages["anon_pages"][:, 0].tolist()

    assert run(1) == run(1) != run(2)


def test_dict_and_file_give_the_same_run() -> None:
    """A scenario given as a dict runs as its TOML file does."""
    data = read_toml(examples.path("host-oom-deflate"))
    assert run_scenario(data).summary == run_scenario(examples.path("host-oom-deflate")).summary


def scenario(*events: dict[str, Any], **domain: Any) -> dict[str, Any]:
    vm1 = {"name": "vm1", "memory": "64MiB", "maxmem": "128MiB"} | domain
    return {"simulation": {"duration": "30s", "cost": "instant"}, "host": {"memory": "256MiB"},
            "domain": [vm1, {"name": "vm2", "memory": "64MiB", "autostart": False}],
            "event": list(events)}


def detail(result: Result, action: str) -> str:
    return next(e.detail for e in result.events if e.action == action)


def test_mem_set_above_static_max_is_refused_and_logged() -> None:
    """xl refuses a target above static-max; the run goes on with the old target."""
    result = run_scenario(scenario({"at": 1, "action": "mem-set", "domain": "vm1",
                                    "size": "256MiB"}))
    assert detail(result, "mem-set").startswith("refused: xl mem-set vm1 262144k: "
                                                "memory_dynamic_max must be less than")
    assert result.summary["domains"]["vm1"]["target_pages"] == 64 * MIB


def test_mem_max_below_target_is_refused_and_logged() -> None:
    """xl refuses a maximum below the current target."""
    result = run_scenario(scenario({"at": 1, "action": "mem-max", "domain": "vm1",
                                    "size": "32MiB"}))
    assert "memory_static_max must be greater than or equal" in detail(result, "mem-max")
    assert result.world.guests["vm1"].domain.max_pages == 128 * MIB


def test_create_and_destroy_on_the_timeline() -> None:
    """A domain boots at its create event and is gone after destroy: its trace reads -1."""
    result = run_scenario(scenario({"at": 5, "action": "create", "domain": "vm2"},
                                   {"at": 10, "action": "destroy", "domain": "vm2"}))
    state = result.trace.state[:, 1].tolist()
    assert state[4:6] == [-1, 0] and state[9:11] == [0, -1]
    assert result.summary["domains"]["vm2"]["state"] == "destroyed"
    assert result.summary["host"]["free_pages"] == 192 * MIB


def test_create_without_memory_is_refused_and_logged() -> None:
    """A create the host has no memory for is refused; the domain never runs."""
    result = run_scenario(scenario({"at": 1, "action": "tenant", "name": "hog"},
                                   {"at": 2, "action": "create", "domain": "vm2"}))
    assert detail(result, "create").startswith("refused: cannot create a domain")
    assert result.summary["domains"]["vm2"]["state"] == "not running"


def test_fault_on_increase_reservation_makes_the_deflate_wait() -> None:
    """An increase-reservation fault of 2 calls: EAGAIN twice (backoff 2 s, 4 s), then the
    deflate completes."""
    result = run_scenario(scenario(
        {"at": 1, "action": "mem-set", "domain": "vm1", "size": "32MiB"},
        {"at": 2, "action": "fault", "fault": "increase-reservation", "calls": 2},
        {"at": 3, "action": "mem-set", "domain": "vm1", "size": "64MiB"}))
    assert balloon_runs(result, "vm1") == [(3.0, "EAGAIN"), (5.0, "EAGAIN"), (9.0, "DONE")]


def test_page_alloc_fault_makes_the_inflate_wait() -> None:
    """The driver's first page allocation fails: EAGAIN, and the retry 2 s later succeeds."""
    result = run_scenario(scenario(
        {"at": 1, "action": "fault", "fault": "page-alloc", "domain": "vm1", "count": 1},
        {"at": 2, "action": "mem-set", "domain": "vm1", "size": "32MiB"}))
    assert balloon_runs(result, "vm1") == [(2.0, "EAGAIN"), (4.0, "DONE")]


def test_pattern_events_act_on_every_matching_domain() -> None:
    """domain = "web*" sets the target of each domain of a group."""
    data = {"simulation": {"duration": "10s", "cost": "instant"}, "host": {"memory": "1GiB"},
            "domain": [{"name": "web", "count": 3, "memory": "64MiB"},
                       {"name": "db", "memory": "64MiB"}],
            "event": [{"at": 1, "action": "mem-set", "domain": "web*", "size": "32MiB"}]}
    summary = run_scenario(data).summary["domains"]
    assert {n: d["current_pages"] for n, d in summary.items()} == {
        "web1": 32 * MIB, "web2": 32 * MIB, "web3": 32 * MIB, "db": 64 * MIB}


def test_cost_model_default_and_table() -> None:
    """cost = "default" is CostModel.default(); a table is CostModel(**table)."""
    data = scenario({"at": 1, "action": "mem-set", "domain": "vm1", "size": "32MiB"})
    data["simulation"]["cost"] = "default"
    result = run_scenario(data)
    assert result.world.hypervisor.cost == xb.CostModel.default()
    assert result.summary["domains"]["vm1"]["current_pages"] == 32 * MIB
    data["simulation"]["cost"] = {"release_ns": 1e6}     # 1 ms per page given back
    slow = run_scenario(data)
    episode = slow.summary["domains"]["vm1"]["targets"][-1]
    assert episode["set_at"] == 1.0 and episode["seconds"] > 8.0  # 8192 pages at 1 ms
    current = slow.trace.pages["current_pages"][:, 0]
    assert 8192 < current[5] < 16384                    # the trace shows the run midway


def test_policy_is_attached_and_ticks() -> None:
    """[policy] name = "static" attaches the static split to the host."""
    data = scenario()
    data["policy"] = {"name": "static", "interval": "1s"}
    result = run_scenario(data)
    assert result.world.policy.policy.name == "static"
    assert result.world.policy.active


def test_progress_callback_sees_simulated_time() -> None:
    """progress=callable gets (now, duration), ending at the duration."""
    seen: list[tuple[float, float]] = []
    run_scenario(scenario(), progress=lambda now, end: seen.append((now, end)))
    assert seen[0] == (0.0, 30.0) and seen[-1] == (30.0, 30.0)


def test_import_xenballoon_does_not_load_scenarios() -> None:
    """`import xenballoon` stays light: pydantic loads on first use of run_scenario."""
    code = ("import sys, xenballoon as xb; assert 'pydantic' not in sys.modules; "
            "xb.run_scenario; assert 'pydantic' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_run_lists_examples(capsys: pytest.CaptureFixture[str]) -> None:
    """`xenballoon run --list` lists every example; `run` alone lists them and exits 2."""
    assert main(["run", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in examples.names())
    assert main(["run"]) == 2


def test_run_unknown_example(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown example name fails and lists the names."""
    assert main(["run", "--example", "nope"]) == 1
    assert "the examples are: demo" in capsys.readouterr().out


def test_readme_scenario_file_runs(tmp_path: Path) -> None:
    """The README's TOML example is a valid scenario: vm1 gives back 512 MiB."""
    readme = Path(__file__).resolve().parents[1] / "README.md"
    block = re.search(r"```toml\n(.*?)```", readme.read_text(), flags=re.S)
    assert block is not None
    (tmp_path / "readme.toml").write_text(block[1])
    summary = run_scenario(tmp_path / "readme.toml").summary
    assert summary["domains"]["vm1"]["current_pages"] == 512 * MIB


def test_host_with_a_domain_0() -> None:
    """[host] dom0_memory gives the host a Domain-0 holding that memory."""
    data = scenario()
    data["host"]["dom0_memory"] = "128MiB"
    result = run_scenario(data)
    dom0 = result.world.hypervisor.dom0
    assert dom0 is not None and dom0.tot_pages == 128 * MIB
    assert result.summary["host"]["free_pages"] == (256 - 128 - 64) * MIB
