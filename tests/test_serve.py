"""``xenballoon serve``: the command as a subprocess on a temporary socket, steered by
xenstore-utils' tools (Debian's ``xenstore-utils``; those tests are skipped, saying so,
where it is missing), and the step-by-step scenario run it is built on.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from xenballoon.cli import main
from xenballoon.scenarios import ScenarioRun, examples, run_scenario

GIB_PAGES = 1 << 18
SCENARIO = """
description = "Two 1 GiB guests on a 4 GiB host, steered through xenstore."

[simulation]
duration = "{duration}"
sample = "1s"
cost = "instant"

[host]
memory = "4GiB"

[[domain]]
name = "vm1"
memory = "1GiB"
maxmem = "2GiB"

[[domain]]
name = "vm2"
memory = "1GiB"
maxmem = "2GiB"
"""


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="xbs", dir="/tmp"))  # Unix socket paths are short
    yield path
    shutil.rmtree(path)


def scenario(folder: Path, duration: str = "1h") -> Path:
    path = folder / "host.toml"
    path.write_text(SCENARIO.format(duration=duration), encoding="utf-8")
    return path


def start(folder: Path, *options: str, duration: str = "1h") -> subprocess.Popen[str]:
    """``xenballoon serve`` at 50 simulated s per s, once its socket is listening."""
    sock = folder / "sock"
    argv = [sys.executable, "-m", "xenballoon", "serve", str(scenario(folder, duration)),
            "--socket", str(sock), "--speed", "50", "--json", str(folder / "summary.json"),
            *options]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    deadline = time.monotonic() + 60
    while not sock.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise AssertionError(f"serve did not start: {server.communicate()[0]}")
        time.sleep(0.02)
    return server


def stop(server: subprocess.Popen[str], signum: int) -> str:
    server.send_signal(signum)
    out, _ = server.communicate(timeout=60)
    assert server.returncode == 0, out
    return out


def tool(folder: Path, *args: str) -> str:
    """One of xenstore-utils' tools against the served socket; its output."""
    if shutil.which(args[0]) is None:
        pytest.skip(f"{args[0]} is missing: install Debian's xenstore-utils package")
    env = dict(os.environ, XENSTORED_PATH=str(folder / "sock"))
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_xenstore_write_moves_the_guests_balloon(folder: Path) -> None:
    """memory/target is KiB: 262144 makes vm1 (domain 1) balloon down to 256 MiB, and the
    summary written on SIGTERM shows it there, with vm2 untouched."""
    server = start(folder)
    try:
        assert 'target = "1048576"' in tool(folder, "xenstore-ls", "/local/domain/1")
        tool(folder, "xenstore-write", "/local/domain/1/memory/target", "262144")
        assert tool(folder, "xenstore-read", "/local/domain/1/memory/target") == "262144\n"
    finally:
        out = stop(server, signal.SIGTERM)
    summary = json.loads((folder / "summary.json").read_text())
    vm1, vm2 = summary["domains"]["vm1"], summary["domains"]["vm2"]
    assert vm1["current_pages"] == vm1["target_pages"] == GIB_PAGES // 4
    assert vm1["targets"][-1]["target_pages"] == GIB_PAGES // 4
    assert vm1["targets"][-1]["reached_at"] is not None
    assert vm2["current_pages"] == GIB_PAGES
    assert summary["host"]["free_pages"] == 4 * GIB_PAGES - GIB_PAGES - GIB_PAGES // 4
    assert 0 < summary["duration"] < 3600
    assert "vm1" in out and "summary written to" in out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_removes_the_sockets_and_writes_the_summary(
        folder: Path, signum: int) -> None:
    server = start(folder, "--guest-sockets")
    deadline = time.monotonic() + 60
    while not (folder / "sock.2").exists():  # the guests' sockets follow dom0's
        assert time.monotonic() < deadline
        time.sleep(0.02)
    out = stop(server, signum)
    assert sorted(p.name for p in folder.iterdir()) == ["host.toml", "summary.json"]
    summary = json.loads((folder / "summary.json").read_text())
    assert set(summary["domains"]) == {"vm1", "vm2"}
    assert summary["domains"]["vm1"]["current_pages"] == GIB_PAGES
    assert "stopped at" in out and "requests" in out


def test_serving_ends_with_the_scenario(folder: Path) -> None:
    """A 2-second scenario at 50 simulated s per s ends by itself, as `run` would."""
    server = start(folder, duration="2s")
    out, _ = server.communicate(timeout=60)
    assert server.returncode == 0, out
    assert not (folder / "sock").exists()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["duration"] == 2.0
    assert summary == run_scenario(scenario(folder, "2s")).summary


def test_a_bad_scenario_fails_before_serving(folder: Path) -> None:
    path = folder / "bad.toml"
    path.write_text(SCENARIO.format(duration="1h").replace('maxmem = "2GiB"', 'maxmem = "x"',
                                                            1), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "xenballoon", "serve", str(path), "--socket",
                           str(folder / "sock")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "domain[0].maxmem" in done.stdout
    assert not (folder / "sock").exists()


def test_help_lists_the_served_and_the_refused_operations(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    served, refused = text.split("served:")[1].split("answered ENOSYS:")
    for name in ("DIRECTORY", "READ", "WRITE", "WATCH", "TRANSACTION_START", "RESET_WATCHES"):
        assert f"{name}," in served or f"{name};" in served
    for name in ("INTRODUCE", "RELEASE", "SET_TARGET", "CONTROL"):
        assert name in refused.split("(")[0]


def test_a_scenario_run_in_steps_is_the_run_in_one_go() -> None:
    """`ScenarioRun.advance` in uneven steps (the server's pacing) samples and ends exactly
    as `run_scenario` on the demo's timeline."""
    source = examples.path("demo")
    steps = ScenarioRun(source)
    for t in (0.0, 0.3, 1.0, 7.25, 7.25, 19.9, 31.5, 40.0):
        steps.advance(t)
        assert steps.now == t
    assert steps.done
    stepped, whole = steps.finish(), run_scenario(source)
    assert stepped.summary == whole.summary
    assert stepped.events == whole.events
    a, b = stepped.trace, whole.trace
    assert np.array_equal(a.times, b.times)
    assert np.array_equal(a.state, b.state)
    assert np.array_equal(a.host_free_pages, b.host_free_pages)
    assert all(np.array_equal(a.pages[k], b.pages[k]) for k in b.pages)
