"""Reading a scenario: a TOML file or a dict, checked, as a `ScenarioSpec`.

Types and ranges are the models' (`spec`), relations between keys are `checks`'; every
problem found is reported at once, in one `ScenarioError`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import InvalidArgument, InvalidType
from ..units import PAGE_SIZE
from .checks import check_relations, pydantic_problems
from .spec import ScenarioError, ScenarioSpec
from .values import to_pages

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["load_spec", "read_toml", "scale_sizes", "source_name"]

# The keys holding sizes, by table: what `scale_sizes` multiplies.
SIZE_KEYS = {"host": ("memory", "dom0_memory"),
             "domain": ("memory", "maxmem", "dynamic_min", "dynamic_max", "swap"),
             "event": ("size", "leave")}


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The data of a TOML file (``tomllib.TOMLDecodeError`` if it is not TOML)."""
    return tomllib.loads(Path(path).read_text(encoding="utf-8"))


def source_name(source: object) -> str:
    """How errors name a scenario: its file, or just "scenario"."""
    return f"scenario file {source}" if isinstance(source, (str, os.PathLike)) else "scenario"


def load_spec(source: ScenarioSpec | Mapping[str, Any] | str | os.PathLike[str]) -> ScenarioSpec:
    """A checked scenario from a TOML file path, a dict, or an already checked spec."""
    if isinstance(source, ScenarioSpec):
        return source
    name = source_name(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            data: Any = read_toml(path)
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError([("(file)", f"not valid TOML: {exc}")], name) from None
    elif isinstance(source, Mapping):
        data = dict(source)
    else:
        raise InvalidType("a scenario is a TOML file path, a dict or a ScenarioSpec, "
                        f"not {type(source).__name__}")
    try:
        spec = ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(pydantic_problems(exc, data), name) from None
    problems = check_relations(spec)
    if problems:
        raise ScenarioError(problems, name)
    return spec


def scale_sizes(data: Mapping[str, Any], factor: int) -> dict[str, Any]:
    """A copy of a scenario's data with every host, domain and event size times ``factor``
    (a whole number of bytes; the guests' workloads are left as they are)."""
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise InvalidArgument(f"factor must be a positive integer, got {factor!r}")
    out = dict(data)

    def scaled(table: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
        return {k: to_pages(v) * PAGE_SIZE * factor if k in keys else v
                for k, v in table.items()}

    if isinstance(data.get("host"), Mapping):
        out["host"] = scaled(data["host"], SIZE_KEYS["host"])
    for key in ("domain", "event"):
        if isinstance(data.get(key), list):
            out[key] = [scaled(t, SIZE_KEYS[key]) if isinstance(t, Mapping) else t
                        for t in data[key]]
    return out
