"""The grid of a sweep: --vary values and key paths, the runs in order, bad keys refused;
the batches the runs travel in."""

from __future__ import annotations

import copy

import pytest

from xenballoon.sweep import Grid, KeyPath, SweepError, parse_value, parse_vary
from xenballoon.sweep.api import make_grid
from xenballoon.sweep.runner import MAX_BATCH, batches

SCENARIO = {
    "simulation": {"duration": "10s", "cost": "instant"},
    "host": {"memory": "64MiB"},
    "domain": [{"name": "vm1", "memory": "16MiB"}, {"name": "vm2", "memory": "8MiB"}],
}


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("false", False), ("3", 3), ("-2", -2), ("1_000", 1000), ("2.5", 2.5),
    ("1e3", 1000.0), ("4GiB", "4GiB"), ("30s", "30s"), ("qmemman", "qmemman"),
    ("none", "none"), ('"123"', "123"), ("'true'", "true"), (" 512MiB ", "512MiB"),
    ("007", "007"), ("inf", "inf")])
def test_parse_value_reads_toml_scalars_and_keeps_other_text(text: str, value: object) -> None:
    """Bools, integers and floats as TOML reads them; quotes force text; the rest is text."""
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_parse_vary_splits_key_and_values() -> None:
    assert parse_vary("policy.name=none,qmemman") == ("policy.name", ["none", "qmemman"])
    assert parse_vary("domain[0].memory = 1GiB,2048") == ("domain[0].memory", ["1GiB", 2048])


@pytest.mark.parametrize("text", ["host.memory", "=1,2", "host.memory=", "host.memory=1,,2",
                                  "host.memory=1,"])
def test_parse_vary_refuses_what_is_not_key_equals_values(text: str) -> None:
    with pytest.raises(SweepError, match="--vary"):
        parse_vary(text)


@pytest.mark.parametrize("text", ["", "host..memory", "domain[x].memory", "domain[-1].memory",
                                  "1host.memory", "host.memory.", "host memory"])
def test_key_path_refuses_malformed_paths(text: str) -> None:
    with pytest.raises(SweepError, match="expected a key path"):
        KeyPath.parse(text)


def test_key_path_parses_names_and_indices() -> None:
    assert KeyPath.parse("domain[1].workload.anon_after").parts == (
        "domain", 1, "workload", "anon_after")
    assert KeyPath.parse("event[0].size").where(1) == "event[0]"


def test_assign_sets_values_in_arrays_of_tables_and_creates_missing_tables() -> None:
    scenario = copy.deepcopy(SCENARIO)
    KeyPath.parse("domain[1].memory").assign(scenario, "12MiB")
    KeyPath.parse("policy.name").assign(scenario, "none")
    KeyPath.parse("domain[0].workload.anon").assign(scenario, "4MiB")
    assert scenario["domain"][1]["memory"] == "12MiB"
    assert scenario["policy"] == {"name": "none"}
    assert scenario["domain"][0]["workload"] == {"anon": "4MiB"}


@pytest.mark.parametrize(("key", "message"), [
    ("domain[2].memory", r"domain\[2\] does not exist; the scenario has 2 \[\[domain\]\] "
                         r"tables \(domain\[0\] \.\. domain\[1\]\)"),
    ("event[0].size", r"event\[0\] does not exist; the scenario has 0"),
    ("host[0].memory", "host is not an array of tables"),
    ("host.memory.unit", "host.memory is a value, not a table"),
])
def test_assign_names_the_part_that_does_not_fit(key: str, message: str) -> None:
    scenario = copy.deepcopy(SCENARIO)
    scenario["event"] = []
    before = copy.deepcopy(scenario)
    with pytest.raises(SweepError, match=message):
        KeyPath.parse(key).assign(scenario, 1)
    assert scenario == before


def test_grid_runs_first_key_slowest_and_seed_fastest() -> None:
    grid = Grid.build(SCENARIO, {"host.memory": ["64MiB", "128MiB"],
                                 "domain[0].memory": ["8MiB", "16MiB", "32MiB"]}, seeds=2)
    assert len(grid) == 12
    assert grid.names == ("host.memory", "domain[0].memory")
    runs = list(grid.runs())
    assert [r.index for r in runs] == list(range(12))
    assert [(r.values, r.seed) for r in runs[:4]] == [
        (("64MiB", "8MiB"), 0), (("64MiB", "8MiB"), 1), (("64MiB", "16MiB"), 0),
        (("64MiB", "16MiB"), 1)]
    assert (runs[-1].values, runs[-1].seed) == (("128MiB", "32MiB"), 1)


def test_scenario_for_sets_the_values_and_seed_on_a_copy() -> None:
    base = copy.deepcopy(SCENARIO)
    grid = Grid.build(base, {"domain[1].memory": ["4MiB", "6MiB"]}, seeds=[7, 9])
    scenario = grid.scenario_for(grid.run(3))
    assert scenario["domain"][1]["memory"] == "6MiB"
    assert scenario["simulation"]["seed"] == 9
    assert base == SCENARIO and grid.scenario == SCENARIO


def test_a_grid_without_varied_keys_is_the_seeds() -> None:
    grid = Grid.build(SCENARIO, {}, seeds=3)
    assert len(grid) == 3 and [r.seed for r in grid.runs()] == [0, 1, 2]


@pytest.mark.parametrize(("vary", "seeds", "message"), [
    ({"simulation.seed": [1, 2]}, 1, "the seeds are given by --seeds"),
    ([("host.memory", ["1GiB"]), ("host.memory", ["2GiB"])], 1, "given twice"),
    ({"host.memory": []}, 1, "non-empty list of values"),
    ({"host.memory": "1GiB"}, 1, "non-empty list of values"),
    ({}, 0, "--seeds: expected at least 1"),
    ({}, [1, -1], "non-negative integers"),
    ({}, [], "non-empty list"),
    ({}, True, "a count or a list of seeds"),
    ({}, 2.5, "a count or a list of seeds"),
])
def test_grid_refuses_bad_keys_values_and_seeds(vary: object, seeds: object,
                                                message: str) -> None:
    with pytest.raises(SweepError, match=message):
        Grid.build(SCENARIO, vary, seeds)  # type: ignore[arg-type]


def test_a_key_the_scenario_format_does_not_know_is_refused_with_a_hint() -> None:
    with pytest.raises(SweepError, match=r"'host.memroy': unknown key; did you mean 'memory'"):
        make_grid(SCENARIO, {"host.memroy": ["1GiB"]})


def test_an_invalid_value_is_left_to_the_runs() -> None:
    """A value the scenario refuses is not a bad key: that run's row will carry the error."""
    grid = make_grid(SCENARIO, {"host.memory": ["1KiB", "64MiB"]})
    assert len(grid) == 2


@pytest.mark.parametrize(("runs", "workers"), [(200, 2), (200, 1), (10_000, 2), (8, 2), (3, 4)])
def test_guided_batches_cover_the_runs_large_first_single_last(runs: int, workers: int) -> None:
    spans = batches(runs, workers)
    sizes = [stop - start for start, stop in spans]
    assert [start for start, _ in spans] == [0, *(stop for _, stop in spans[:-1])]
    assert spans[-1][1] == runs
    assert sizes == sorted(sizes, reverse=True)
    assert max(sizes) <= MAX_BATCH and sizes[-1] == 1


def test_fixed_batches_have_the_size_asked_for() -> None:
    assert batches(10, 2, 4) == [(0, 4), (4, 8), (8, 10)]
