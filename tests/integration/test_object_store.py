"""An s3:// data root: the receiver writes partitioned Parquet to object storage (moto's S3 server on
loopback), keeps its WAL on local disk, and the collector's commands read the same root."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest
from click.testing import CliRunner
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from driftline.analysis.cli import cli
from driftline.collector.sink.parquet import filesystem
from tests.integration.otlp_payloads import trace_request


@pytest.fixture
def s3_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    boto3.client("s3", endpoint_url=f"http://{host}:{port}").create_bucket(Bucket="traces")
    yield f"s3://traces/driftline?endpoint_override={host}:{port}&scheme=http&region=us-east-1"
    server.stop()


def test_receiver_writes_to_object_storage(receiver_factory, s3_root, tmp_path) -> None:
    app = receiver_factory(data=s3_root, wal_dir=str(tmp_path / "wal"))
    req, ids = trace_request(4)
    r = httpx.post(
        f"http://127.0.0.1:{app.http_port}/v1/traces",
        content=req.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert r.status_code == 200
    crossing = _crossing_request()  # one run across the top of an hour: its runs cross two hours' files
    r = httpx.post(
        f"http://127.0.0.1:{app.http_port}/v1/traces",
        content=crossing.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert r.status_code == 200
    assert app.flush(20)
    fs, base = filesystem(s3_root)
    table = ds.dataset(f"{base}/spans", filesystem=fs, format="parquet", partitioning="hive").to_table()
    assert sorted(table.column("span_id").to_pylist()) == sorted([*ids, "c000000000000001", "c000000000000002"])
    assert list((tmp_path / "wal" / "test").glob("seg-*.wal")) == []
    result = CliRunner().invoke(cli, ["conventions", "--data", s3_root, "--format", "json"])
    assert result.exit_code == 0 and '"spans": 4' in result.output  # of service svc
    assert CliRunner().invoke(cli, ["compact", "--data", s3_root, "--min-age", "0"]).exit_code == 0
    out = CliRunner().invoke(cli, ["sql", "--data", s3_root, "--format", "csv", "SELECT count(*) AS n FROM llm_calls"])
    assert out.exit_code == 0 and out.output.split() == ["n", "5"]
    # runs: derived per hour from the object store into a local cache, equal to the live view
    from driftline.analysis.db import connect

    live = connect(s3_root).execute("SELECT * FROM runs ORDER BY run_id").fetchall()
    cache = tmp_path / "cache"
    cached_con = connect(s3_root, cached_runs=True, cache_dir=cache)
    cached = cached_con.execute("SELECT * FROM runs ORDER BY run_id").fetchall()
    assert live and cached == live and list(cache.glob("runs/date=*/hour=*/*.parquet"))
    # runs derived ahead (what receivers do at the close of an hour) are written to the bucket and
    # read from it: a new reader derives nothing
    rebuilt = CliRunner().invoke(cli, ["runs", "rebuild", "--data", s3_root])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert [i.path for i in fs.get_file_info(pafs.FileSelector(f"{base}/runs", recursive=True)) if i.is_file]
    from driftline.analysis.cost import load_prices
    from driftline.analysis.run_cache import RunCache

    pieces = fs.get_file_info(pafs.FileSelector(f"{base}/runs/_crossing"))
    assert [i.extension for i in pieces].count("parquet") == 1  # the crossing run, derived whole, in the bucket
    con = connect(s3_root)
    reader = RunCache(s3_root, load_prices(), tmp_path / "cache2")
    assert reader.attach(con) and reader.derived == [] and reader.pieces_derived == 0
    assert con.execute("SELECT * FROM runs ORDER BY run_id").fetchall() == live
    assert con.execute("SELECT count(*) FROM runs WHERE trace_id = ?", ["c" * 32]).fetchone()[0] == 1


def _crossing_request() -> ExportTraceServiceRequest:
    from tests.span_rows import add_span

    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "night"}
    chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    add_span(ss, "c" * 32, "c000000000000001", None, "invoke_agent night", agent, 2_799_000, 2_000)
    add_span(ss, "c" * 32, "c000000000000002", "c000000000000001", "chat", chat, 2_800_500, 50)
    return req


def test_object_store_root_needs_a_local_wal_dir(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--data", "s3://bucket/prefix"])
    assert result.exit_code == 2 and "--wal-dir" in result.output
