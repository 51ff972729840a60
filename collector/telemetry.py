"""The receiver's own metrics, served at ``/metrics`` in Prometheus text format.

Why one module: counters are bumped at the operation boundaries only (start/end of an Export, end of
a segment's write), the way the OTel Collector's obsreport does, so every number on the dashboard
has exactly one place that moves it. Each app gets its own registry, so tests can run several.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Telemetry"]


class Telemetry:
    def __init__(
        self,
        queue_depth: Callable[[], float],
        wal_bytes: Callable[[], float],
        inflight_bytes: Callable[[], float] = lambda: 0.0,
        embedded: Callable[[], float] = lambda: 0.0,
        embed_backlog_bytes: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "driftline_received_items", "Spans or log records received, by signal", ["signal"], registry=r
        )
        self.accepted = Counter(
            "driftline_accepted_items", "Items acknowledged (durable in the WAL), by signal", ["signal"], registry=r
        )
        self.written = Counter(
            "driftline_written_items", "Rows written to Parquet, by dataset", ["dataset"], registry=r
        )
        self.rejected = Counter(
            "driftline_rejected_items", "Items refused, by signal and reason", ["signal", "reason"], registry=r
        )
        self.requests = Counter(
            "driftline_export_requests",
            "Export requests, by protocol and outcome",
            ["protocol", "signal", "outcome"],
            registry=r,
        )
        self.export_latency = Histogram(
            "driftline_export_seconds",
            "Export latency up to the acknowledgement",
            ["protocol"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
        )
        self.flush_latency = Histogram(
            "driftline_flush_seconds",
            "Time to turn one WAL segment into Parquet",
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.segment_failures = Counter(
            "driftline_segment_failures", "Segments that failed to reach Parquet", registry=r
        )
        self.quarantined = Counter(
            "driftline_quarantined_segments",
            "WAL segments moved to quarantine after repeated failures (driftline doctor lists them)",
            registry=r,
        )
        self.pool_restarts = Counter(
            "driftline_worker_pool_restarts", "Normalizer pools replaced after a worker died", registry=r
        )
        self.conflicting_span_ids = Counter(
            "driftline_conflicting_span_ids",
            "Spans that reused another span's trace and span id with other content "
            "(both stored; readers analyse the first)",
            registry=r,
        )
        self.embed_spooled = Counter(
            "driftline_embed_spooled_items",
            "Answers handed to the embedding process (embeddings-only mode)",
            registry=r,
        )
        self.embed_dropped = Counter(
            "driftline_embed_dropped_items",
            "Sampled answers dropped because the embedding backlog was full (the sample got sparser)",
            registry=r,
        )
        self.runs_derived = Counter(
            "driftline_runs_derived_hours",
            "Hours whose runs this receiver derived from its own spans when it closed them",
            registry=r,
        )
        self.runs_derive_failures = Counter(
            "driftline_runs_derive_failures", "Derivations of an hour's runs that failed (retried)", registry=r
        )
        self.runs_derive_seconds = Counter(
            "driftline_runs_derive_seconds", "Seconds spent deriving runs at the close of hours", registry=r
        )
        e = Gauge("driftline_embedded_items", "Answers embedded since the receiver started", registry=r)
        e.set_function(embedded)
        b = Gauge("driftline_embed_backlog_bytes", "Spooled answers waiting to be embedded", registry=r)
        b.set_function(embed_backlog_bytes)
        i = Gauge("driftline_inflight_request_bytes", "Request bytes being received or decoded now", registry=r)
        i.set_function(inflight_bytes)
        g = Gauge("driftline_queue_depth", "Sealed WAL segments waiting for the normalizer", registry=r)
        g.set_function(queue_depth)
        w = Gauge("driftline_wal_bytes", "Bytes in the WAL not yet in Parquet", registry=r)
        w.set_function(wal_bytes)

    def render(self) -> bytes:
        return generate_latest(self.registry)
