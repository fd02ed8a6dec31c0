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

from ..errors import InvalidType
from .checks import check_relations, pydantic_problems
from .spec import ScenarioError, ScenarioSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["load_spec", "read_toml", "source_name"]


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
