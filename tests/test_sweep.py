"""Sweeps on every engine give the serial run's table; failing runs are rows; the CLI.

One local cluster and one `dask scheduler` + 2 `dask worker` processes serve the whole module
(a cluster costs seconds to start).  Every run is a real `run_scenario` of a small scenario.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import xenballoon as xb
from xenballoon import cli
from xenballoon.sweep.table import aggregate, write

distributed = pytest.importorskip("distributed")

SCENARIO: dict[str, Any] = {
    "simulation": {"duration": "20s", "cost": "instant"},
    "host": {"memory": "64MiB"},
    "domain": [{"name": "vm1", "memory": "16MiB"}, {"name": "vm2", "memory": "8MiB"}],
    "event": [{"at": "2s", "action": "mem-set", "domain": "vm1", "size": "4MiB"},
              {"at": "5s", "action": "tenant", "leave": "2MiB"},
              {"at": "8s", "action": "mem-set", "domain": "vm1", "size": "16MiB"}],
}
VARY = {"host.memory": ["48MiB", "64MiB"], "domain[1].memory": ["4MiB", "8MiB"]}
SEEDS = 2
BAD_HOST = "1KiB"   # below one page: every run with it fails


def deterministic(df: pd.DataFrame) -> pd.DataFrame:
    """The table without the wall times (the one column that depends on the machine)."""
    return df.drop(columns="wall_seconds")


@pytest.fixture(scope="module")
def serial() -> pd.DataFrame:
    """The reference: every run one after another, in this process."""
    with ThreadPoolExecutor(1) as executor:
        return xb.sweep(SCENARIO, vary=VARY, seeds=SEEDS, client=executor)


@pytest.fixture(scope="module")
def local_client() -> Iterator[Any]:
    """A 2-worker local Dask cluster of processes."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `dask scheduler` and 2 `dask worker` processes on 127.0.0.1 (free ports: the
    scheduler picks its port and writes it to a scheduler file); yields its address."""
    where = tmp_path_factory.mktemp("dask")
    file = where / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": where}
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(file)], **quiet)]
    # The workers start alongside and find the scheduler through its file when it is written.
    procs += [subprocess.Popen([*dask, "worker", "--scheduler-file", str(file), "--host",
                                "127.0.0.1", "--nthreads", "1", "--no-nanny", "--no-dashboard"],
                               **quiet) for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while not file.exists() or not file.read_text().strip():
            assert procs[0].poll() is None, "dask scheduler exited"
            assert time.monotonic() < deadline, "dask scheduler did not start in 60 s"
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for proc in reversed(procs):   # the workers first, then the scheduler
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:   # a worker still saying goodbye
                proc.kill()
                proc.wait()


def test_serial_table_has_one_row_per_run_in_grid_order(serial: pd.DataFrame) -> None:
    assert len(serial) == 8
    assert list(serial.columns[:5]) == ["host.memory", "domain[1].memory", "seed", "error",
                                       "wall_seconds"]
    assert {"vm1.current_pages", "vm1.oom_kills", "vm2.target_pages", "host.free_pages",
            "host.min_free_pages"} <= set(serial.columns)
    assert list(serial["seed"]) == [0, 1] * 4
    assert list(serial["host.memory"]) == ["48MiB"] * 4 + ["64MiB"] * 4
    assert (serial["error"] == "").all()
    assert (serial["wall_seconds"] > 0).all()
    # the summary's numbers, as the varied values made them (256 pages per MiB)
    assert list(serial["host.total_pages"]) == [int(m[:-3]) * 256 for m in serial["host.memory"]]
    assert list(serial["vm2.current_pages"]) == [
        int(m[:-3]) * 256 for m in serial["domain[1].memory"]]
    assert (serial["vm1.target_pages"] == 4096).all()


def test_process_pool_gives_the_serial_table(serial: pd.DataFrame) -> None:
    with ProcessPoolExecutor(2) as executor:
        table = xb.sweep(SCENARIO, vary=VARY, seeds=SEEDS, client=executor, batch=3)
    pd.testing.assert_frame_equal(deterministic(table), deterministic(serial))


def test_local_cluster_gives_the_serial_table(serial: pd.DataFrame, local_client: Any) -> None:
    table = xb.sweep(SCENARIO, vary=VARY, seeds=SEEDS, client=local_client, batch=1)
    pd.testing.assert_frame_equal(deterministic(table), deterministic(serial))


def test_cli_on_a_running_scheduler_gives_the_serial_table(
        serial: pd.DataFrame, scheduler: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "scenario.toml"
    file.write_text(_toml(SCENARIO))
    out = tmp_path / "sweep.csv"
    args = ["sweep", str(file), "--vary", "host.memory=48MiB,64MiB",
            "--vary", "domain[1].memory=4MiB,8MiB", "--seeds", "2", "--scheduler", scheduler,
            "--out", str(out)]
    assert cli.main(args) == 0
    shown = capsys.readouterr().out
    assert "8 runs, 0 failed" in shown and "per combination" in shown
    reference = tmp_path / "serial.csv"
    write(serial, reference)
    pd.testing.assert_frame_equal(deterministic(pd.read_csv(out)),
                                  deterministic(pd.read_csv(reference)))


def test_a_failing_run_is_a_row_with_its_error(local_client: Any) -> None:
    calls: list[tuple[int, int, int]] = []
    table = xb.sweep(SCENARIO, vary={"host.memory": ["64MiB", BAD_HOST]}, seeds=2,
                     client=local_client, progress=lambda *a: calls.append(a))
    assert list(table["host.memory"]) == ["64MiB", "64MiB", BAD_HOST, BAD_HOST]
    ok, bad = table.iloc[:2], table.iloc[2:]
    assert (ok["error"] == "").all() and ok["vm1.current_pages"].notna().all()
    assert bad["error"].str.startswith("ScenarioError: invalid scenario: host.memory: "
                                       "expected a size of at least one page").all()
    assert bad["vm1.current_pages"].isna().all()
    assert calls[-1] == (4, 2, 4)
    agg = aggregate(table, ["host.memory"])
    assert list(agg["runs"]) == [2, 2] and list(agg["failed"]) == [0, 2]


def test_a_run_that_fails_while_running_is_a_row_and_the_others_go_on() -> None:
    """A policy class that cannot be imported fails when the world is built."""
    scenario = dict(SCENARIO, policy={"name": "none"})
    vary = {"policy.name": ["none", "no_such_module.sub:Balancer", "none"]}
    with ThreadPoolExecutor(1) as executor:
        table = xb.sweep(scenario, vary=vary, client=executor)
    assert list(table["error"] == "") == [True, False, True]
    assert "no_such_module" in table["error"][1]


def test_traces_are_written_only_when_asked(tmp_path: Path) -> None:
    with ThreadPoolExecutor(2) as executor:
        xb.sweep(SCENARIO, vary={"host.memory": ["64MiB", BAD_HOST]}, seeds=2,
                 client=executor, traces=tmp_path / "traces")
    written = sorted(p.name for p in (tmp_path / "traces").iterdir())
    assert written == ["run-000000.parquet", "run-000001.parquet"]
    trace = pd.read_parquet(tmp_path / "traces" / "run-000001.parquet")
    assert set(trace["domain"]) == {"vm1", "vm2"}


def test_cli_refuses_bad_vary_keys_before_starting_anything(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "scenario.toml"
    file.write_text(_toml(SCENARIO))
    for key, message in (("host.memroy=1GiB", "unknown key; did you mean 'memory'"),
                         ("domain[3].memory=1GiB", "domain[3] does not exist"),
                         ("domain.memory=1GiB", "domain is an array of tables"),
                         ("host.memory", "expected KEY=V1,V2")):
        assert cli.main(["sweep", str(file), "--vary", key, "--workers", "1",
                         "--out", str(tmp_path / "out.csv")]) == 1
        assert message in " ".join(capsys.readouterr().out.split())
    assert not (tmp_path / "out.csv").exists()


def test_cli_without_dask_names_the_extra(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "scenario.toml"
    file.write_text(_toml(SCENARIO))
    monkeypatch.setitem(sys.modules, "distributed", None)   # import distributed fails
    assert cli.main(["sweep", str(file), "--out", str(tmp_path / "out.csv")]) == 1
    assert "pip install 'xenballoon[sweep]'" in " ".join(capsys.readouterr().out.split())


def test_importing_xenballoon_does_not_import_dask() -> None:
    code = ("import sys, xenballoon as xb; assert callable(xb.sweep); "
            "assert 'dask' not in sys.modules and 'distributed' not in sys.modules; "
            "from xenballoon.sweep.grid import Grid; assert callable(xb.sweep)")
    subprocess.run([sys.executable, "-c", code], check=True)


def _toml(data: dict[str, Any]) -> str:
    """The test scenario as a TOML file (flat tables and arrays of flat tables only)."""
    def value(v: Any) -> str:
        return json.dumps(v) if isinstance(v, str) else str(v).lower()

    lines: list[str] = []
    for table, content in data.items():
        for item in content if isinstance(content, list) else [content]:
            lines.append(f"[[{table}]]" if isinstance(content, list) else f"[{table}]")
            lines += [f"{k} = {value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"
