"""The grid of a sweep: key paths, values, and the runs they make with the seeds.

A varied key is a scenario key path as scenario errors print them: ``policy.name``,
``host.memory``, ``domain[0].workload.amplitude``.  A value on the command line is read as
TOML reads a bare value where it can (``true``/``false``, integers, floats; quotes force a
string) and as a string otherwise (``4GiB``, ``qmemman``, ``30s``): sizes and times stay
strings, which the scenario format reads.  The runs are every combination of the values
(the first key varies slowest) times every seed, numbered in that order; run ``i`` is the
same scenario on every machine, so a sweep's table does not depend on who ran what.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgument

__all__ = ["Grid", "KeyPath", "Run", "SweepError", "parse_value", "parse_vary"]

SEED_KEY = "simulation.seed"
_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)((?:\[[0-9]+\])*)")
_INT = re.compile(r"[+-]?(?:0|[1-9](?:_?[0-9])*)")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?:\.[0-9]*)?[eE][+-]?[0-9]+)")


class SweepError(InvalidArgument):
    """A sweep that cannot start: a bad ``--vary`` key or value list, or bad seeds."""


def parse_value(text: str) -> Any:
    """A value as written after ``KEY=``: bool, int, float, a quoted string, or the text."""
    stripped = text.strip()
    if stripped in ("true", "false"):
        return stripped == "true"
    if _INT.fullmatch(stripped):
        return int(stripped.replace("_", ""))
    if _FLOAT.fullmatch(stripped):
        value = float(stripped)
        if math.isfinite(value):
            return value
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "\"'":
        return stripped[1:-1]
    return stripped


@dataclass(frozen=True)
class KeyPath:
    """A parsed key path: names and list indices, ``('domain', 0, 'workload', 'anon')``."""

    text: str
    parts: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str) -> KeyPath:
        parts: list[str | int] = []
        for piece in text.split("."):
            match = _PART.fullmatch(piece)
            if match is None:
                raise SweepError(
                    f"--vary key {text!r}: expected a key path such as 'policy.name', "
                    f"'host.memory' or 'domain[0].workload.amplitude'; {piece!r} is not a key")
            parts.append(match[1])
            parts.extend(int(i) for i in re.findall(r"\[([0-9]+)\]", match[2]))
        return cls(text, tuple(parts))

    def where(self, k: int) -> str:
        """The path up to and including part ``k``, as written."""
        text = ""
        for part in self.parts[:k + 1]:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text

    def assign(self, scenario: dict[str, Any], value: Any) -> None:
        """Set the key in ``scenario`` (in place): missing tables on the way are created;
        a list index must exist; SweepError names the part that does not fit."""
        node: Any = scenario
        for k, part in enumerate(self.parts):
            last = k == len(self.parts) - 1
            here = self.where(k)
            if isinstance(part, int):
                if not isinstance(node, list):
                    raise SweepError(f"--vary key {self.text!r}: {self.where(k - 1)} is not an "
                                     "array of tables, it cannot take an index")
                if part >= len(node):
                    array = self.where(k - 1)
                    have = (f"{array}[0] .. {array}[{len(node) - 1}]" if node else "none")
                    raise SweepError(f"--vary key {self.text!r}: {here} does not exist; the "
                                     f"scenario has {len(node)} [[{array}]] tables ({have})")
            else:
                if isinstance(node, list):
                    raise SweepError(f"--vary key {self.text!r}: {self.where(k - 1)} is an "
                                     "array of tables: say which one, e.g. "
                                     f"{self.where(k - 1)}[0].{part}")
                if not isinstance(node, dict):
                    raise SweepError(f"--vary key {self.text!r}: {self.where(k - 1)} is a "
                                     "value, not a table, it has no keys")
                if not last and part not in node:
                    node[part] = [] if isinstance(self.parts[k + 1], int) else {}
            if last:
                node[part] = value
            else:
                node = node[part]


def parse_vary(text: str) -> tuple[str, list[Any]]:
    """``'KEY=V1,V2'`` -> (key, [values]); SweepError if it does not have that shape."""
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SweepError(f"--vary {text!r}: expected KEY=V1,V2,... (e.g. policy.name=qmemman,"
                         "squeezed)")
    items = values.split(",")
    if not values.strip() or any(not v.strip() for v in items):
        raise SweepError(f"--vary {text!r}: expected a comma-separated list of values, "
                         "none of them empty")
    return key, [parse_value(v) for v in items]


@dataclass(frozen=True)
class Run:
    """One run of the grid: its number, the value of each varied key, and its seed."""

    index: int
    values: tuple[Any, ...]
    seed: int


@dataclass(frozen=True)
class Grid:
    """The scenario, the varied keys with their values, and the seeds: the sweep as data.

    Small and picklable: workers receive it once per batch and build each run from it.
    """

    scenario: Mapping[str, Any]
    keys: tuple[KeyPath, ...]
    values: tuple[tuple[Any, ...], ...]
    seeds: tuple[int, ...]

    @classmethod
    def build(cls, scenario: Mapping[str, Any],
              vary: Mapping[str, Sequence[Any]] | Iterable[tuple[str, Sequence[Any]]],
              seeds: int | Iterable[int] = 1) -> Grid:
        """Check the keys against ``scenario`` (by setting each one's first value on a copy)
        and the seeds (``N`` means seeds 0..N-1); SweepError says what is wrong."""
        pairs = list(vary.items() if isinstance(vary, Mapping) else vary)
        keys = tuple(KeyPath.parse(k) for k, _ in pairs)
        values = tuple(() if isinstance(v, (str, bytes)) else tuple(v) for _, v in pairs)
        seen: set[str] = set()
        for key, vals in zip(keys, values, strict=True):
            if key.text == SEED_KEY:
                raise SweepError(f"--vary key {SEED_KEY!r}: the seeds are given by --seeds")
            if key.text in seen:
                raise SweepError(f"--vary key {key.text!r} is given twice")
            if not vals:
                raise SweepError(f"--vary key {key.text!r}: expected a non-empty list of values")
            seen.add(key.text)
            key.assign(copy.deepcopy(dict(scenario)), vals[0])
        if isinstance(seeds, bool) or not isinstance(seeds, (int, Iterable)):
            raise SweepError(f"seeds: expected a count or a list of seeds, got {seeds!r}")
        if isinstance(seeds, int):
            if seeds < 1:
                raise SweepError(f"--seeds: expected at least 1, got {seeds}")
            seed_list: tuple[int, ...] = tuple(range(seeds))
        else:
            seed_list = tuple(seeds)
            if not seed_list or not all(isinstance(s, int) and not isinstance(s, bool)
                                        and s >= 0 for s in seed_list):
                raise SweepError("seeds: expected a count, or a non-empty list of "
                                 f"non-negative integers, got {seed_list!r}")
        return cls(copy.deepcopy(dict(scenario)), keys, values, seed_list)

    @property
    def names(self) -> tuple[str, ...]:
        """The varied keys as written (the table's first columns)."""
        return tuple(k.text for k in self.keys)

    def __len__(self) -> int:
        return math.prod(len(v) for v in self.values) * len(self.seeds)

    def run(self, index: int) -> Run:
        """Run ``index``: the first key varies slowest, the seed fastest."""
        if not 0 <= index < len(self):
            raise IndexError(f"run {index} is outside the grid of {len(self)} runs")
        rest, k = divmod(index, len(self.seeds))
        seed = self.seeds[k]
        picked: list[Any] = []
        for vals in reversed(self.values):
            rest, k = divmod(rest, len(vals))
            picked.append(vals[k])
        return Run(index, tuple(reversed(picked)), seed)

    def runs(self, start: int = 0, stop: int | None = None) -> Iterator[Run]:
        """Runs ``start .. stop-1`` in order."""
        return (self.run(i) for i in range(start, len(self) if stop is None else stop))

    def scenario_for(self, run: Run) -> dict[str, Any]:
        """The scenario of one run: a copy with the run's values and seed set."""
        scenario = copy.deepcopy(dict(self.scenario))
        for key, value in zip(self.keys, run.values, strict=True):
            key.assign(scenario, value)
        KeyPath.parse(SEED_KEY).assign(scenario, run.seed)
        return scenario

