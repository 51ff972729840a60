"""Builds stages 1-4, starts them in order and stops them in reverse (what ``driftline serve`` runs).

Why this order: the WAL and the workers exist before any listener accepts, so the first Export can
be made durable; segments a previous run left are queued before new ones. On stop the listeners go
first (no new acks), then the WAL seals its open segment and the workers drain everything to Parquet.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from driftline.collector import crypto, native
from driftline.collector.config import CollectorConfig
from driftline.collector.embed.process import EmbeddingProcess
from driftline.collector.normalize.normalizer import NormalizeOptions
from driftline.collector.pipeline import SegmentPipeline
from driftline.collector.receiver.budget import Budget
from driftline.collector.receiver.export import Exporter
from driftline.collector.receiver.grpc import GrpcReceiver
from driftline.collector.receiver.http import HttpReceiver
from driftline.collector.run_hours import Deriver, HourCloser
from driftline.collector.schema import filesystem
from driftline.collector.telemetry import Telemetry
from driftline.collector.wal.log import WriteAheadLog

log = logging.getLogger("driftline.collector")


class CollectorApp:
    def __init__(self, config: CollectorConfig) -> None:
        config.validate()
        self.config = config
        self.pipeline: SegmentPipeline | None = None
        self.fatal: str | None = None  # why the receiver had to stop (an fsync failed)
        self.failed = threading.Event()
        self.budget = Budget(config.max_inflight_bytes)
        self.key = crypto.load_key()  # encryption at rest: the WAL's records and the root's files
        self.wal = WriteAheadLog(
            config.wal_path,
            key=self.key,
            segment_bytes=config.segment_bytes,
            max_pending_bytes=config.max_wal_bytes,
            seal_after=config.flush_interval,
            on_sealed=lambda seg: self.pipeline.submit(seg) if self.pipeline else None,
            fsync=config.fsync,
            on_fatal=self._on_fatal,
        )
        self.embedder = EmbeddingProcess(config) if config.embed_rate > 0 else None
        self.telemetry = Telemetry(
            queue_depth=lambda: self.pipeline.depth if self.pipeline else 0,
            wal_bytes=lambda: self.wal.pending_bytes,
            inflight_bytes=lambda: self.budget.used,
            embedded=lambda: self.embedder.embedded if self.embedder else 0,
            embed_backlog_bytes=lambda: self.embedder.backlog_bytes if self.embedder else 0,
        )
        self.pipeline = SegmentPipeline(
            wal=self.wal,
            root=config.data,
            instance_id=config.instance_id,
            telemetry=self.telemetry,
            workers=config.workers,
            options=NormalizeOptions(
                store_content=config.store_content,
                scrub_pii=config.scrub_pii,
                max_value_chars=config.max_value_chars,
                agent_version_key=config.agent_version_key,
                embed_rate=config.embed_rate,
            ),
        )
        self.exporter = Exporter(self.wal, self.telemetry, config.auth_token, self.budget)
        self.grpc = GrpcReceiver(config, self.exporter) if config.grpc else None
        self.http = HttpReceiver(config, self.exporter, self.telemetry, self.health) if config.http else None
        self.grpc_port: int | None = None
        self.http_port: int | None = None
        self.hours: HourCloser | None = None  # derives each hour's runs (derive_runs)
        self._started = False
        self._stopped = False

    def start(self) -> CollectorApp:
        assert self.pipeline is not None
        if self.key is not None and self.embedder is not None:
            raise ValueError("--embed-outputs keeps answer texts in a spool: not with encryption at rest")
        crypto.writer_key(*filesystem(self.config.data))  # the root's key is this one (or none): else refuse
        self.pipeline.start()
        if self.embedder is not None:
            self.embedder.start()
        leftovers = self.wal.open()
        if leftovers:
            log.info("replaying %d WAL segment(s) left by the previous run", len(leftovers))
        for segment in leftovers:
            self.pipeline.submit(segment)
        try:
            if self.grpc:
                self.grpc_port = self.grpc.start()
            if self.http:
                self.http_port = self.http.start()
        except BaseException:
            self.stop()
            raise
        self._started = True
        scheme = "https" if self.config.tls_cert else "http"
        parts = []
        if self.grpc_port:
            parts.append(f"OTLP/gRPC on {self.config.host}:{self.grpc_port}")
        if self.http_port:
            parts.append(f"OTLP/HTTP on {scheme}://{self.config.host}:{self.http_port}")
        log.info("OTLP readers: %s", native.status())
        log.info(
            "driftline receiver %s ready: %s; data in %s", self.config.instance_id, ", ".join(parts), self.config.data
        )
        return self

    def derive_runs(self, derive: Deriver, grace_s: float = 300.0) -> Callable[[], None]:
        """Derive each hour's runs from this receiver's own span files once the hour is over (see
        ``run_hours.py``); ``derive`` is the derivation (``driftline serve`` hands in the analysis's).
        Returns what stops it. Not on an encrypted root: derived runs would be written in the clear."""
        if self.key is not None:
            log.info("runs are not derived at ingest on an encrypted root: readers derive them")
            return lambda: None
        t = self.telemetry
        self.hours = HourCloser(
            self.config.data,
            self.config.instance_id,
            derive,
            grace_s=grace_s,
            interval_s=min(5.0, max(0.5, grace_s / 10)),  # a short grace is for tests and benchmarks
            on_derived=lambda s: (t.runs_derived.inc(), t.runs_derive_seconds.inc(s)),
            on_failed=t.runs_derive_failures.inc,
        ).start()
        assert self.pipeline is not None
        self.pipeline.on_written = self.hours.wrote
        log.info("deriving runs at the close of each hour (grace %.0f s)", grace_s)
        return self.hours.stop

    def flush(self, timeout: float = 30.0) -> bool:
        """Seal the open segment and wait until everything acknowledged is in Parquet."""
        assert self.pipeline is not None
        self.wal.seal_now()
        deadline = time.monotonic() + timeout
        while self.wal.pending_bytes > 0 and time.monotonic() < deadline:
            self.pipeline.drain(max(0.0, deadline - time.monotonic()))
            time.sleep(0.02)
            self.wal.seal_now()
        return self.wal.pending_bytes == 0

    def embed_flush(self, timeout: float = 60.0) -> bool:
        """Wait until every spooled answer is embedded (embeddings-only mode; True without it)."""
        return self.embedder.drain(timeout) if self.embedder else True

    def stop(self, grace: float = 5.0) -> None:
        """Stop listening, then write everything acknowledged to Parquet (SIGTERM lands here)."""
        if self._stopped:
            return
        self._stopped = True
        if self.http and self.http_port:
            self.http.stop()
        if self.grpc:
            self.grpc.stop(grace)
        self.wal.close()
        if self.pipeline is not None:
            self.pipeline.close(timeout=120)
        if self.hours is not None:
            self.hours.stop()
        if self.embedder is not None:  # what it has not embedded stays spooled for the next start
            self.embedder.stop()
        log.info("driftline receiver %s stopped", self.config.instance_id)

    def _on_fatal(self, message: str) -> None:
        """The WAL cannot promise durability any more: whoever runs the app stops it (``serve`` exits 1)."""
        self.fatal = message
        self.failed.set()

    def health(self) -> dict[str, Any]:
        return {
            "status": "failed" if self.fatal else "ok" if self._started else "starting",
            "instance_id": self.config.instance_id,
            "wal_bytes": self.wal.pending_bytes,
            "queue_depth": self.pipeline.depth if self.pipeline else 0,
            "grpc_port": self.grpc_port,
            "http_port": self.http_port,
        }

    def __enter__(self) -> CollectorApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
