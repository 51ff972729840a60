"""ML ingest benchmark: inference events over OTLP logs -> ``driftline serve`` -> Parquet, and the label join.

Same method as ``bench_ingest.py``: concurrent clients send realistic, pre-serialized requests (512
``driftline.ml.inference`` events each, 20 features: 12 numbers, 5 strings, 3 booleans, plus two
segment keys, a prediction with probabilities and a latency; the body as JSON text as the SDK sends
it, or ``--structured`` as a protobuf map), each request with fresh request ids patched into the
bytes. Prints acknowledged and durable events/s, Export latency, bytes per event on disk (low: the
feature values repeat across requests, so it is a floor, not a typical figure); then writes 10M
inferences and 5M labels (re-labels included) as Parquet and times the
``inferences_labeled`` join over them through the analysis views. The receiver reads with the compiled
reader (``collector/native``) unless ``--python`` asks for the Python one.

    python tests/benchmarks/bench_ml_ingest.py --duration 15 --clients 8
    python tests/benchmarks/bench_ml_ingest.py --skip-join --python      # the Python reader, for comparison
    python tests/benchmarks/bench_ml_ingest.py --join-rows 10000000 --skip-ingest
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parents[2]))

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from tests.benchmarks.bench_ingest import _client, _cpu_seconds, _hwm_kib
from tests.integration.otlp_payloads import kv
from tests.receiver_process import ReceiverProcess, child_pids

EVENTS_PER_REQUEST = 512
LOGS_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
HOUR_NS = 3_600_000_000_000


def _map(pairs: dict[str, object]) -> object:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValueList

    return AnyValue(kvlist_value=KeyValueList(values=[kv(k, v) for k, v in pairs.items()]))


def build_template(seed: int = 1, structured: bool = False) -> tuple[bytes, np.ndarray]:
    """One request of inference events and the byte offsets of its request ids (patched per request)."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList

    from driftline.instrumentation.ml.convention import encode_body

    rng = np.random.default_rng(seed)
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend([kv("service.name", "fraud-scorer"), kv("deployment.environment.name", "bench")])
    sl = rl.scope_logs.add()
    sl.scope.name = "driftline.ml"
    now = time.time_ns()
    request_ids = []
    countries = ["FR", "DE", "US", "GB", "ES"]
    for i in range(EVENTS_PER_REQUEST):
        rec = sl.log_records.add()
        rec.time_unix_nano = now + i * 1000
        rec.observed_time_unix_nano = rec.time_unix_nano
        rec.severity_number = 9
        rec.event_name = "driftline.ml.inference"
        rid = f"{i:08x}{rng.bytes(12).hex()}"
        request_ids.append(rid)
        score = float(rng.random())
        rec.attributes.extend(
            [
                kv("driftline.ml.model", "fraud"),
                kv("driftline.ml.model.version", "v2"),
                kv("driftline.ml.request_id", rid),
                kv("driftline.ml.prediction", score > 0.5),
                kv("driftline.ml.latency_ms", float(rng.gamma(2.0, 2.0))),
            ]
        )
        features = {f"num_{k}": float(rng.normal(100, 30)) for k in range(12)}
        features |= {f"cat_{k}": str(rng.choice(countries)) for k in range(5)}
        features |= {f"flag_{k}": bool(rng.random() < 0.3) for k in range(3)}
        body = {
            "features": features,
            "segment": {"country": str(rng.choice(countries)), "channel": "web"},
            "probabilities": {"fraud": score, "ok": 1 - score},
        }
        if structured:  # the body as a protobuf map (another SDK, a Collector transform)
            parts = [KeyValue(key=k, value=_map(v)) for k, v in body.items()]
            rec.body.CopyFrom(AnyValue(kvlist_value=KeyValueList(values=parts)))
        else:  # as driftline.instrumentation.ml sends it: JSON text
            rec.body.string_value = encode_body(body)
    data = req.SerializeToString()
    offsets = [data.find(rid.encode()) for rid in request_ids]
    assert all(o >= 0 for o in offsets)
    return data, np.asarray(offsets, dtype=np.int64)


class Patcher:
    """Fresh request ids per request: the first 8 hex digits of each id become a request counter."""

    def __init__(self, template: bytes, offsets: np.ndarray) -> None:
        self.template = np.frombuffer(template, dtype=np.uint8)
        self.positions = offsets[:, None] + np.arange(8)
        self.counter = 0
        self.lock = threading.Lock()

    def next(self) -> bytes:
        with self.lock:
            self.counter += 1
            n = self.counter
        buf = self.template.copy()
        buf[self.positions] = np.frombuffer(f"{n & 0xFFFFFFFF:08x}".encode(), dtype=np.uint8)
        return buf.tobytes()


def _written(http_port: int) -> float:
    import httpx

    text = httpx.get(f"http://127.0.0.1:{http_port}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith('driftline_written_items_total{dataset="inferences"}'):
            return float(line.split()[-1])
    return 0.0


def ingest(duration: float, clients: int, workers: int | None, structured: bool = False, python: bool = False) -> None:
    template, offsets = build_template(structured=structured)
    patcher = Patcher(template, offsets)
    with tempfile.TemporaryDirectory(prefix="driftline-bench-ml-") as tmp:
        data = Path(tmp) / "data"
        extra = ["--workers", str(workers)] if workers else []
        env = {"DRIFTLINE_NATIVE": "0" if python else "1"}
        rx = ReceiverProcess(data, *extra, instance_id="bench", env=env).start()
        reader = next((ln.split("OTLP readers: ")[1].strip() for ln in rx.lines if "OTLP readers: " in ln), "?")
        try:
            stop = threading.Event()
            latencies: list[float] = []
            acked: list[int] = []
            peak = 0
            threads = [
                threading.Thread(
                    target=_client,
                    args=(rx.grpc_port, patcher, stop, latencies, acked, LOGS_METHOD, EVENTS_PER_REQUEST),
                    daemon=True,
                )
                for _ in range(clients)
            ]
            started = time.perf_counter()
            for t in threads:
                t.start()
            while time.perf_counter() - started < duration:
                time.sleep(0.25)
                peak = max(peak, _hwm_kib(rx.pid) + sum(_hwm_kib(c) for c in child_pids(rx.pid)))
            stop.set()
            for t in threads:
                t.join(60)
            send_seconds = time.perf_counter() - started
            total = sum(acked)
            while _written(rx.http_port) < total and time.perf_counter() - started < duration + 300:
                time.sleep(0.1)
            durable_seconds = time.perf_counter() - started
            written = _written(rx.http_port)
            main_cpu = _cpu_seconds(rx.pid)
            worker_cpu = sum(_cpu_seconds(c) for c in child_pids(rx.pid))
        finally:
            rx.terminate()
        files = list((data / "inferences").rglob("*.parquet"))
        rows = ds.dataset(data / "inferences", format="parquet", partitioning="hive").count_rows()
        disk = sum(f.stat().st_size for f in files)
    lat = np.asarray(latencies) * 1000
    print(
        f"driftline ML ingest benchmark: {clients} gRPC clients, {duration:.0f}s, {EVENTS_PER_REQUEST}-event "
        f"requests of 20 features, {'map' if structured else 'JSON'} bodies ({len(template)} bytes), "
        f"{os.cpu_count()} cores"
    )
    print(f"  reader                      {reader}")
    print(f"  acknowledged events/s       {total / send_seconds:12,.0f}   ({total:,} events)")
    print(
        f"  durable in Parquet events/s {written / durable_seconds:12,.0f}   (all {written:,.0f} written "
        f"{durable_seconds - send_seconds:.1f}s after sending stopped)"
    )
    print(f"  Export latency ms           p50 {np.percentile(lat, 50):.1f}   p99 {np.percentile(lat, 99):.1f}")
    print(f"  receiver peak RSS           {peak / 1024:,.0f} MiB with workers")
    print(f"  CPU seconds                 receiver {main_cpu:.1f} (ack path), normalizer workers {worker_cpu:.1f}")
    print(f"  on disk                     {disk / max(rows, 1):.1f} bytes/event in {len(files)} files ({rows:,} rows)")
    if rows != total:
        print(f"  WARNING: {rows} rows on disk for {total} acknowledged events")


def write_join_set(root: Path, inferences: int, labels: int, files: int = 20, seed: int = 3) -> None:
    """``inferences`` rows of one model (two versions, 3 features) over 24 hours and ``labels`` labels,
    a tenth of them re-labels of an already labelled request id, written in the receiver's layout."""
    from driftline.collector.schema import INFERENCE_SCHEMA, LABEL_SCHEMA, partition_name

    rng = np.random.default_rng(seed)
    start = (time.time_ns() // HOUR_NS - 48) * HOUR_NS
    per = inferences // files
    for f in range(files):
        n = per
        ids = np.arange(f * per, f * per + n)
        t = start + np.sort(rng.integers(0, 24 * HOUR_NS, n))
        hour = int(t[0] // HOUR_NS)
        cols = {
            "time": pa.array(t, pa.timestamp("ns", tz="UTC")),
            "model": pa.array(np.full(n, "fraud")),
            "model_version": pa.array(np.where(ids % 2 == 0, "v1", "v2")),
            "request_id": pa.array(np.char.add("r", ids.astype(str))),
            "prediction": pa.array(rng.random(n)),
            "latency_ms": pa.array(rng.gamma(2.0, 2.0, n)),
            "received_at": pa.array(t, pa.timestamp("ns", tz="UTC")),
        }
        arrays = [cols.get(fl.name, pa.nulls(n, fl.type)) for fl in INFERENCE_SCHEMA]
        names = list(INFERENCE_SCHEMA.names)
        arrays += [
            pa.array(rng.normal(100, 30, n)),
            pa.array(rng.choice(["FR", "DE", "US"], n)),
            pa.array(rng.random(n) < 0.3),
        ]
        names += ["feature.amount", "feature.country", "feature.new_device"]
        d = root / "inferences" / partition_name(hour)
        d.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_arrays(arrays, names=names), d / f"bench-{f}.parquet", compression="zstd")
    first = int(labels * 0.9)
    ids = rng.choice(inferences, size=first, replace=False)
    ids = np.concatenate([ids, rng.choice(ids, size=labels - first, replace=False)])  # re-labels
    per = labels // files
    for f in range(files):
        chunk = ids[f * per : (f + 1) * per]
        n = len(chunk)
        t = start + 24 * HOUR_NS + rng.integers(0, 24 * HOUR_NS, n)
        cols = {
            "time": pa.array(t, pa.timestamp("ns", tz="UTC")),
            "request_id": pa.array(np.char.add("r", chunk.astype(str))),
            "label": pa.array((rng.random(n) < 0.1).astype(float)),
            "received_at": pa.array(t, pa.timestamp("ns", tz="UTC")),
        }
        arrays = [cols.get(fl.name, pa.nulls(n, fl.type)) for fl in LABEL_SCHEMA]
        d = root / "labels" / partition_name(int(t.min() // HOUR_NS))
        d.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_arrays(arrays, schema=LABEL_SCHEMA), d / f"bench-{f}.parquet", compression="zstd")


def join(inferences: int, labels: int) -> None:
    from driftline.analysis.db import connect_ml

    with tempfile.TemporaryDirectory(prefix="driftline-bench-join-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        write_join_set(root, inferences, labels)
        written = time.perf_counter() - t0
        con = connect_ml(str(root))
        t0 = time.perf_counter()
        rows = con.execute(
            "SELECT model_version, count(*), count(label), avg(label), median(label_delay_s) "
            "FROM inferences_labeled GROUP BY 1 ORDER BY 1"
        ).fetchall()
        seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        daily = con.execute("SELECT count(*) FROM ml_daily").fetchone()[0]
        daily_seconds = time.perf_counter() - t0
    total = sum(r[1] for r in rows)
    labelled = sum(r[2] for r in rows)
    print(
        f"driftline label join benchmark: {inferences:,} inferences, {labels:,} label events ({written:.0f}s to write)"
    )
    print(
        f"  inferences_labeled          {seconds:8.1f} s   ({total:,} rows, {labelled:,} labelled, latest label each)"
    )
    print(f"  ml_daily                    {daily_seconds:8.1f} s   ({daily} model/version/day rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of sending")
    parser.add_argument("--clients", type=int, default=8, help="concurrent gRPC clients")
    parser.add_argument("--workers", type=int, default=None, help="receiver normalizer processes")
    parser.add_argument("--join-rows", type=int, default=10_000_000, help="inferences in the join benchmark")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--structured", action="store_true", help="bodies as protobuf maps, not JSON text")
    parser.add_argument("--skip-join", action="store_true")
    parser.add_argument("--python", action="store_true", help="the Python reader (DRIFTLINE_NATIVE=0), for comparison")
    args = parser.parse_args()
    if not args.skip_ingest:
        ingest(args.duration, args.clients, args.workers, args.structured, args.python)
    if not args.skip_join:
        join(args.join_rows, args.join_rows // 2)


if __name__ == "__main__":
    main()
