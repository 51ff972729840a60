"""Stage 3 entry point: one sealed WAL segment -> canonical rows -> Parquet (runs in a worker process).

Why per segment: a segment is the unit of durability (deleted only when all of it is in Parquet) and
the unit of idempotence (its stem — boot epoch and sequence number — names the output files), so a
worker needs nothing but its path to do the whole job, and a replay after a crash repeats exactly the same writes.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from driftline.collector import crypto, otlp
from driftline.collector.embed import spool
from driftline.collector.normalize.log_normalizer import LogNormalizer
from driftline.collector.normalize.normalizer import NormalizeOptions, SpanNormalizer
from driftline.collector.sink.parquet import ParquetSink
from driftline.collector.wal.log import read_segment

log = logging.getLogger(__name__)
# Span rows held as Python objects before they are turned into Arrow: a 32 MiB segment holds ~70,000
# spans, which as objects took ~250 MiB per worker; in pieces of this size the worker's peak stays
# near its baseline (bench_ingest prints each worker's peak RSS).
SPILL_ROWS = 8192


@dataclass
class SegmentResult:
    stem: str
    written: dict[str, int] = field(default_factory=dict)  # dataset -> rows
    rejected: int = 0
    duplicates: int = 0
    conflicting_ids: int = 0  # spans that reused another span's ids with other content (the first is kept)
    malformed_records: int = 0
    embed_spooled: int = 0  # embeddings-only mode: answers handed to the embedding process
    embed_dropped: int = 0  # ... and answers dropped because its backlog was full (a sparser sample)
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0


def process_segment(path: str, stem: str, root: str, instance_id: str, options: NormalizeOptions) -> SegmentResult:
    """Normalize and write one segment. The cyclic garbage collector is paused meanwhile: a segment
    holds tens of thousands of live row lists (and makes no reference cycles), and repeated full
    collections over them cost a third of the time of a large segment."""
    gc.disable()
    try:
        return _process(path, stem, root, instance_id, options)
    finally:
        gc.enable()


def _process(path: str, stem: str, root: str, instance_id: str, options: NormalizeOptions) -> SegmentResult:
    started = time.monotonic()
    spans, logs = SpanNormalizer(options), LogNormalizer(options)
    result = SegmentResult(stem)
    for code, received_ns, payload in read_segment(Path(path), crypto.load_key()):
        signal = otlp.SIGNAL_BY_CODE.get(code)
        if signal is None:
            result.malformed_records += 1
            continue
        try:
            if signal == "traces":
                spans.add_payload(payload, received_ns)
                if spans.pending >= SPILL_ROWS:
                    spans.spill()
            else:
                logs.add_payload(payload, received_ns)
        except otlp.MalformedRequest:  # validated before the ack, so only a corrupted file gets here
            result.malformed_records += 1
            continue
    sink = ParquetSink(root)
    writes = [("spans", spans.table(), spans.hours, ""), ("logs", logs.table(), logs.hours, "")]
    writes += [("inferences", t, hours, f"-m{slug}") for slug, t, hours in logs.ml.inference_tables()]
    writes.append(("labels", logs.ml.label_table(), logs.ml.label_hours, ""))
    for dataset, table, hours, suffix in writes:
        for path_written, rows in sink.write(dataset, table, hours, f"{instance_id}-{stem}{suffix}"):
            result.files.append(path_written)
            result.written[dataset] = result.written.get(dataset, 0) + rows
    if options.embed_rate > 0:  # after the Parquet files: a crash before this replays the segment
        result.embed_spooled, result.embed_dropped = spool.write(spool.directory(path), stem, spans.answers)
    result.rejected = spans.rejected + logs.rejected
    result.duplicates = spans.duplicates
    result.conflicting_ids = len(spans.conflicts)
    for trace_id, span_id in spans.conflicts[:10]:
        log.warning(
            "span %s of trace %s was sent twice with different content; the first is kept "
            "(ids repeat when an app seeds Python's global random: see the README, 'Span ids that repeat')",
            span_id,
            trace_id,
        )
    result.seconds = time.monotonic() - started
    return result
