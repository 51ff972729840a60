"""One side of a model diff: which inferences it is (a version, a window, the newest N, an imported
reference), its summary, and reading its columns.

Why its own module: a million inferences of a hundred features are read a slice of columns at a time,
and every read of a side must return the same rows in the same order (the bootstrap pairs an inference
across dimensions by position). How a side is selected, in which order, and from which view
(``inference_records`` when the model has no resend, the de-duplicating ``inferences`` when it has one)
is one fact, kept here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from driftline.analysis.diff.sides import ANY, SelectionError, SideSpec
from driftline.analysis.report.model import SideSummary
from driftline.collector.schema import FEATURE_PREFIX, SEGMENT_PREFIX

UNIT = "inferences"


@dataclass
class ModelSide:
    """One side's selection: its summary and the columns read so far (``fetch`` reads more)."""

    version: str | None
    columns: dict[str, pa.Array]
    summary: SideSummary
    query: tuple[str, list[Any]] = ("", [])  # FROM ... WHERE ... ORDER BY ... (one row order for every read)
    where: str = "TRUE"  # the side's conditions, for reading it from another view (``inferences_labeled``)
    limit: str = ""  # ORDER BY ... LIMIT n of --last

    @property
    def n(self) -> int:
        return self.summary.runs

    @property
    def label(self) -> str:
        return self.summary.label

    def sample_keys(self, con: duckdb.DuckDBPyConnection) -> np.ndarray:
        """A hash of each row's identity (request id, time), in this side's row order."""
        sql, params = self.query
        table = con.sql(f"SELECT hash(request_id, time) AS k {sql}", params=params).to_arrow_table()
        return np.asarray(table.column("k").to_numpy(), dtype=np.uint64)

    def fetch(self, con: duckdb.DuckDBPyConnection, names: list[str]) -> dict[str, pa.Array]:
        """Columns ``names`` of this side's rows, in the row order of every other read of this side (so
        the bootstrap's shared resampling indices pair the same inference across all dimensions)."""
        sql, params = self.query
        table = con.sql(f"SELECT {', '.join(map(_quote, names))} {sql}", params=params).to_arrow_table()
        if table.num_rows != self.n:
            raise SelectionError(f"the data of {self.label} changed while it was read; run the diff again")
        return {name: table.column(name) for name in names}  # chunks are joined by each dimension's thread


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def model_versions(con: duckdb.DuckDBPyConnection, model: str) -> list[str]:
    """The model's versions in order of first appearance (resends change neither)."""
    rows = con.execute(
        "SELECT model_version FROM inference_records WHERE model = ? AND model_version IS NOT NULL "
        "GROUP BY 1 ORDER BY min(time), 1",
        [model],
    ).fetchall()
    return [r[0] for r in rows]


def _resolve(con: duckdb.DuckDBPyConnection, model: str, spec: SideSpec) -> str | None:
    if spec.version == ANY:
        return None
    known = model_versions(con, model)
    if not known:
        models = [r[0] for r in con.execute("SELECT DISTINCT model FROM inference_records ORDER BY 1").fetchall()]
        raise SelectionError(
            f"no inferences of model {model!r}" + (f"; known models: {', '.join(models)}" if models else "")
        )
    if spec.version == "latest":
        return known[-1]
    if spec.version == "previous":
        if len(known) < 2:
            raise SelectionError(f"'previous' needs two versions of {model!r}; it has {', '.join(known)}")
        return known[-2]
    if spec.version not in known:
        raise SelectionError(f"model {model!r} has no version {spec.version!r}; known: {', '.join(known)}")
    return spec.version


def has_resends(con: duckdb.DuckDBPyConnection, model: str) -> bool:
    """Whether any inference of ``model`` was written twice (a client retry after a lost ack). Counted
    on a 64-bit hash of the key: a resend always repeats its hash, and a collision (of two different
    keys) can only make this say True, which takes the exact path — never the other way round."""
    row = con.execute(
        "SELECT count(*) > count(DISTINCT hash(request_id, time)) FROM inference_records WHERE model = ?", [model]
    ).fetchall()
    return bool(row[0][0])


def load_side(
    con: duckdb.DuckDBPyConnection, model: str, spec: SideSpec, *, extra: tuple[str, ...] = (), resends: bool = True
) -> ModelSide:
    """One side's selection (the newest ``spec.last`` when given) and its summary; reads the columns
    the summary needs and ``extra``, the rest on demand (``ModelSide.fetch``).

    Why not the whole table at once: a million inferences of a hundred features is 1.6 GB of values per
    side; the diff reads them a slice of features at a time. ``resends=False`` (no exact resend of this
    model, ``has_resends``) reads ``inference_records`` without the window that removes resends — the
    same rows, several times faster."""
    version = _resolve(con, model, spec)
    clauses, params = ["model = ?"], [model]
    if version is not None:
        clauses.append("model_version = ?")
        params.append(version)
    if spec.env:
        clauses.append("environment = ?")
        params.append(spec.env)
    if spec.since:
        clauses.append("time >= ?")
        params.append(spec.since)
    if spec.until:
        clauses.append("time < ?")
        params.append(spec.until)
    source = "inferences" if resends else "inference_records"
    where = " AND ".join(clauses)
    # (time, request_id) is unique once resends are removed: one order for every read
    limit = f" ORDER BY time DESC, request_id LIMIT {int(spec.last)}" if spec.last else ""
    sql = f"FROM {source} WHERE {where}{limit}"
    if resends and not spec.last:  # the window does not keep the files' order
        sql += " ORDER BY time, request_id"
    row = con.execute(
        "SELECT count(*), min(time), max(time), list(DISTINCT model_version), list(DISTINCT environment) "
        f"FROM (SELECT time, model_version, environment {sql})",
        params,
    ).fetchall()[0]  # an aggregate: one row (and DuckDB wants every result read to the end)
    n, start, end, versions, environments = row
    label = version or "all versions"
    if spec.since or spec.until:
        label += f" [{_fmt(spec.since) or '…'} → {_fmt(spec.until) or 'now'}]"
    selector = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(spec).items() if v is not None}
    summary = SideSummary(
        label=label,
        selector={**selector, "model": model, "resolved_version": version},
        runs=int(n),
        start=_fmt(start),
        end=_fmt(end),
        versions=sorted(v for v in versions or [] if v is not None),
        agents=[model],
        environments=sorted(v for v in environments or [] if v is not None),
        unit=UNIT,
    )
    side = ModelSide(version, {}, summary, (sql, params), where, limit)
    if extra:
        side.columns.update(side.fetch(con, list(extra)))
    return side


def segment_keys(con: duckdb.DuckDBPyConnection) -> list[str]:
    names = [r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE inference_records)").fetchall()]
    return sorted(n.removeprefix(SEGMENT_PREFIX) for n in names if n.startswith(SEGMENT_PREFIX))


def _fmt(t: datetime | None) -> str | None:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def feature_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The ``feature.<name>`` columns of the inference data (the union over every file)."""
    names = [r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE inference_records)").fetchall()]
    return sorted(n for n in names if n.startswith(FEATURE_PREFIX))
