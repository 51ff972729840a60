"""Shared fixtures: an in-process receiver on loopback with free ports, and a Parquet reader."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from driftline.collector.app import CollectorApp
from driftline.collector.config import CollectorConfig

FIXTURES = Path(__file__).parent / "fixtures"


def read_dataset(root: Path | str, dataset: str = "spans") -> pa.Table:
    path = Path(root) / dataset
    if not path.exists():
        return pa.table({})
    table = ds.dataset(path, format="parquet", partitioning="hive").to_table()
    # ns timestamps do not fit datetime: tests compare them as int64 nanoseconds.
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.int64()))
    return table


def assert_exactly_once(data: Path | str, acked: list[str]) -> None:
    """Every acknowledged span id is stored, and no span id is stored twice."""
    from collections import Counter

    stored = Counter(read_dataset(data).column("span_id").to_pylist())
    missing = [s for s in acked if s not in stored]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged spans lost"
    twice = [s for s, n in stored.items() if n > 1]
    assert not twice, f"{len(twice)} spans stored more than once"


def make_config(tmp_path: Path, **overrides: object) -> CollectorConfig:
    cfg = CollectorConfig(
        data=str(tmp_path / "data"), grpc_port=0, http_port=0, workers=1, flush_interval=0.2, instance_id="test"
    )
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


@pytest.fixture
def receiver_factory(tmp_path: Path) -> Iterator:
    apps: list[CollectorApp] = []

    def start(**overrides: object) -> CollectorApp:
        app = CollectorApp(make_config(tmp_path, **overrides)).start()
        apps.append(app)
        return app

    yield start
    for app in apps:
        if app._started:
            app.stop(grace=0.5)


@pytest.fixture
def receiver(receiver_factory) -> CollectorApp:
    return receiver_factory()


# --- spans made in this process (instrumentation tests) ---------------------------------------------

_SPANS = None


@pytest.fixture
def spans():
    """The global SDK TracerProvider (set once per session) with an in-memory exporter, emptied per test."""
    global _SPANS
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    if _SPANS is None:
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _SPANS = (provider, exporter)
    _SPANS[1].clear()
    return _SPANS


@pytest.fixture
def llm_server():
    from tests.llm_server import LLMServer

    with LLMServer() as server:
        yield server
