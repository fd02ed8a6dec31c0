"""A sweep's table: runs' summaries as flat rows, the pandas table, its files, its aggregate.

One row per run.  Columns: each varied key as written (``policy.name``), ``seed``, ``error``
(empty when the run succeeded), ``wall_seconds``, then the summary flattened as
``<domain name>.<metric>`` and ``host.<metric>`` (API.md, second part).  Only scalar metrics
become columns; lists in the summary (a domain's ``targets``, the host's ``tenants``) stay
with the run, as its trace does.  pandas is imported only when a table is made.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidArgument
from ..trace.io import require

__all__ = ["FIXED", "OOM_TOTAL", "SHORT_TOTAL", "SLOWEST", "aggregate", "check_out", "frame",
           "summary_row", "write"]

FIXED = ("seed", "error", "wall_seconds")
OOM_TOTAL = "oom_kills (all domains)"
SHORT_TOTAL = "domains below target"
SLOWEST = "slowest time_to_target"
_SCALARS = (bool, int, float, str, type(None))


def summary_row(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A run's summary as ``{'vm1.oom_kills': 0, ..., 'host.min_free_pages': 512, ...}``."""
    row: dict[str, Any] = {}
    for name, metrics in summary.get("domains", {}).items():
        row.update((f"{name}.{k}", v) for k, v in metrics.items() if isinstance(v, _SCALARS))
    row.update((f"host.{k}", v) for k, v in summary.get("host", {}).items()
               if isinstance(v, _SCALARS))
    return row


def _pandas() -> Any:
    return require("pandas", "a sweep's table", "sweep")


def frame(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> Any:
    """The rows as a DataFrame (its index is the run number); columns in the documented order
    even when no run succeeded.  A varied key whose values mix types is kept as text."""
    pd = _pandas()
    rows = list(rows)
    df = pd.DataFrame(rows)
    for column in (*keys, *FIXED):
        if column not in df.columns:
            df[column] = pd.Series(dtype=object)
    metrics = [c for c in df.columns if c not in keys and c not in FIXED]
    df = df[[*keys, *FIXED, *metrics]]
    for key in keys:
        if len({type(v) for v in df[key]}) > 1:
            df[key] = df[key].astype(str)
    for column in metrics:   # counts stay integers where failed runs leave holes
        values = [row[column] for row in rows if row.get(column) is not None]
        if values and all(type(v) is int for v in values):
            df[column] = df[column].astype("Int64")
    df["error"] = df["error"].fillna("").astype(str)
    df.index.name = "run"
    return df


def check_out(path: str | os.PathLike[str]) -> str:
    """The format of a table file, ``'csv'`` or ``'parquet'``, checked before a sweep runs:
    InvalidArgument for another suffix, MissingExtra if Parquet cannot be written here."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix not in (".parquet", ".pq"):
        raise InvalidArgument(f"sweep table {path}: expected a .csv or .parquet file name")
    require("pyarrow", "writing Parquet", "trace")
    return "parquet"


def write(df: Any, path: str | os.PathLike[str]) -> None:
    """Write the table by the file's suffix: ``.csv`` or ``.parquet`` (needs pyarrow)."""
    if check_out(path) == "csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)


def aggregate(df: Any, keys: Sequence[str]) -> Any:
    """Per combination of the varied keys: ``runs``, ``failed``, and the mean over its
    successful runs of every numeric column, and of three figures over the domains:
    ``OOM_TOTAL`` (kills), ``SHORT_TOTAL`` (domains whose current_pages ended below their
    target_pages) and ``SLOWEST`` (the longest time_to_target of the run)."""
    pd = _pandas()
    ok = df[df["error"] == ""]
    numeric = ok.select_dtypes("number").drop(columns=["seed"], errors="ignore")
    numeric = numeric.drop(columns=[k for k in keys if k in numeric.columns])
    names = [c[:-len(".target_pages")] for c in numeric.columns if c.endswith(".target_pages")]
    if names:   # a domain short of its target at the end of the run (the driver gave up)
        short = sum((ok[f"{n}.current_pages"] < ok[f"{n}.target_pages"]).astype(int)
                    for n in names if f"{n}.current_pages" in ok.columns)
        numeric.insert(0, SHORT_TOTAL, short)
    waits = [c for c in ok.columns if c.endswith(".time_to_target")]
    if waits:   # the slowest domain of the run to reach its last target (NaN: none set)
        numeric.insert(0, SLOWEST, ok[waits].apply(pd.to_numeric, errors="coerce").max(axis=1))
    kills = [c for c in numeric.columns if c.endswith(".oom_kills") and c != "host.oom_kills"]
    if kills:
        numeric.insert(0, OOM_TOTAL, numeric[kills].sum(axis=1))
    whole = pd.Series("all runs", index=df.index, name="sweep")   # no varied key: one group
    labels = [df[k] for k in keys] or [whole]
    counts = df.groupby(labels, sort=False)["error"].agg(
        runs="size", failed=lambda e: int((e != "").sum()))
    out = counts.join(numeric.groupby(labels, sort=False).mean(), how="left")
    return out.reset_index()
