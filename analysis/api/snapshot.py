"""What the API answers from: an in-memory copy of the ``runs`` view, the span count per hour and the
priced model calls, refreshed when the data changes.

Why: opening the analysis connection (checking the run cache of every hour, binding the views) costs
a few hundred milliseconds on a large root, and scanning a thousand Parquet files per request
another hundred; a page of runs must answer in well under that. So the API keeps one DuckDB
database holding the runs as a table — built from the same run cache the CLI uses, so nothing is
derived twice and every number is the analysis layer's — and serves each request from its own
cursor on it (cursors share the database and may run concurrently). Health, stats and cost read
the same snapshot (spans counted per hour, calls priced, once per change, in the background). A
request at most ``REFRESH_S`` after the last check starts a background check of the data's file
listing; when it changed (the receiver wrote, compaction ran, prices changed) a new snapshot is
built and swapped in, so a request never waits for a rebuild and new runs appear within seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import duckdb

from driftline.collector.schema import filesystem

REFRESH_S = 2.0
log = logging.getLogger("driftline.api")


class RunsSnapshot:
    def __init__(self, data: str, pricing: str | None = None, refresh_s: float = REFRESH_S) -> None:
        self.data, self.pricing, self.refresh_s = data, pricing, refresh_s
        self._db: duckdb.DuckDBPyConnection | None = None
        self._fingerprint: tuple[Any, ...] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()  # one build at a time
        self._refreshing = False

    def fingerprint(self) -> tuple[Any, ...]:
        """What the runs depend on: every span file (name, size, mtime) and the price table's file."""
        from driftline.analysis.run_derivation import list_partitions

        fs, base = filesystem(self.data)
        pricing = Path(self.pricing).stat().st_mtime_ns if self.pricing and Path(self.pricing).exists() else None
        return (tuple(list_partitions(fs, base)), pricing)

    def _build(self, fingerprint: tuple[Any, ...]) -> None:
        from driftline.analysis.db import connect
        from driftline.analysis.run_cache import release

        started = time.perf_counter()
        from driftline.analysis.cost import COSTED_CALLS_SQL

        source = connect(self.data, pricing=self.pricing, cached_runs=True)
        db = duckdb.connect()
        # streamed in record batches: the rows exist twice only one batch at a time
        reader = source.sql("SELECT * FROM runs").to_arrow_reader()
        db.register("_incoming", reader)
        # microsecond time zone-aware start times: what every comparison wants (no cast per row per query)
        db.execute(
            "CREATE TABLE runs AS SELECT * REPLACE (CAST(start_time AS TIMESTAMPTZ) AS start_time) FROM _incoming"
        )
        db.unregister("_incoming")
        # what /health, /stats and /cost read, computed here (in the background) rather than per request
        for name, query in (
            (
                "span_hours",
                "SELECT date_trunc('hour', CAST(start_time AS TIMESTAMPTZ)) AS hour, count(*) AS spans "
                "FROM spans GROUP BY 1",
            ),
            ("costed_calls", COSTED_CALLS_SQL),
        ):
            db.register("_incoming", source.sql(query).to_arrow_reader())
            db.execute(f"CREATE TABLE {name} AS SELECT * FROM _incoming")
            db.unregister("_incoming")
        release(source)
        self._db, self._fingerprint = db, fingerprint
        log.info(
            "runs snapshot: %d runs in %.2f s",
            db.execute("SELECT count(*) FROM runs").fetchall()[0][0],
            time.perf_counter() - started,
        )

    def _refresh(self) -> None:
        try:
            with self._lock:
                current = self.fingerprint()
                if current != self._fingerprint:
                    self._build(current)
        except Exception:  # a failed refresh keeps serving the last good snapshot; the next one retries
            log.exception("refreshing the runs snapshot failed")
        finally:
            self._refreshing = False

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection whose ``runs`` table is at most a refresh behind the data."""
        now = time.monotonic()
        if self._db is None:
            with self._lock:
                if self._db is None:
                    self._build(self.fingerprint())
            self._checked = now
        elif now - self._checked >= self.refresh_s and not self._refreshing:
            self._checked, self._refreshing = now, True
            threading.Thread(target=self._refresh, name="driftline-runs-snapshot", daemon=True).start()
        assert self._db is not None
        return self._db.cursor()
