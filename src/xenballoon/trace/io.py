"""A recorded run as data: `Trace`, and its conversions to pandas, Arrow, Parquet and CSV.

The arrays are what the recorder filled (one row per sample, one column per domain); the
tabular forms are long ("tidy"): one row per sample per running domain, with the columns
``time, domain, state, target_pages, current_pages, balloon_low, balloon_high,
host_free_pages``.  CSV needs nothing extra; pandas and Arrow/Parquet come with the
``trace`` extra (``pip install 'xenballoon[trace]'``).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..driver import BPState
from ..errors import InvalidArgument

__all__ = ["BALLOON_METRICS", "COLUMNS", "GUEST_METRICS", "PAGE_METRICS", "STATES", "Event",
           "MissingExtra", "Trace"]

BALLOON_METRICS = ("target_pages", "current_pages", "balloon_low", "balloon_high")
# The guest memory model's (`xenballoon.linux.vmstat`): its name there, its column here.
GUEST_METRICS = {"anon_pages": "anon_pages", "anon_demand": "anon_demand",
                 "file_pages": "file_pages", "free_pages": "guest_free_pages",
                 "swap_used": "swap_used", "oom_kills": "oom_kills"}
PAGE_METRICS = (*BALLOON_METRICS, *GUEST_METRICS.values())
STATES = tuple(s.name for s in sorted(BPState))  # state codes are BPState values
NOT_RUNNING = -1
COLUMNS = ("time", "domain", "state", *PAGE_METRICS, "host_free_pages")


class MissingExtra(ImportError):
    """An optional dependency is not installed; says which extra brings it."""

    def __init__(self, what: str, extra: str, module: str) -> None:
        super().__init__(f"{what} needs {module}: pip install 'xenballoon[{extra}]'")
        self.extra = extra


def require(module: str, what: str, extra: str) -> Any:
    """Import an optional module, or raise `MissingExtra` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(what, extra, module) from None


@dataclass(frozen=True)
class Event:
    """One line of the event log: a timeline action, or a balloon's worker run."""

    time: float
    domain: str
    action: str
    detail: str = ""


@dataclass
class Trace:
    """Time series of a run: ``pages[metric]`` and ``state`` are (samples, domains) arrays;
    ``state`` is a BPState value, or -1 while the domain is not running."""

    times: np.ndarray                      # float64 (samples,)
    domains: tuple[str, ...]
    pages: dict[str, np.ndarray]           # uint32 (samples, domains), per PAGE_METRICS
    state: np.ndarray                      # int8 (samples, domains)
    host_free_pages: np.ndarray            # uint64 (samples,)
    events: Sequence[Event] = field(default_factory=list)

    def columns(self) -> dict[str, np.ndarray]:
        """The long table as numpy columns (``domain`` and ``state`` as integer codes)."""
        sample, dom = np.nonzero(self.state != NOT_RUNNING)
        out = {"time": self.times[sample], "domain": dom.astype(np.int32),
               "state": self.state[sample, dom]}
        for name in PAGE_METRICS:
            out[name] = self.pages[name][sample, dom]
        out["host_free_pages"] = self.host_free_pages[sample]
        return out

    def to_pandas(self) -> Any:
        """The long table as a pandas DataFrame (``domain`` and ``state`` categorical)."""
        pd = require("pandas", "Trace.to_pandas", "trace")
        cols: dict[str, Any] = self.columns()
        cols["domain"] = pd.Categorical.from_codes(cols["domain"], categories=self.domains)
        cols["state"] = pd.Categorical.from_codes(cols["state"], categories=STATES)
        return pd.DataFrame(cols)

    def host_to_pandas(self) -> Any:
        """The host's series (``time``, ``host_free_pages``) as a pandas DataFrame."""
        pd = require("pandas", "Trace.host_to_pandas", "trace")
        return pd.DataFrame({"time": self.times, "host_free_pages": self.host_free_pages})

    def events_to_pandas(self) -> Any:
        """The event log as a pandas DataFrame."""
        pd = require("pandas", "Trace.events_to_pandas", "trace")
        return pd.DataFrame([vars(e) for e in self.events],
                            columns=["time", "domain", "action", "detail"])

    def to_arrow(self) -> Any:
        """The long table as a pyarrow Table (dictionary-encoded ``domain`` and ``state``)."""
        pa = require("pyarrow", "Trace.to_arrow", "trace")
        cols = self.columns()
        arrays = {name: pa.array(values) for name, values in cols.items()}
        for name, labels in (("domain", self.domains), ("state", STATES)):
            arrays[name] = pa.DictionaryArray.from_arrays(
                pa.array(cols[name].astype(np.int32)), pa.array(list(labels)))
        return pa.table(arrays)

    def to_parquet(self, path: str | os.PathLike[str]) -> None:
        """Write the long table as Parquet (the ``trace`` extra)."""
        pq = require("pyarrow.parquet", "Writing Parquet", "trace")
        pq.write_table(self.to_arrow(), str(path))

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the long table as CSV (no extra needed)."""
        cols = self.columns()
        names = np.array(self.domains, dtype=object)[cols["domain"]]
        states = np.array(STATES, dtype=object)[cols["state"]]
        rows = zip(np.char.mod("%.6g", cols["time"]).tolist(), names.tolist(), states.tolist(),
                   *(cols[m].tolist() for m in (*PAGE_METRICS, "host_free_pages")),
                   strict=True)
        with Path(path).open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(COLUMNS)
            writer.writerows(rows)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write by the file's suffix: ``.csv`` or ``.parquet``."""
        suffix = Path(path).suffix.lower()
        if suffix == ".csv":
            self.to_csv(path)
        elif suffix in (".parquet", ".pq"):
            self.to_parquet(path)
        else:
            raise InvalidArgument(f"trace file {path}: expected a .csv or .parquet name")
