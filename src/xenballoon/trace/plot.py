"""Plots of a trace (matplotlib, the ``plot`` extra), on one shared time axis.

Up to ``max_panels`` domains: one panel each (target dashed, current solid, the time the
worker spent in EAGAIN / WAIT / ECANCELED shaded; with the guest model, resident anonymous
and cache memory stacked underneath, anonymous demand dotted, OOM kills as red lines), then
the host's free memory.  More
domains: the spread of ``current`` over the running domains (median, 25-75 % and 5-95 %
bands, median target dashed), how many domains are in each balloon state, and the host.
Timeline events are marked on every panel they concern and labelled once, on top.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..units import PAGE_SIZE
from .io import NOT_RUNNING, STATES, Event, Trace, require

__all__ = ["plot_trace"]

SHADES = {"WAIT": "#deebf7", "EAGAIN": "#fdd0a2", "ECANCELED": "#fcbba1"}
STATE_COLOURS = {"DONE": "#74c476", "WAIT": "#9ecae1", "EAGAIN": "#fd8d3c",
                 "ECANCELED": "#de2d26"}
MAX_PANELS = 8


def _scale(pages_max: float) -> tuple[float, str]:
    """Pages per unit and the unit's name, so the largest value reads well."""
    size = pages_max * PAGE_SIZE
    if size >= 8 << 30:
        return (1 << 30) / PAGE_SIZE, "GiB"
    return (1 << 20) / PAGE_SIZE, "MiB"


def _time_axis(times: np.ndarray) -> tuple[float, str]:
    end = float(times[-1]) if len(times) else 0.0
    if end >= 3 * 3600:
        return 3600.0, "h"
    if end >= 3 * 60:
        return 60.0, "min"
    return 1.0, "s"


def _spans(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) sample indices of the runs where ``mask`` is true."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(),
                    strict=True))


def _timeline(events: list[Event]) -> list[Event]:
    return [e for e in events if e.action != "balloon"]


def _mark_events(ax: Any, events: list[Event], tscale: float, label: bool) -> None:
    """Dotted lines at the events' times (or, with ``label``, their names above the panel);
    one action on many domains at once is one mark, labelled with how many."""
    groups: dict[tuple[float, str], list[str]] = {}
    for e in events:
        groups.setdefault((e.time, e.action), []).append(e.domain)
    for when in sorted({time for time, _ in groups}) if not label else ():
        ax.axvline(when / tscale, color="0.45", lw=0.8, ls=":", zorder=1)
    texts: dict[float, list[str]] = {}
    for (when, action), domains in groups.items() if label else ():
        texts.setdefault(when, []).append(action if domains == ["host"] else (
            f"{action} {domains[0]}" if len(domains) == 1 else f"{action} ×{len(domains)}"))
    for when, parts in texts.items():
        ax.annotate(", ".join(parts), (when / tscale, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(2, 2), textcoords="offset points", rotation=45,
                    fontsize=7, color="0.3", ha="left", va="bottom")


def _domain_panel(ax: Any, trace: Trace, column: int, t: np.ndarray, tscale: float,
                  unit: tuple[float, str], events: list[Event]) -> None:
    per, name = unit
    state = trace.state[:, column]
    running = state != NOT_RUNNING
    target = np.where(running, trace.pages["target_pages"][:, column] / per, np.nan)
    current = np.where(running, trace.pages["current_pages"][:, column] / per, np.nan)
    for code, label in enumerate(STATES):
        if label in SHADES:
            for a, b in _spans(state == code):
                ax.axvspan(t[a], t[min(b, len(t) - 1)], color=SHADES[label], lw=0, zorder=0)
    _guest_layers(ax, trace, column, t, per, running)
    ax.step(t, target, where="post", color="#e6550d", ls="--", lw=1.2, label="target")
    ax.step(t, current, where="post", color="#3182bd", lw=1.6, label="current")
    mine = [e for e in events if e.domain == trace.domains[column]
            or e.domain not in trace.domains]
    _mark_events(ax, mine, tscale, False)
    ax.set_ylabel(f"{trace.domains[column]}\n({name})")
    ax.set_ylim(bottom=0)


def _guest_layers(ax: Any, trace: Trace, column: int, t: np.ndarray, per: float,
                  running: np.ndarray) -> None:
    """The guest model's view, under the balloon's lines when a workload ran: resident
    anonymous and page-cache memory stacked, anonymous demand dotted, OOM kills marked."""
    def series(name: str) -> np.ndarray:
        return trace.pages[name][:, column].astype(np.float64)

    anon, cache, demand = series("anon_pages"), series("file_pages"), series("anon_demand")
    kills = series("oom_kills")
    if not (anon.any() or cache.any() or demand.any() or kills.any()):
        return  # no workload: keep the balloon's panel as it was
    anon, cache = np.where(running, anon / per, np.nan), np.where(running, cache / per, np.nan)
    ax.fill_between(t, 0, anon, step="post", color="#dadaeb", lw=0, label="anonymous")
    ax.fill_between(t, anon, anon + cache, step="post", color="#e5f5e0", lw=0,
                    label="page cache")
    ax.step(t, np.where(running, demand / per, np.nan), where="post", color="#6a51a3",
            ls=":", lw=1.3, label="anon demand")
    for k in np.flatnonzero(np.diff(kills, prepend=0.0) > 0).tolist():
        ax.axvline(t[k], color="#cb181d", lw=1.2, zorder=3)
        ax.annotate(f"OOM ×{int(kills[k])}", (t[k], 0.92), xycoords=("data", "axes fraction"),
                    xytext=(3, 0), textcoords="offset points", fontsize=7, color="#cb181d")


def _spread_panels(axes: Any, trace: Trace, t: np.ndarray, unit: tuple[float, str]) -> None:
    per, name = unit
    running = trace.state != NOT_RUNNING
    current = np.where(running, trace.pages["current_pages"] / per, np.nan)
    target = np.where(running, trace.pages["target_pages"] / per, np.nan)
    any_running = running.any(axis=1)
    q = np.full((5, len(t)), np.nan)
    if any_running.any():
        q[:, any_running] = np.nanquantile(current[any_running], [0.05, 0.25, 0.5, 0.75, 0.95],
                                           axis=1)
    median_target = np.full(len(t), np.nan)
    if any_running.any():
        median_target[any_running] = np.nanmedian(target[any_running], axis=1)
    ax = axes[0]
    ax.fill_between(t, q[0], q[4], step="post", color="#c6dbef", label="current 5-95 %")
    ax.fill_between(t, q[1], q[3], step="post", color="#6baed6", label="current 25-75 %")
    ax.step(t, q[2], where="post", color="#08519c", lw=1.4, label="current median")
    ax.step(t, median_target, where="post", color="#e6550d", ls="--", lw=1.2,
            label="target median")
    ax.set_ylabel(f"{len(trace.domains):,} domains\n({name})")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right", fontsize=7, ncol=2)
    counts = [(trace.state == code).sum(axis=1) for code in range(len(STATES))]
    axes[1].stackplot(t, counts, step="post", labels=STATES,
                      colors=[STATE_COLOURS[s] for s in STATES])
    axes[1].set_ylabel("domains\nby state")
    axes[1].legend(loc="upper right", fontsize=7, ncol=4)


def plot_trace(trace: Trace, *, path: str | os.PathLike[str] | None = None,
               title: str | None = None, max_panels: int = MAX_PANELS) -> Any:
    """Draw ``trace``; write it to ``path`` (.png or .svg) when given.  Returns the Figure."""
    require("matplotlib", "Plotting", "plot")
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tscale, tunit = _time_axis(trace.times)
    t = trace.times / tscale
    events = _timeline(list(trace.events))
    peak = max([float(a.max()) for name, a in trace.pages.items()
                if a.size and name != "oom_kills"] or [1.0])
    unit = _scale(peak)
    few = len(trace.domains) <= max_panels
    rows = (len(trace.domains) if few else 2) + 1
    heights = [1.0] * (rows - 1) + [0.8]
    fig, axes = plt.subplots(rows, 1, sharex=True, squeeze=False, figsize=(10, 1.6 * rows + 1.6),
                             gridspec_kw={"height_ratios": heights})
    axes = axes[:, 0]
    if few:
        for column in range(len(trace.domains)):
            _domain_panel(axes[column], trace, column, t, tscale, unit, events)
        from matplotlib.patches import Patch

        handles, _ = axes[0].get_legend_handles_labels()
        handles += [Patch(color=c, label=f"worker {s}") for s, c in SHADES.items()]
        # below the axes, so that it hides no data however many layers the panels have
        fig.legend(handles=handles, loc="lower center", fontsize=7, frameon=False,
                   ncol=min(len(handles), 6))
    else:
        _spread_panels(axes, trace, t, unit)
        for ax in axes[:-1]:
            _mark_events(ax, events, tscale, False)
    host = axes[-1]
    hper, hname = _scale(float(trace.host_free_pages.max()) if len(t) else 1.0)
    host.step(t, trace.host_free_pages / hper, where="post", color="#31a354", lw=1.4)
    host.fill_between(t, 0, trace.host_free_pages / hper, step="post", color="#a1d99b")
    host.set_ylabel(f"host free\n({hname})")
    host.set_ylim(bottom=0)
    host.set_xlabel(f"simulated time ({tunit})")
    host.set_xlim(t[0] if len(t) else 0, t[-1] if len(t) else 1)
    for ax in axes:
        ax.grid(True, axis="y", color="0.9")
        ax.spines[["top", "right"]].set_visible(False)
    _mark_events(host, events, tscale, False)
    _mark_events(axes[0], events, tscale, True)
    if title:
        fig.suptitle(title, fontsize=9, wrap=True, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0.05 if few else 0, 1, 1))
    if path is not None:
        fig.savefig(str(path), dpi=110)
        plt.close(fig)
    return fig
