"""Stage 5: the one DuckDB connection factory — views over the Parquet root.

Why one gateway: every command and notebook gets the same ``spans``, ``logs``, ``llm_calls`` and
``tool_calls`` views (duplicates removed by span id), defined once in ``analysis/sql/*.sql`` and bound
to the root's files by ``views.py``; ``runs`` comes from the run cache (``run_cache.py``) when asked.
An empty root gives empty views with the canonical columns, not an error, so a fresh install can
already run queries.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow.fs as pafs

import driftline.collector.crypto as crypto
from driftline.analysis import memory_policy
from driftline.analysis.cost import load_prices, register_prices
from driftline.analysis.run_cache import RunCache
from driftline.analysis.views import (
    DEFAULT_TZ,
    ML_VIEWS,
    SOURCES,
    SPAN_VIEWS,
    VIEWS,
    check_tz,
    define_views,
    new_connection,
    source,
)
from driftline.collector.schema import filesystem, partitions_between

__all__ = ["DEFAULT_TZ", "ML_VIEWS", "VIEWS", "check_tz", "connect", "connect_hours", "connect_ml"]


def connect(
    root: str,
    *,
    pricing: str | Path | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
    cached_runs: bool = False,
    cache_dir: str | Path | None = None,
    only_runs: bool = False,
    refresh_cache: bool = True,
    tz: str = DEFAULT_TZ,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection whose views read the Parquet under ``root``; ``pricing`` is a
    pricing file (default: the newest one shipped in ``analysis/pricing/``). The ML views
    (``inferences``, ``labels``, ``label_events``, ``inferences_labeled``, ``ml_daily``) count days in
    ``tz`` (default UTC).

    With ``cached_runs`` the ``runs`` view reads per-hour run files: those receivers derived when they
    closed the hour (``runs/`` beside ``spans/``) where they still account for the hour's spans, else
    files derived once and kept under the cache directory (see ``run_cache``), so a repeated diff only
    derives the hours that changed; with
    ``only_runs`` too, no other view is defined (binding each reads every file footer: a diff that
    needs nothing but runs saves that). ``refresh_cache=False`` reads the run cache as it is, deriving
    nothing (the API: a background refresh keeps it current, a request never waits for one).
    """
    memory_policy.for_analysis()
    con = new_connection(threads, memory_limit)
    prices = load_prices(pricing)
    register_prices(con, prices)
    if cached_runs and crypto.key_for(*filesystem(root)) is not None:
        cached_runs = False  # the run cache would keep derived runs unencrypted beside the data: derive live
    if cached_runs and only_runs and RunCache(root, prices, cache_dir).attach(con, refresh=refresh_cache):
        return con  # no dataset is bound: binding reads every file footer (a tenth of a second at 100 hours)
    sources = {name: source(con, root, name) for name in SOURCES}
    if cached_runs:  # the live runs view is not even bound: binding it costs a tenth of a second
        if not only_runs:
            define_views(con, sources, VIEWS[:-1])
            define_views(con, sources, ML_VIEWS, tz)
            if RunCache(root, prices, cache_dir).attach(con, refresh=refresh_cache):
                return con
        define_views(con, sources, VIEWS if only_runs else VIEWS[-1:])
        return con
    define_views(con, sources)
    define_views(con, sources, ML_VIEWS, tz)
    return con


def connect_ml(root: str, tz: str = DEFAULT_TZ) -> duckdb.DuckDBPyConnection:
    """Only the ML views (``inferences``, ``label_events``, ``labels``, ``inferences_labeled``,
    ``ml_daily``): binding the span views reads every span file footer, which a Models page or
    ``driftline models`` never needs."""
    memory_policy.for_analysis()
    con = new_connection()
    define_views(con, {name: source(con, root, name) for name in ("inferences", "labels")}, ML_VIEWS, tz)
    return con


def connect_hours(
    root: str, start: datetime, end: datetime, *, pricing: str | Path | None = None
) -> duckdb.DuckDBPyConnection:
    """Views over only the hour partitions from ``start`` to ``end`` (``spans``, ``llm_calls``,
    ``tool_calls``, ``llm_call_costs``): one run's span tree without reading every file of the root.

    Why: the full ``spans`` view deduplicates across all files, so a lookup by trace id reads the
    trace-id column of the whole root — seconds at millions of runs. The run's hours hold its spans
    (partitions are by span start time); the same view SQL over fewer files gives the same rows.
    Object-store roots read the whole root (their listing is the slow part anyway).
    """
    memory_policy.for_analysis()
    con = new_connection()
    register_prices(con, load_prices(pricing))
    fs, _ = filesystem(root)
    if not isinstance(fs, pafs.LocalFileSystem):  # an object store's listing is the slow part anyway
        define_views(con, {"spans": source(con, root, "spans")}, SPAN_VIEWS)
        return con
    define_views(con, {"spans": source(con, root, "spans", partitions_between(start, end))}, SPAN_VIEWS)
    return con
