"""The command line: demo, steer, help and usage errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from xenballoon.cli import main


def test_demo_prints_timeline_and_check(capsys: pytest.CaptureFixture[str]) -> None:
    """`xenballoon demo` prints the timeline and the final invariant check."""
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for text in ("target 448 MiB", "EAGAIN", "ECANCELED", "memory1 online +128 MiB", "WAIT",
                 "invariant check: OK"):
        assert text in out


def test_demo_scale_multiplies_every_size(capsys: pytest.CaptureFixture[str]) -> None:
    """`xenballoon demo --scale 2` tells the same story on a 2 GiB host."""
    assert main(["demo", "--scale", "2"]) == 0
    out = capsys.readouterr().out
    assert "2,048.0 MiB host" in out
    assert "vm1: current 896.0 MiB, target 896.0 MiB, state DONE" in out


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


@pytest.mark.parametrize("via, line", [
    ("xenstore", "$ xl mem-set vm1 262144k\nvm1: DONE"),
    ("sysfs", "$ echo 262144 > /sys/devices/system/xen_memory/xen_memory0/target_kb\nvm1: DONE")])
def test_steer_moves_a_guest_and_prints_xl_list(capsys: pytest.CaptureFixture[str], via: str,
                                                line: str) -> None:
    """`xenballoon steer --target 256M` balloons a 512M guest down and prints xl list."""
    assert main(["steer", "--target", "256M", "--via", via]) == 0
    out = capsys.readouterr().out
    assert line in out
    assert "vm1" in out and "256" in out and "Target" in out


def test_demo_prints_xl_list(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo ends with the xl list table of its domains."""
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "Balloon" in out and "Target" in out


@pytest.mark.parametrize("argv", [["steer"], ["steer", "--target", "1.5G"],
                                  ["steer", "--target", "1G", "--host", "lots"],
                                  ["steer", "--target", "1G", "--memory", "4K1"],
                                  ["steer", "--target", "1G", "--memory", "100"],
                                  ["steer", "--target", "1G", "--via", "ssh"]])
def test_steer_bad_sizes_are_usage_errors(argv: list[str]) -> None:
    """Missing or malformed sizes exit 2 with usage."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_steer_guest_larger_than_host_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    """A guest that does not fit on the host is an error message and exit status 1."""
    assert main(["steer", "--host", "1G", "--memory", "2G", "--target", "1G"]) == 1
    assert "cannot create a domain" in capsys.readouterr().out
