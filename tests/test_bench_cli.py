"""`xenballoon bench` and the cycle it times (xenballoon.perf), at small sizes."""

from __future__ import annotations

import json

import pytest

import xenballoon as xb
from xenballoon import perf as bench
from xenballoon.cli import main


@pytest.mark.parametrize("backend", ["c", "python"])
def test_run_cycle_returns_to_the_start_and_reports_per_page(backend: str) -> None:
    """One cycle: guest 2x, host 4x the pages; ns/page is total / (2 * pages)."""
    r = bench.run_cycle(backend, 1024)
    assert (r.backend, r.pages, r.guest_pages, r.host_pages) == (backend, 1024, 2048, 4096)
    assert r.ns_per_page == pytest.approx((r.inflate_s + r.deflate_s) * 1e9 / 2048)
    assert r.gib_per_s == pytest.approx(2048 * xb.PAGE_SIZE / (1 << 30) / r.seconds)
    assert r.bytes_per_page == (5 * 2048 + 8 * 512 + 4 * 2048) / 2048  # flags+link, p2m
    assert r.bytes_per_frame == 8.0


def test_state_breakdown_adds_up_to_what_the_objects_report() -> None:
    """The breakdown is the core's own figures: host + physmaps == Hypervisor.state_bytes()."""
    m = bench.boot("c", 512)
    s = bench.state_breakdown(m)
    assert s["host"] + s["physmap"] == m.hv.state_bytes()
    assert s["guest"] == m.guest.state_bytes()
    assert s["total"] == m.hv.state_bytes() + m.guest.state_bytes()


def test_verify_refuses_a_cycle_that_did_not_return() -> None:
    """verify() raises InvariantError when current_pages is not back at boot memory."""
    m = bench.boot("c", 512)
    m.balloon.set_target(m.guest_pages - 10)
    m.sim.run()
    with pytest.raises(xb.InvariantError, match="current_pages 1014"):
        bench.verify(m)


def test_bench_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    """The table has a row per backend with ns/page, GiB/s, speed-up and bytes/page."""
    assert main(["bench", "--pages", "2048", "--repeat", "2"]) == 0
    out = capsys.readouterr().out
    assert "simulated GiB/s" not in out                  # it is wall-clock throughput
    for text in ("backend", "ns/page", "wall-clock GiB/s", "speed-up", "bytes/page",
                 "2,048", "1.0x", "bytes per guest page"):
        assert text in out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["c"], ["python"])]
    assert [row[0] for row in rows] == ["c", "python"]


def test_bench_json_caps_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints the results; --reference-pages caps the reference core's size."""
    assert main(["bench", "--pages", "4096", "--reference-pages", "1024", "--repeat", "1",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    c, py = data["results"]
    assert (c["backend"], c["pages"], py["backend"], py["pages"]) == ("c", 4096, "python", 1024)
    assert data["speedup"] == pytest.approx(py["ns_per_page"] / c["ns_per_page"])
    assert c["ns_per_page"] > 0 and c["bytes_per_page"] <= 32
    assert data["environment"]["cpus"] >= 1


def test_bench_one_backend(capsys: pytest.CaptureFixture[str]) -> None:
    """--backend python runs only the reference; no speed-up is computed."""
    assert main(["bench", "--backend", "python", "--pages", "512", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["backend"] for r in data["results"]] == ["python"] and data["speedup"] is None


@pytest.mark.parametrize("argv", [["bench", "--pages", "0"], ["bench", "--pages", "lots"],
                                  ["bench", "--backend", "rust"], ["bench", "--repeat", "-1"]])
def test_bench_bad_arguments_are_usage_errors(argv: list[str]) -> None:
    """Bad sizes or backends exit 2 with usage."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_bench_too_large_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    """A size the core cannot hold is an error message and exit status 1."""
    assert main(["bench", "--backend", "c", "--pages", str(1 << 30)]) == 1
    assert "xenballoon bench:" in capsys.readouterr().out


@pytest.mark.parametrize("backend", ["c", "python"])
def test_give_back_reports_simulated_seconds(backend: str) -> None:
    """0.01 GiB (2,621 pages) at 1 us a page, nothing else priced: 2.621 ms simulated."""
    g = bench.give_back(backend, 0.01, xb.CostModel(release_ns=1000))
    assert (g.backend, g.gib, g.pages) == (backend, 0.01, 2621)
    assert g.simulated_s == pytest.approx(2621e-6, abs=1e-12) and g.wall_s > 0
    assert g.mib_per_s == pytest.approx(1e9 / 1000 / 256)


def test_cycle_under_a_cost_model_spans_simulated_time() -> None:
    """run_cycle(cost=): the same cycle, which now takes simulated time; the default model:
    two runs (a wake-up each) of two turns (a hypercall each), 3,750 ns a page out, 1,650 in."""
    r = bench.run_cycle("c", 1024, cost=xb.CostModel.default())
    assert r.cost and not bench.run_cycle("c", 1024).cost
    assert r.simulated_s == pytest.approx((2 * 10_000 + 4 * 600 + 1024 * (3750 + 1650)) / 1e9,
                                          rel=1e-12)


def test_bench_json_reports_the_cost_model(capsys: pytest.CaptureFixture[str]) -> None:
    """--give-back sizes and the cost model's wall-time ratio are in the JSON."""
    assert main(["bench", "--backend", "c", "--pages", "2048", "--repeat", "1",
                 "--give-back", "0.01", "0.02", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [g["gib"] for g in data["give_back"]] == [0.01, 0.02]
    assert data["give_back"][1]["simulated_s"] > data["give_back"][0]["simulated_s"] > 0
    assert data["cost_cycle"]["cost"] and data["cost_cycle"]["simulated_s"] > 0
    assert data["cost_wall_ratio"] > 0


@pytest.mark.parametrize("argv", [["bench", "--give-back", "0"], ["bench", "--give-back", "x"]])
def test_bench_bad_give_back_sizes_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
