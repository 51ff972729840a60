"""Stage 5: the one DuckDB connection factory — views over the Parquet root.

Why one gateway: every command and notebook gets the same ``spans``, ``logs``, ``llm_calls`` and
``tool_calls`` views (duplicates removed by span id), defined once in ``analysis/sql/*.sql``. A local
root is read with DuckDB's own Parquet reader (hive partitions, projection and filter pushdown); an
object-store root is read through the pyarrow filesystem the collector writes with, so no DuckDB
extension has to be downloaded at run time. An empty root gives empty views with the canonical
columns, not an error, so a fresh install can already run queries.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.dataset as ds
import pyarrow.fs as pafs

import driftline.collector.crypto as crypto
import driftline.collector.inventory as inventory
from driftline.analysis.cost import load_prices, register_prices
from driftline.collector.schema import (
    CONFLICT_COLUMNS,
    INFERENCE_SCHEMA,
    LABEL_SCHEMA,
    LOG_SCHEMA,
    PARTITION_GLOB,
    SPAN_SCHEMA,
    filesystem,
)

SQL_DIR = Path(__file__).parent / "sql"
VIEWS = (  # dependency order; runs last (a cached runs view replaces it)
    "spans",
    "logs",
    "span_id_conflicts",
    "llm_calls",
    "tool_calls",
    "llm_call_costs",
    "agent_events",
    "decisions",
    "signals",
    "failures",
    "memory_ops",
    "runs",
)
ML_VIEWS = ("inference_records", "inferences", "label_events", "labels", "inferences_labeled", "ml_daily")
# views over a dataset they are not named after
_DATASET_OF = {"span_id_conflicts": "spans", "label_events": "labels", "inference_records": "inferences"}
_SOURCES = {"spans": SPAN_SCHEMA, "logs": LOG_SCHEMA, "inferences": INFERENCE_SCHEMA, "labels": LABEL_SCHEMA}
DEFAULT_TZ = "UTC"


def check_tz(tz: str) -> str:
    """``tz`` when it is an IANA time zone name (it is spliced into view SQL); ValueError otherwise."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r} (use an IANA name such as UTC or Europe/Paris)") from exc
    if "'" in tz:
        raise ValueError(f"unknown time zone {tz!r}")
    return tz


SPAN_VIEWS = ("spans", "llm_calls", "tool_calls", "llm_call_costs")


def _read_parquet(globs: list[str]) -> str:
    """DuckDB's reader over local files (unfinished writes end in a temporary suffix, never .parquet)."""
    quoted = ", ".join("'" + g.replace("'", "''") + "'" for g in globs)
    return f"read_parquet([{quoted}], hive_partitioning = true, union_by_name = true)"


def typed(con: duckdb.DuckDBPyConnection, dataset: str, relation: str) -> str:
    """``relation`` with every column of the dataset's schema: a column no file has yet (a root written
    before the column existed) reads as NULL of its type instead of failing every view that names it."""
    name = f"_{dataset}_columns"
    # a table of the database (not a registration, which is the connection's own): cursors see it too
    con.register("_empty_schema", _SOURCES[dataset].empty_table())
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _empty_schema")
    con.unregister("_empty_schema")
    return f"(SELECT * FROM {relation} UNION ALL BY NAME SELECT * FROM {name})"


def _source(con: duckdb.DuckDBPyConnection, root: str, dataset: str, partitions: list[str] | None = None) -> str:
    """A FROM clause (or registered relation name) for one dataset of the root (only ``partitions``
    when given). Files no reader can use are left out, with one warning naming them."""
    fs, base = filesystem(root)
    found = inventory.scan(fs, base, dataset, partitions)
    inventory.warn(found.unreadable, root)
    if not found.files:
        con.register(f"_{dataset}_empty", _SOURCES[dataset].empty_table())
        return f"_{dataset}_empty"
    key = crypto.key_for(fs, base)  # an encrypted root is read through pyarrow, which decrypts
    if isinstance(fs, pafs.LocalFileSystem) and key is None:
        if partitions is None and not found.unreadable:  # the glob keeps the view's text short
            relation = _read_parquet([f"{base}/{PARTITION_GLOB.format(dataset=dataset)}"])
        else:
            relation = _read_parquet(found.paths)
        return typed(con, dataset, relation) if found.lacks(_SOURCES[dataset].names) else relation
    dataset_obj = ds.dataset(
        found.paths,
        filesystem=fs,
        format=crypto.parquet_format(key),
        partitioning="hive",
        partition_base_dir=f"{base}/{dataset}",
    )
    con.register(f"_{dataset}_arrow", dataset_obj)
    return f"_{dataset}_arrow"


def new_connection(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    config: dict[str, Any] = {}
    if threads:
        config["threads"] = threads
    if memory_limit:
        config["memory_limit"] = memory_limit
    con = duckdb.connect(":memory:", config=config)
    con.execute("SET TimeZone = 'UTC'")
    return con


def define_views(
    con: duckdb.DuckDBPyConnection, sources: dict[str, str], views: tuple[str, ...] = VIEWS, tz: str = DEFAULT_TZ
) -> None:
    """Create ``views`` (in dependency order); ``sources`` gives the FROM clause of each dataset view,
    ``tz`` the time zone of the days of ``ml_daily``."""
    for view in views:
        sql = (SQL_DIR / f"{view}.sql").read_text()
        if "{source}" in sql:
            sql = sql.replace("{source}", sources[_DATASET_OF.get(view, view)])
        sql = sql.replace("{conflict_key}", f"({', '.join(CONFLICT_COLUMNS)})").replace("{tz}", check_tz(tz))
        con.execute(sql)


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

    With ``cached_runs`` the ``runs`` view reads per-hour run files derived once and kept under the
    cache directory (see ``run_cache``), so a repeated diff only derives the hours that changed; with
    ``only_runs`` too, no other view is defined (binding each reads every file footer: a diff that
    needs nothing but runs saves that). ``refresh_cache=False`` reads the run cache as it is, deriving
    nothing (the API: a background refresh keeps it current, a request never waits for one).
    """
    con = new_connection(threads, memory_limit)
    prices = load_prices(pricing)
    register_prices(con, prices)
    sources = {name: _source(con, root, name) for name in _SOURCES}
    if cached_runs and crypto.key_for(*filesystem(root)) is not None:
        cached_runs = False  # the run cache would keep derived runs unencrypted beside the data: derive live
    if cached_runs:  # the live runs view is not even bound: binding it costs a tenth of a second
        from driftline.analysis.run_cache import RunCache

        if not only_runs:
            define_views(con, sources, VIEWS[:-1])
            define_views(con, sources, ML_VIEWS, tz)
        if not RunCache(root, prices, cache_dir).attach(con, refresh=refresh_cache):
            define_views(con, sources, VIEWS if only_runs else VIEWS[-1:])
        return con
    define_views(con, sources)
    define_views(con, sources, ML_VIEWS, tz)
    return con


def connect_ml(root: str, tz: str = DEFAULT_TZ) -> duckdb.DuckDBPyConnection:
    """Only the ML views (``inferences``, ``label_events``, ``labels``, ``inferences_labeled``,
    ``ml_daily``): binding the span views reads every span file footer, which a Models page or
    ``driftline models`` never needs."""
    con = new_connection()
    define_views(con, {name: _source(con, root, name) for name in ("inferences", "labels")}, ML_VIEWS, tz)
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
    con = new_connection()
    register_prices(con, load_prices(pricing))
    fs, _ = filesystem(root)
    if not isinstance(fs, pafs.LocalFileSystem):  # an object store's listing is the slow part anyway
        define_views(con, {"spans": _source(con, root, "spans")}, SPAN_VIEWS)
        return con
    hours, t = [], start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while t <= end:
        hours.append(f"date={t:%Y-%m-%d}/hour={t:%H}")
        t += timedelta(hours=1)
    source = _source(con, root, "spans", hours)
    define_views(con, {"spans": source}, SPAN_VIEWS)
    return con
