"""Receiver configuration: every default in one place, and ``validate()`` for impossible combinations.

Why a dataclass apart from the CLI: tests and embedders build a receiver without click, and the CLI,
env vars (``DRIFTLINE_*``) and defaults all land in this one typed object.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_DATA = "./driftline-data"
MiB = 1024 * 1024


def default_instance_id() -> str:
    """Stable across restarts on one host (the WAL directory is found by it)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()) or "receiver"


@dataclass
class CollectorConfig:
    data: str = DEFAULT_DATA
    host: str = "127.0.0.1"
    grpc_port: int = 4317
    http_port: int = 4318
    grpc: bool = True
    http: bool = True
    instance_id: str = field(default_factory=default_instance_id)
    wal_dir: str | None = None
    auth_token: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    store_content: bool = False
    scrub_pii: bool = True
    agent_version_key: str | None = None
    # embeddings-only mode: this share of answers is embedded behind the WAL; the vector is kept, the
    # text never (unless store_content); embed_model/embed_tokenizer: another ONNX model than MiniLM
    embed_rate: float = 0.0
    embed_model: str | None = None
    embed_tokenizer: str | None = None
    # limits
    max_request_bytes: int = 64 * MiB  # one request body, after decompression
    max_wal_bytes: int = 1024 * MiB  # acknowledged bytes not yet in Parquet; past it: RESOURCE_EXHAUSTED / 429
    max_inflight_bytes: int = 256 * MiB  # request bodies being decoded at once (bounds memory)
    max_value_chars: int = 8192  # longer attribute values are truncated and marked
    segment_bytes: int = 32 * MiB
    flush_interval: float = 1.0  # seconds a WAL segment stays open before it goes to Parquet
    workers: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))
    grpc_threads: int = 16
    http_threads: int = 16  # HTTP requests decoded and appended to the WAL at once
    http_header_timeout: float = 10.0  # seconds to send the request line and headers
    http_body_timeout: float = 60.0  # seconds to send the whole body
    fsync: bool = True

    @property
    def wal_path(self) -> Path:
        if self.wal_dir:
            return Path(self.wal_dir) / self.instance_id
        if "://" in self.data:
            raise ValueError("an object-store --data needs a local --wal-dir for the write-ahead log")
        return Path(self.data) / "wal" / self.instance_id

    def validate(self) -> None:
        """Reject what cannot work, in one sentence each."""
        if not self.grpc and not self.http:
            raise ValueError("--no-grpc and --no-http together leave nothing to listen on")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")
        for name in ("tls_cert", "tls_key"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise ValueError(f"--{name.replace('_', '-')} {path}: no such file")
        for name in ("grpc_port", "http_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ValueError(f"--{name.replace('_', '-')} must be between 0 and 65535")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.instance_id):
            raise ValueError("--instance-id may contain only letters, digits, '.', '_' and '-'")
        if self.max_request_bytes <= 0 or self.max_wal_bytes < self.max_request_bytes:
            raise ValueError("--max-wal-bytes must be at least --max-request-bytes, and both positive")
        if self.http_header_timeout <= 0 or self.http_body_timeout <= 0:
            raise ValueError("--header-timeout and --body-timeout must be positive")
        if self.flush_interval <= 0 or self.workers < 1:
            raise ValueError("--flush-interval must be positive and --workers at least 1")
        self.wal_path  # noqa: B018 - raises for an object store without --wal-dir
        if not 0 <= self.embed_rate <= 1:
            raise ValueError("--embed-outputs must be a share between 0 and 1 (e.g. 0.1 for 10% of answers)")
        if self.embed_rate > 0:
            if "://" in self.data:
                raise ValueError("--embed-outputs writes vectors next to the data: it needs a local --data directory")
            if bool(self.embed_model) != bool(self.embed_tokenizer):
                raise ValueError("--embed-model and --embed-tokenizer go together")
            from driftline.collector.embed.model import SemanticUnavailable, check

            try:
                check(self.embedder_config)
            except SemanticUnavailable as exc:
                raise ValueError(f"--embed-outputs: {exc}") from exc

    @property
    def embedder_config(self) -> Any:
        from driftline.collector.embed.model import EmbedderConfig

        return EmbedderConfig(model=self.embed_model, tokenizer=self.embed_tokenizer)
