"""Traces of a scenario: the arrays, CSV, pandas, Parquet, plots, and the optional extras."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from xenballoon.cli import main
from xenballoon.scenarios import Result, examples, run_scenario
from xenballoon.trace import MissingExtra
from xenballoon.trace.io import COLUMNS

MIB = 256


@pytest.fixture(scope="module")
def demo() -> Result:
    return run_scenario(examples.path("demo"))


def test_trace_arrays_hold_every_sample(demo: Result) -> None:
    """One row per sample (0 to duration every `sample`), one column per domain."""
    trace = demo.trace
    assert trace.times.tolist() == [i * 0.25 for i in range(161)]
    assert trace.domains == ("vm1", "vm2", "vm3")
    assert trace.pages["current_pages"].shape == trace.state.shape == (161, 3)
    assert trace.pages["target_pages"][:, 0].tolist()[:4] == [256 * MIB] * 4
    assert trace.pages["current_pages"][-1].tolist() == [448 * MIB, 512 * MIB, 48 * MIB]
    assert int(trace.host_free_pages[0]) == (1024 - 256 - 256 - 16) * MIB


def test_csv_needs_nothing_extra(demo: Result, tmp_path: Path) -> None:
    """to_csv writes the long table: one row per sample per running domain."""
    path = tmp_path / "t.csv"
    demo.trace.to_csv(path)
    with path.open() as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == 1 + 161 * 3
    # no workload: no anonymous or cache pages, the guest's RAM all free
    assert rows[-1] == ["40", "vm3", "DONE", "12288", "12288", "24576", "0",
                        "0", "0", "0", "12288", "0", "0", "4096"]


def test_pandas_and_parquet_agree(demo: Result, tmp_path: Path) -> None:
    """to_pandas and a Parquet round trip give the same table, categories included."""
    pq = pytest.importorskip("pyarrow.parquet")
    frame = demo.trace.to_pandas()
    assert list(frame.columns) == list(COLUMNS)
    assert set(frame["state"].unique()) == {"DONE", "EAGAIN", "ECANCELED"}
    demo.trace.to_parquet(tmp_path / "t.parquet")
    back = pq.read_table(tmp_path / "t.parquet").to_pandas()
    assert back["current_pages"].tolist() == frame["current_pages"].tolist()
    assert back["domain"].astype(str).tolist() == frame["domain"].astype(str).tolist()


def test_events_frame(demo: Result) -> None:
    """The event log converts to a DataFrame of time, domain, action, detail."""
    pytest.importorskip("pandas")
    events = demo.trace.events_to_pandas()
    assert events.iloc[0].to_dict() == {"time": 1.0, "domain": "vm1", "action": "mem-set",
                                        "detail": "target 448 MiB"}


def test_destroyed_domain_leaves_the_long_table() -> None:
    """Samples of a domain that is not running are not rows of the table."""
    data = {"simulation": {"duration": "4s", "cost": "instant"}, "host": {"memory": "64MiB"},
            "domain": [{"name": "a", "memory": "8MiB"}, {"name": "b", "memory": "8MiB"}],
            "event": [{"at": 2, "action": "destroy", "domain": "b"}]}
    cols = run_scenario(data).trace.columns()
    assert cols["domain"].tolist() == [0, 1, 0, 1, 0, 0, 0]


@pytest.mark.parametrize("count", [3, 40])
def test_plot_writes_a_png(tmp_path: Path, count: int) -> None:
    """A panel per domain for a few, quantile bands for many; the PNG is written."""
    pytest.importorskip("matplotlib")
    data = {"simulation": {"duration": "20s", "cost": "instant"}, "host": {"memory": "1GiB"},
            "domain": [{"name": "vm", "count": count, "memory": "16MiB", "maxmem": "32MiB"}],
            "event": [{"at": 5, "action": "mem-set", "domain": "vm1*", "size": "24MiB"}]}
    result = run_scenario(data)
    fig = result.plot(tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert len(fig.axes) == (count + 1 if count <= 8 else 3)


def test_cli_writes_trace_plot_and_json(tmp_path: Path) -> None:
    """`run --trace x.csv --plot x.svg --json x.json` writes all three."""
    pytest.importorskip("matplotlib")
    out = {s: tmp_path / f"x.{s}" for s in ("csv", "svg", "json")}
    assert main(["run", "--example", "host-oom-deflate", "--trace", str(out["csv"]),
                 "--plot", str(out["svg"]), "--json", str(out["json"])]) == 0
    assert out["csv"].read_text().startswith("time,domain,state")
    assert b"<svg" in out["svg"].read_bytes()[:500]


def test_cli_refuses_a_bad_suffix_before_running(capsys: pytest.CaptureFixture[str]) -> None:
    """--trace x.xlsx fails at once, naming the formats."""
    assert main(["run", "--example", "demo", "--trace", "x.xlsx"]) == 1
    assert "expected a .csv or .parquet or .pq file name" in capsys.readouterr().out


def hide(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """Make ``module`` look uninstalled."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == module else real(name, *a))
    monkeypatch.setitem(sys.modules, module, None)  # type: ignore[arg-type]


def test_plot_without_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Without matplotlib, --plot says which extra to install (before running)."""
    hide(monkeypatch, "matplotlib")
    assert main(["run", "--example", "demo", "--plot", "x.png"]) == 1
    assert "pip install 'xenballoon[plot]'" in capsys.readouterr().out


def test_pandas_missing_names_the_extra(demo: Result, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pandas, to_pandas raises MissingExtra naming the 'trace' extra."""
    hide(monkeypatch, "pandas")
    with pytest.raises(MissingExtra, match=r"xenballoon\[trace\]"):
        demo.trace.to_pandas()


def test_recorder_follows_the_worker_not_the_clock(demo: Result) -> None:
    """Between worker runs the recorded columns do not change (no per-sample reads)."""
    current: Any = demo.trace.pages["current_pages"][:, 1]
    changes = np.flatnonzero(np.diff(current.astype(np.int64)))
    assert (demo.trace.times[changes + 1]).tolist() == [2.0, 4.0, 31.0]
