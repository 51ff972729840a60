"""Stage 5: the analysis's views — their SQL (``analysis/sql/*.sql``) and the datasets they read.

Why a module of its own: the connection factory (``db.py``) and the run cache (``run_cache.py``) both
define views, and the run cache is one of the factory's sources; with the views here the imports run
one way (views ← run_cache ← db). A local root is read with DuckDB's own Parquet reader (hive
partitions, projection and filter pushdown); an object-store or encrypted root through the pyarrow
filesystem the collector writes with, so no DuckDB extension is downloaded at run time. An empty
dataset gives an empty relation with the canonical columns, not an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow.dataset as ds
import pyarrow.fs as pafs

import driftline.collector.crypto as crypto
import driftline.collector.inventory as inventory
from driftline.analysis.sql_literals import literal_list
from driftline.collector.schema import (
    CONFLICT_COLUMNS,
    INFERENCE_SCHEMA,
    LABEL_SCHEMA,
    LOG_SCHEMA,
    PARTITION_GLOB,
    SPAN_SCHEMA,
    filesystem,
    first_copy_window,
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
SOURCES = {"spans": SPAN_SCHEMA, "logs": LOG_SCHEMA, "inferences": INFERENCE_SCHEMA, "labels": LABEL_SCHEMA}
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


def read_parquet(paths: list[str], hive: bool = True) -> str:
    """DuckDB's reader over local files or globs, as view text (a view cannot take parameters)."""
    return f"read_parquet({literal_list(paths)}, hive_partitioning = {str(hive).lower()}, union_by_name = true)"


def typed(con: duckdb.DuckDBPyConnection, dataset: str, relation: str) -> str:
    """``relation`` with every column of the dataset's schema: a column no file has yet (a root written
    before the column existed) reads as NULL of its type instead of failing every view that names it."""
    name = f"_{dataset}_columns"
    # a table of the database (not a registration, which is the connection's own): cursors see it too
    con.register("_empty_schema", SOURCES[dataset].empty_table())
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _empty_schema")
    con.unregister("_empty_schema")
    return f"(SELECT * FROM {relation} UNION ALL BY NAME SELECT * FROM {name})"


def source(con: duckdb.DuckDBPyConnection, root: str, dataset: str, partitions: list[str] | None = None) -> str:
    """A FROM clause (or registered relation name) for one dataset of the root (only ``partitions``
    when given). Files no reader can use are left out, with one warning naming them."""
    fs, base = filesystem(root)
    found = inventory.scan(fs, base, dataset, partitions)
    inventory.warn(found.unreadable, root)
    if not found.files:
        con.register(f"_{dataset}_empty", SOURCES[dataset].empty_table())
        return f"_{dataset}_empty"
    key = crypto.key_for(fs, base)  # an encrypted root is read through pyarrow, which decrypts
    if isinstance(fs, pafs.LocalFileSystem) and key is None:
        if partitions is None and not found.unreadable:  # the glob keeps the view's text short
            relation = read_parquet([f"{base}/{PARTITION_GLOB.format(dataset=dataset)}"])
        else:
            relation = read_parquet(found.paths)
        return typed(con, dataset, relation) if found.lacks(SOURCES[dataset].names) else relation
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


def insert_columns(con: duckdb.DuckDBPyConnection, table: str, columns: list[list[Any]], types: list[str]) -> None:
    """Insert rows given column by column (``types``: each column's SQL type) in one statement, each
    column bound as one list. Why not ``executemany``: DuckDB runs it as one statement per row, a
    quarter of a millisecond each (0.05 s of a cold diff for 200 cut traces)."""
    if not columns or not columns[0]:
        return
    unnests = ", ".join(f"unnest(CAST(? AS {t}[]))" for t in types)
    con.execute(f"INSERT INTO {table} SELECT {unnests}", columns)


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
        if "{first_copy_window}" in sql:
            sql = sql.replace("{first_copy_window}", first_copy_window(_DATASET_OF.get(view, view)))
        con.execute(sql)
