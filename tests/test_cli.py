"""The command line and the built-in demo scenario."""

from __future__ import annotations

import subprocess
import sys

import pytest

from xenballoon.cli import main
from xenballoon.scenario import MIB, run_demo


def test_demo_scenario_squeezes_until_cancel() -> None:
    """The demo's squeezed guest backs off at 4, 6, 10 s and cancels at 18 s."""
    result = run_demo()
    vm2 = [(e.time, e.state) for e in result.events if e.domain == "vm2" and e.state]
    assert vm2[2:6] == [(4.0, "EAGAIN"), (6.0, "EAGAIN"), (10.0, "EAGAIN"),
                        (18.0, "ECANCELED")]
    assert vm2[-1] == (31.0, "DONE")
    assert result.balloons["vm1"].stats.current_pages == 448 * MIB
    assert result.balloons["vm2"].stats.current_pages == 512 * MIB
    result.hypervisor.check()
    for balloon in result.balloons.values():
        balloon.guest.check()


def test_demo_prints_timeline_and_check(capsys: pytest.CaptureFixture[str]) -> None:
    """`xenballoon demo` prints the timeline and the final invariant check."""
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for text in ("mem-set 448M", "EAGAIN", "ECANCELED", "invariant check: OK"):
        assert text in out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    """With no command the help is printed and the exit status is 2."""
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["demo", "--scale", "0"], ["nope"]])
def test_bad_arguments_exit_with_usage(argv: list[str]) -> None:
    """Bad arguments are usage errors (exit 2)."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_console_script_help() -> None:
    """`python -m xenballoon --help` lists the commands."""
    out = subprocess.run([sys.executable, "-m", "xenballoon", "--help"], check=True,
                         capture_output=True, text=True).stdout
    assert "demo" in out
