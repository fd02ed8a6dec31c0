"""The reference core mirrors the C core: one module per ``csrc/*.c``, twins named both ways."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

CSRC = Path(__file__).resolve().parents[1] / "csrc"
C_FILES = sorted(CSRC.glob("*.c"))
TWIN = re.compile(r"twin: core/_py/(\w+)\.py:(\w+)")
C_DEF = re.compile(r"^(?:static (?:inline )?)?[a-z_0-9]+[ *]+(\w+)\(", re.M)


def _py_functions(stem: str) -> dict[str, object]:
    mod = importlib.import_module(f"xenballoon.core._py.{stem}")
    return {n: f for n, f in vars(mod).items()
            if inspect.isfunction(f) and f.__module__ == mod.__name__}


def test_one_python_module_per_c_file() -> None:
    assert {p.stem for p in C_FILES} >= {"balloon", "domain", "guest", "host", "hotplug"}
    for path in C_FILES:
        assert _py_functions(path.stem), path.name


@pytest.mark.parametrize("path", C_FILES, ids=lambda p: p.name)
def test_c_twins_exist_in_the_same_order(path: Path) -> None:
    text = path.read_text()
    twins = TWIN.findall(text)
    assert twins, f"{path.name} names no Python twin"
    assert all(stem == path.stem for stem, _ in twins), twins
    funcs = _py_functions(path.stem)
    order = list(funcs)
    named = [name for _, name in twins]
    assert set(named) <= set(funcs), set(named) - set(funcs)
    positions = [order.index(n) for n in dict.fromkeys(named)]
    assert positions == sorted(positions), f"{path.name}: twins out of order: {named}"


@pytest.mark.parametrize("path", C_FILES, ids=lambda p: p.name)
def test_python_docstrings_name_their_c_function(path: Path) -> None:
    # its file's functions, the shared helpers, and the structs whose fields it reads
    defined = (set(C_DEF.findall(path.read_text()))
               | set(C_DEF.findall((CSRC / "xb_impl.h").read_text()))
               | set(re.findall(r"\btypedef struct (xb_\w+)", (CSRC / "xb_api.h").read_text())))
    for name, f in _py_functions(path.stem).items():
        doc = inspect.getdoc(f) or ""
        assert doc.startswith("C: "), f"{path.stem}.{name} does not name its C function"
        for cname in re.findall(r"\bxb_\w+\b(?!\.h)", doc.split(".  ")[0]):
            assert cname in defined, f"{path.stem}.{name} names {cname}, not in {path.name}"
