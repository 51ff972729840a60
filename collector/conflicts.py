"""Spans that reuse another span's (trace_id, span_id) with different content.

Why it is worth a module: every reader deduplicates by (trace_id, span_id) — a client retry resends
the very same span, and the first copy is kept. When two *different* spans share ids (an app that
seeds Python's global ``random`` makes the SDK's id generator repeat across runs), that
deduplication silently hides one of them. The receiver counts those it sees within a segment
(``driftline_conflicting_span_ids``); this module finds them across the whole root for
``driftline doctor`` and ``driftline conventions``. "Different" means another name, start or end
time: a retry can differ in nothing else that matters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from driftline.collector import crypto, inventory
from driftline.collector.schema import CONFLICT_COLUMNS
from driftline.collector.sink.parquet import filesystem


@dataclass
class Conflicts:
    count: int = 0  # (trace_id, span_id) pairs held by more than one different span
    examples: list[dict[str, str]] = field(default_factory=list)  # the first few, with the service


def find_conflicts(root: str, examples: int = 5) -> Conflicts:
    fs, base = filesystem(root)
    files = inventory.scan(fs, base, "spans").paths  # the doctor names the unreadable ones
    if not files:
        return Conflicts()
    columns = ["trace_id", "span_id", *CONFLICT_COLUMNS, "service_name"]
    fmt = crypto.parquet_format(crypto.key_for(fs, base))
    table = ds.dataset(files, filesystem=fs, format=fmt).to_table(columns=columns)
    grouped = table.group_by(["trace_id", "span_id"], use_threads=False).aggregate(
        [(c, "count_distinct") for c in CONFLICT_COLUMNS] + [("service_name", "min")]
    )
    different = None
    for c in CONFLICT_COLUMNS:
        more = pc.greater(grouped.column(f"{c}_count_distinct"), 1)
        different = more if different is None else pc.or_(different, more)
    found = grouped.filter(different if different is not None else pa.array([], pa.bool_()))
    rows = found.slice(0, examples).select(["trace_id", "span_id", "service_name_min"]).to_pylist()
    return Conflicts(
        found.num_rows,
        [{"trace_id": r["trace_id"], "span_id": r["span_id"], "service": r["service_name_min"]} for r in rows],
    )
