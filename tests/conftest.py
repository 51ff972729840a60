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
