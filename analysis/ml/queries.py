"""What the Models page, ``driftline models`` and the README show about classical models, as SQL.

Why one module: the console's cards, the CLI tables and the README's "SQL behind each card" are the
same queries over the views of ``db.py`` (``inferences``, ``labels``, ``inferences_labeled``,
``ml_daily``); a Grafana or Metabase user pastes the constants below (with their own values for the
``?`` parameters) and gets the numbers the console shows. Feature and segment columns are named
``feature.<name>`` / ``segment.<key>`` and are found from the view's columns, never from user text
spliced into SQL (a name is quoted as an identifier only once it is known to be a column).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from driftline.analysis.sql_literals import identifier
from driftline.collector.schema import FEATURE_PREFIX, SEGMENT_PREFIX

# --- the SQL behind each card (parameters: model, version, start of the time range) -----------------

MODELS_SQL = """
SELECT model, model_version AS version, count(*) AS inferences,
       min(time) AS first_seen, max(time) AS last_seen,
       avg(CASE WHEN label IS NOT NULL OR label_class IS NOT NULL THEN 1.0 ELSE 0.0 END) AS label_coverage
FROM inferences_labeled
GROUP BY ALL ORDER BY model, first_seen"""

VOLUME_SQL = """
SELECT count(*) AS inferences,
       quantile_cont(latency_ms, 0.5) AS latency_p50_ms,
       quantile_cont(latency_ms, 0.95) AS latency_p95_ms
FROM inferences
WHERE model = ? AND model_version = ? AND time >= ?"""

PER_MINUTE_SQL = """
SELECT time_bucket(INTERVAL 1 minute, time) AS minute, count(*) AS inferences
FROM inferences
WHERE model = ? AND model_version = ? AND time >= ?
GROUP BY 1 ORDER BY 1"""

LABELS_SQL = """
SELECT count(*) AS inferences,
       count(label_time) AS labeled,
       count(label_time) / count(*) AS label_coverage,
       median(label_delay_s) AS label_delay_median_s,
       quantile_cont(label_delay_s, 0.9) AS label_delay_p90_s
FROM inferences_labeled
WHERE model = ? AND model_version = ? AND time >= ?"""

# top segments by volume and the scatter are built per segment key / feature column:
TOP_SEGMENT_SQL = """
SELECT ? AS segment, {column} AS value, count(*) AS inferences
FROM inferences
WHERE model = ? AND model_version = ? AND time >= ? AND {column} IS NOT NULL
GROUP BY ALL"""

SCATTER_SQL = """
SELECT {feature} AS x, prediction AS y, {colour} AS colour
FROM inferences
WHERE model = ? AND model_version = ? AND time >= ? AND {feature} IS NOT NULL
USING SAMPLE 2000 ROWS"""

RANGES = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "2h": timedelta(hours=2), "6h": timedelta(hours=6),
          "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}  # fmt: skip
TOP_SEGMENTS = 10


def _rows(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def columns(con: Any, prefix: str) -> list[str]:
    """Names (without ``prefix``) of the ``inferences`` view's feature or segment columns."""
    names = [r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE inferences)").fetchall()]
    return sorted(n[len(prefix) :] for n in names if n.startswith(prefix))


def models(con: Any) -> list[dict[str, Any]]:
    return _rows(con.execute(MODELS_SQL))


@dataclass
class Feature:
    name: str
    kind: str  # numeric | boolean | categorical
    present: int
    missing_rate: float
    minimum: Any
    maximum: Any
    distinct: int


def profile(con: Any, model: str, version: str | None = None) -> tuple[int, list[Feature]]:
    """(inferences, the model's features): type, missing rate and range of each (over ``version`` or all)."""
    kinds = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE inferences)").fetchall())
    names = [n for n in kinds if n.startswith(FEATURE_PREFIX)]
    where, params = "model = ?", [model]
    if version is not None:
        where, params = where + " AND model_version = ?", [*params, version]
    if not names:
        total = con.execute(f"SELECT count(*) FROM inferences WHERE {where}", params).fetchone()[0]
        return total, []
    parts = ["count(*)"]
    for n in names:
        q = identifier(n)
        parts += [f"count({q})", f"min({q})", f"max({q})", f"approx_count_distinct({q})"]
    row = con.execute(f"SELECT {', '.join(parts)} FROM inferences WHERE {where}", params).fetchone()
    total = row[0]
    out = []
    for i, n in enumerate(names):
        present, lo, hi, distinct = row[1 + 4 * i : 5 + 4 * i]
        if not present:
            continue  # a column of another model
        typ = kinds[n].upper()
        kind = "boolean" if typ == "BOOLEAN" else "numeric" if typ in ("DOUBLE", "FLOAT", "BIGINT") else "categorical"
        if kind == "categorical":
            lo = hi = None
        out.append(Feature(n[len(FEATURE_PREFIX) :], kind, present, 1 - present / total, lo, hi, distinct))
    return total, out


def rollups(con: Any, model: str, days: int = 14) -> list[dict[str, Any]]:
    """The model's ``ml_daily`` rows of the last ``days`` days (newest first)."""
    return _rows(
        con.execute(
            "SELECT * FROM ml_daily WHERE model = ? AND day >= current_date - CAST(? AS INTEGER) "
            "ORDER BY day DESC, model_version",
            [model, days],
        )
    )


def range_start(name: str, now: datetime) -> datetime:
    if name not in RANGES:
        raise ValueError(f"unknown range {name!r}: choose from {', '.join(RANGES)}")
    return now - RANGES[name]


def cards(
    con: Any,
    model: str,
    version: str,
    start: datetime,
    feature: str | None = None,
    colour: str | None = None,
) -> dict[str, Any]:
    """Every card of the Models page for one model version since ``start``."""
    params = [model, version, start]
    segments = columns(con, SEGMENT_PREFIX)
    volume = _rows(con.execute(VOLUME_SQL, params))[0]
    per_minute = _rows(con.execute(PER_MINUTE_SQL, params))
    labels = _rows(con.execute(LABELS_SQL, params))[0]
    top: list[dict[str, Any]] = []
    if segments:
        union = " UNION ALL ".join(TOP_SEGMENT_SQL.format(column=identifier(SEGMENT_PREFIX + k)) for k in segments)
        sql = f"SELECT * FROM ({union}) ORDER BY inferences DESC LIMIT {TOP_SEGMENTS}"
        top = _rows(con.execute(sql, [v for k in segments for v in (k, *params)]))
    own = profile(con, model, version)[1]  # the view's columns include other models' features
    numeric = [f.name for f in own if f.kind in ("numeric", "boolean")]
    if feature is not None and feature not in numeric:
        raise ValueError(f"model {model!r} has no numeric feature {feature!r}")
    chosen = feature if feature is not None else (numeric[0] if numeric else None)
    if colour is not None and colour not in segments:
        raise ValueError(f"model {model!r} has no segment key {colour!r}")
    scatter: list[dict[str, Any]] = []
    if chosen is not None:
        colour_sql = identifier(SEGMENT_PREFIX + colour) if colour else "NULL"
        sql = SCATTER_SQL.format(feature=identifier(FEATURE_PREFIX + chosen), colour=colour_sql)
        scatter = _rows(con.execute(sql, params))
    return {
        "model": model,
        "version": version,
        "since": start,
        "volume": volume,
        "per_minute": per_minute,
        "labels": labels,
        "top_segments": top,
        "scatter": {"feature": chosen, "colour": colour, "points": scatter},
        "features": numeric,
        "segments": segments,
    }
