"""The built-in scenarios: TOML files shipped in this package (``xenballoon run --example``).

Each file's ``description`` says what it shows.  They live inside the package so that an
installed xenballoon finds them; the repository's top-level ``examples/`` points here.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ...errors import InvalidArgument
from ..load import read_toml

__all__ = ["describe", "names", "path"]


def names() -> list[str]:
    """The examples' names (file names without ``.toml``), sorted."""
    return sorted(p.name[:-5] for p in resources.files(__name__).iterdir()
                  if p.name.endswith(".toml"))


def path(name: str) -> Path:
    """The file of the example ``name``; `InvalidArgument` listing the names if unknown."""
    if name not in names():
        raise InvalidArgument(f"no example named {name!r}; the examples are: {', '.join(names())}")
    return Path(str(resources.files(__name__).joinpath(f"{name}.toml")))


def describe(name: str) -> str:
    """The example's ``description``: one sentence saying what it shows."""
    return str(read_toml(path(name)).get("description", ""))
