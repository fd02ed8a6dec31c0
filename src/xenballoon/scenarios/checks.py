"""From validation errors to key paths, and the checks that relate keys to each other.

pydantic reports where a value is wrong as a tuple (``('domain', 2, 'workload', 'periodic',
'period')``, with the tag of a tagged union in it); `key_path` turns that into what the file
says (``domain[2].workload.period``) and `pydantic_problems` words each error as what was
expected there.  `check_relations` covers what a single key cannot say: unique names, sizes
in order, events inside the run, and a timeline whose domains exist when it names them.
"""

from __future__ import annotations

import difflib
import fnmatch
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from .spec import (
    ACTIONS,
    MAX_SAMPLES,
    WORKLOAD_KINDS,
    CreateEvent,
    DestroyEvent,
    FaultEvent,
    ScenarioSpec,
    TenantEvent,
)
from .values import format_pages

__all__ = ["check_relations", "key_path", "matching", "pydantic_problems"]

Problem = tuple[str, str]
_NAME_RULE = "a name of letters, digits, '_', '.' and '-', starting with a letter or digit"
_POLICY_RULE = "'none', 'static', 'squeezed', 'qmemman' or 'package.module:Class'"
_TYPES = {"int_type": "an integer", "int_from_float": "an integer", "bool_type": "true or false",
          "string_type": "a string", "float_type": "a number", "model_type": "a table",
          "dict_type": "a table", "list_type": "an array", "model_attributes_type": "a table"}


def _is_tag(loc: Sequence[Any], k: int) -> bool:
    """Whether ``loc[k]`` is the tag pydantic adds after a tagged union's position."""
    prev = loc[k - 1] if k else None
    if prev == "workload" or (isinstance(prev, int) and k >= 2 and loc[k - 2] == "parts"):
        return loc[k] in WORKLOAD_KINDS
    return isinstance(prev, int) and k >= 2 and loc[k - 2] == "event" and loc[k] in ACTIONS


def key_path(loc: Sequence[Any]) -> str:
    """``('domain', 2, 'workload', 'periodic', 'period')`` -> ``'domain[2].workload.period'``."""
    text = ""
    for k, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _is_tag(loc, k):
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation may hold (through Optional, list, Annotated and unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _tag_of(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("kind") or model.model_fields.get("action")
    return typing.get_args(field.annotation)[0] if field is not None else None


def _allowed_keys(loc: Sequence[Any], data: Any) -> list[str] | None:
    """The keys the table holding ``loc[-1]`` accepts, or None if that cannot be told."""
    choices: list[type[BaseModel]] = [ScenarioSpec]
    value = data
    try:
        for k, part in enumerate(loc):
            if _is_tag(loc, k):
                continue
            if isinstance(value, dict):  # a table: which model reads it
                tag = value.get("kind", value.get("action"))
                model = choices[0] if len(choices) == 1 else next(
                    m for m in choices if _tag_of(m) == tag)
                if k == len(loc) - 1:
                    return sorted(model.model_fields)
                choices = _models(model.model_fields[part].annotation)
            value = value[part]
    except (KeyError, IndexError, TypeError, StopIteration):
        return None
    return None


def _wording(err: Any, data: Any) -> tuple[str, str]:
    """The key path and what was expected there, for one pydantic error."""
    kind, loc, ctx = err["type"], err["loc"], err.get("ctx") or {}
    path = key_path(loc)
    if kind == "missing":
        return path, "required key is missing"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc, data)
        if not allowed:
            return path, "unknown key"
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return path, f"unknown key; {hint}expected one of: {', '.join(allowed)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = ctx.get("discriminator", "'kind'").strip("'")
        options = ctx.get("expected_tags") or ", ".join(
            f"'{t}'" for t in (ACTIONS if tag == "action" else WORKLOAD_KINDS))
        got = f", got {ctx['tag']!r}" if "tag" in ctx else " (the key is missing)"
        return f"{path}.{tag}", f"expected one of {options}{got}"
    if kind == "value_error":
        return path, str(ctx.get("error", err["msg"]))
    if kind == "literal_error":
        expected = f"{ctx.get('expected', '')}"
    elif kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern"))
        expected = (_POLICY_RULE if "qmemman" in pattern else
                    f"{_NAME_RULE}, or a shell pattern such as 'vm*'" if "*" in pattern else
                    _NAME_RULE)
    elif kind in _TYPES:
        expected = _TYPES[kind]
    elif kind in ("greater_than_equal", "less_than_equal"):
        bound = ctx.get("ge", ctx.get("le"))
        expected = f"{'at least' if 'ge' in ctx else 'at most'} {bound}"
    elif kind in ("too_short", "string_too_short"):
        expected = "a non-empty value"
    elif kind == "string_too_long":
        expected = f"at most {ctx.get('max_length')} characters"
    else:
        return path, str(err["msg"])
    shown = repr(err.get("input"))
    return path, f"expected {expected}, got {shown if len(shown) <= 40 else shown[:37] + '...'}"


def pydantic_problems(exc: ValidationError, data: Any) -> list[Problem]:
    """Every error of a failed validation, as (key path, what was expected)."""
    return [_wording(err, data) for err in exc.errors(include_url=False)]


def _domain_problems(spec: ScenarioSpec) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    left = spec.host.memory - (spec.host.dom0_memory or 0)
    if left < 0:
        problems.append(("host.dom0_memory", "expected less than the host's memory "
                         f"({format_pages(spec.host.memory)})"))
    for i, dom in enumerate(spec.domain):
        where = f"domain[{i}]"
        clash = next((n for n in dom.names() if n in seen), None)
        if clash is not None:
            problems.append((f"{where}.name", f"expected a unique name; '{clash}' is "
                             f"already declared by domain[{seen[clash]}]"))
        seen.update(dict.fromkeys(dom.names(), i))
        smax = dom.static_max
        if smax < dom.memory:
            problems.append((f"{where}.maxmem", "expected at least memory "
                             f"({format_pages(dom.memory)}), got {format_pages(smax)}"))
        dmin = dom.memory if dom.dynamic_min is None else dom.dynamic_min
        dmax = smax if dom.dynamic_max is None else dom.dynamic_max
        if dmax > smax:
            problems.append((f"{where}.dynamic_max", "expected at most maxmem "
                             f"({format_pages(smax)}), got {format_pages(dmax)}"))
        if dmin > dmax:
            problems.append((f"{where}.dynamic_min", "expected at most dynamic_max "
                             f"({format_pages(dmax)}), got {format_pages(dmin)}"))
        need = dom.memory * dom.count
        if dom.autostart and 0 <= left < need:
            problems.append((f"{where}.memory", f"expected the domains to fit in the "
                             f"{format_pages(left)} the host has left after the domains "
                             f"before them; {dom.count} x {format_pages(dom.memory)} do not"))
        if dom.autostart:
            left -= need
    return problems


def matching(pattern: str, names: list[str]) -> list[str]:
    """The names a domain key of an event names: itself, or those its pattern matches."""
    if any(c in pattern for c in "*?["):
        return [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return [pattern] if pattern in names else []


def _timeline_problems(spec: ScenarioSpec) -> list[Problem]:
    """Walk the events in time order, knowing which domains run at each."""
    problems: list[Problem] = []
    declared = [name for _, name, _ in spec.instances()]
    running = {name for _, name, dom in spec.instances() if dom.autostart}
    tenants: set[str] = set()
    duration = spec.simulation.duration
    for i in sorted(range(len(spec.event)), key=lambda i: spec.event[i].at):
        event, where = spec.event[i], f"event[{i}]"
        if event.at > duration:
            problems.append((f"{where}.at", f"expected a time within the run (duration "
                             f"{duration:g} s), got {event.at:g} s"))
        if isinstance(event, TenantEvent):
            if event.size is not None and event.leave is not None:
                problems.append((f"{where}.leave", "expected size or leave, not both"))
            if event.name in declared or event.name in tenants:
                problems.append((f"{where}.name", f"expected a name not in use; "
                                 f"'{event.name}' is already a domain"))
            tenants.add(event.name)
            continue
        if isinstance(event, FaultEvent):
            if event.fault == "page-alloc" and event.domain is None:
                problems.append((f"{where}.domain", "required for fault = 'page-alloc'"))
            if event.fault == "increase-reservation" and event.domain is not None:
                problems.append((f"{where}.domain", "expected no domain: "
                                 "increase-reservation faults are host-wide"))
            if event.domain is None:
                continue
        pattern = str(getattr(event, "domain", ""))
        if isinstance(event, DestroyEvent) and pattern in tenants:
            tenants.discard(pattern)
            continue
        names = matching(pattern, declared)
        if not names:
            shown = ", ".join(declared[:8]) + (", ..." if len(declared) > 8 else "")
            problems.append((f"{where}.domain", f"expected a declared domain or a pattern "
                             f"matching one (domains: {shown or 'none'}), got '{pattern}'"))
            continue
        if isinstance(event, CreateEvent):
            bad = [n for n in names if n in running]
            running.update(names)
        else:
            bad = [n for n in names if n not in running]
            if isinstance(event, DestroyEvent):
                running.difference_update(names)
        if bad:
            state = ("running (autostart = true, or created earlier)"
                     if isinstance(event, CreateEvent) else
                     "not running (autostart = false with no create before, or destroyed)")
            problems.append((f"{where}.domain", f"expected domains that are "
                             f"{'not ' if isinstance(event, CreateEvent) else ''}running "
                             f"at {event.at:g} s; '{bad[0]}' is {state}"))
    return problems


def check_relations(spec: ScenarioSpec) -> list[Problem]:
    """What single keys cannot say: names, sizes in order, a timeline that can run."""
    problems = _domain_problems(spec) + _timeline_problems(spec)
    if spec.nr_samples > MAX_SAMPLES:
        problems.append(("simulation.sample", f"expected at most {MAX_SAMPLES:,} samples "
                         f"in the run, got {spec.nr_samples:,}"))
    return problems
