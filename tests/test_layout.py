"""The package's shape: imports point down the layers, no cycles, no private names across modules.

Static analysis (``ast``) of every module of the installed ``xenballoon``: every import
statement counts, including those under ``TYPE_CHECKING`` and inside functions, because a
back-pointer is real at run time wherever its import sits.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import xenballoon

ROOT = Path(xenballoon.__file__).parent
PKG = "xenballoon"

# Bottom to top; a module may import from its own layer or any layer below.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"_version", "errors", "units", "_log", "_validate"}),  # foundation
    frozenset({"core", "_core"}),
    frozenset({"sim"}),
    frozenset({"xen"}),
    frozenset({"linux"}),
    frozenset({"driver"}),
    frozenset({"frontend"}),
    frozenset({"xenstored", "lowlevel"}),
    frozenset({"toolstack"}),
    frozenset({"policies"}),
    frozenset({"trace"}),
    frozenset({"scenarios", "perf"}),
    frozenset({"cli"}),
    frozenset({"__init__", "__main__"}),  # the public names, re-exported
)
# The one deliberate upward import: ``xenballoon.toolstack.domain_table`` (a name of the
# public API) is loaded lazily from the CLI, which owns rich.
ALLOWED_UPWARD = frozenset({("xenballoon.toolstack", "xenballoon.cli.render")})
EXEMPT: frozenset[str] = frozenset()
BUILTIN_RAISES_OK = EXEMPT


@cache
def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``'s)."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([PKG, *parts])] = path
    return found


@cache
def tree(name: str) -> ast.Module:
    return ast.parse(modules()[name].read_text(), filename=str(modules()[name]))


def is_package(name: str) -> bool:
    return modules()[name].name == "__init__.py"


def imports(name: str) -> list[tuple[str, int, str]]:
    """``(imported module, line, imported name or "")`` for every import statement."""
    found = []
    base = name if is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(tree(name)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                target = ".".join(anchor + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub, node.lineno, "") if sub in modules()
                             else (target, node.lineno, alias.name))
    return [(t, line, n) for t, line, n in found if t == PKG or t.startswith(PKG + ".")]


def layer(name: str) -> int:
    parts = name.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    for rank, members in enumerate(LAYERS):
        if top in members:
            return rank
    raise AssertionError(f"{name}: its top-level name {top!r} is in no layer of LAYERS")


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in modules()}
    for name in modules():
        for target, _, _ in imports(name):
            if target in modules() and target != name:
                edges[name].add(target)
    return edges


def test_every_module_is_in_a_layer() -> None:
    """Each module's top-level name appears in exactly one layer."""
    for name in modules():
        layer(name)


def test_imports_point_down_the_layers() -> None:
    """No module imports from a layer above its own (one named exception)."""
    upward = [f"{name}:{line} imports {target}"
              for name in modules() for target, line, _ in imports(name)
              if target in modules() and layer(target) > layer(name)
              and (name, target) not in ALLOWED_UPWARD]
    assert upward == []


def test_no_import_cycle() -> None:
    """The module import graph is acyclic (depth-first search for a back edge)."""
    edges = graph()
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert cycles == []


def defined_names(module: ast.Module) -> set[str]:
    """Names a module defines: functions, classes, assigned names and attributes, slots."""
    names: set[str] = set()
    for node in ast.walk(module):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Attribute):
            names.add(node.target.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # __slots__ entries
    return names


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_private_name_of_another_module_is_used() -> None:
    """No ``from x import _name`` and no ``obj._attr`` for a private name defined elsewhere.

    Private modules (``_log``, ``_validate``) may be imported; their names must be public.
    ``self._x`` and ``cls._x`` are always fine, as is ``obj._x`` where this module defines
    ``_x`` (a class reaching into another instance of itself, or of a sibling class).
    """
    uses = []
    for name in modules():
        if name in EXEMPT:
            continue
        for target, line, imported in imports(name):
            if imported and private(imported) and target != name:
                uses.append(f"{name}:{line} imports {imported} from {target}")
        module = tree(name)
        own = defined_names(module)
        for node in ast.walk(module):
            if (isinstance(node, ast.Attribute) and private(node.attr)
                    and not (isinstance(node.value, ast.Name)
                             and node.value.id in ("self", "cls"))
                    and node.attr not in own):
                uses.append(f"{name}:{node.lineno} uses .{node.attr}")
    assert uses == []


def test_deliberate_errors_are_xenballoon_errors() -> None:
    """No ``raise ValueError(...)`` or ``raise TypeError(...)``: InvalidArgument/InvalidType."""
    raises = []
    for name in modules():
        if name in BUILTIN_RAISES_OK:
            continue
        for node in ast.walk(tree(name)):
            if (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                    and isinstance(node.exc.func, ast.Name)
                    and node.exc.func.id in ("ValueError", "TypeError")):
                raises.append(f"{name}:{node.lineno} raises {node.exc.func.id}")
    assert raises == []


def test_no_module_is_over_400_lines() -> None:
    """Each module stays small enough to read in one sitting."""
    long = {name: n for name, path in modules().items()
            if name not in EXEMPT and (n := len(path.read_text().splitlines())) > 400}
    assert long == {}


def test_rich_is_imported_only_under_cli() -> None:
    """Terminal rendering is the CLI's: no other module imports rich."""
    users = [name for name in modules() if not name.startswith(f"{PKG}.cli")
             for node in ast.walk(tree(name))
             if (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "rich"
                                                      for a in node.names))
             or (isinstance(node, ast.ImportFrom) and not node.level
                 and (node.module or "").split(".")[0] == "rich")]
    assert users == []
