"""Ingest benchmark: concurrent OTLP clients (gRPC or HTTP) -> ``driftline serve`` (a separate process) -> Parquet.

Prints acknowledged spans/s, spans/s durably in Parquet (end to end), p50/p99 Export latency, the
receiver's peak RSS (main process and with its workers) and bytes per span on disk.

Requests are realistic and pre-serialized: 512 spans each, as 64 agent traces of 8 spans
(invoke_agent -> 4 chat + 3 execute_tool), ~12 GenAI attributes per span. Each request gets fresh
trace ids by patching the serialized bytes in place (one vectorized write), so no span is a duplicate
and the client spends its time sending, not serializing.

    python tests/benchmarks/bench_ingest.py --duration 15 --clients 8
    python tests/benchmarks/bench_ingest.py --protocol http    # OTLP/HTTP protobuf, keep-alive connections
    python tests/benchmarks/bench_ingest.py --answers                       # chat spans carry their answer text
    python tests/benchmarks/bench_ingest.py --answers --embed-outputs 0.1   # embeddings-only mode, 10% sampled

With ``--answers`` every chat span carries a unique answer (``gen_ai.output.messages``); with
``--embed-outputs RATE`` the receiver runs in embeddings-only mode, and the benchmark also prints how
many answers were spooled, embedded and dropped, and the spool left when the spans were all durable
— the embedding step must cost the ack path and the normalizers nothing (compare with ``--answers``).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import httpx
import numpy as np
import pyarrow.dataset as ds

sys.path.insert(0, str(Path(__file__).parents[2]))


from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.integration.otlp_payloads import TRACE_METHOD, kv
from tests.receiver_process import ReceiverProcess, child_pids

SPANS_PER_REQUEST = 512
TRACE_LEN = 8


def _hex_id(rng: np.random.Generator) -> str:
    return rng.bytes(8).hex()


def build_template(
    seed: int = 1, answers: bool = False, start_ns: int | None = None
) -> tuple[bytes, dict[str, np.ndarray]]:
    """One request and, per kind of varying value, the byte offsets where each request patches it."""
    rng = np.random.default_rng(seed)
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(
        [kv("service.name", "support-agent"), kv("service.version", "v2.1"), kv("deployment.environment.name", "bench")]
    )
    ss = rs.scope_spans.add()
    ss.scope.name = "driftline.bench"
    now = time.time_ns() if start_ns is None else start_ns
    trace_ids, span_ids, text_ids = [], [], []
    for t in range(SPANS_PER_REQUEST // TRACE_LEN):
        tid = rng.bytes(16)
        trace_ids.append(tid)
        root_id = rng.bytes(8)
        conversation = _hex_id(rng)
        text_ids.append(conversation)
        for i in range(TRACE_LEN):
            span = ss.spans.add()
            span.trace_id = tid
            span.span_id = root_id if i == 0 else rng.bytes(8)
            span_ids.append(span.span_id)
            if i:
                span.parent_span_id = root_id
            span.start_time_unix_nano = now + t * 1000 + i * 10
            span.end_time_unix_nano = span.start_time_unix_nano + 250_000_000
            span.kind = 3 if i else 1
            if i == 0:
                span.name = "invoke_agent support"
                span.attributes.extend(
                    [
                        kv("gen_ai.operation.name", "invoke_agent"),
                        kv("gen_ai.agent.name", "support"),
                        kv("gen_ai.agent.id", "agent-1"),
                        kv("gen_ai.conversation.id", conversation),
                        kv("driftline.outcome", "resolved"),
                        kv("gen_ai.provider.name", "openai"),
                        kv("gen_ai.request.model", "gpt-4o"),
                        kv("user.id", f"user-{t % 17}"),
                        kv("tenant", "acme"),
                        kv("route", "/support"),
                        kv("gen_ai.usage.input_tokens", 4000),
                        kv("gen_ai.usage.output_tokens", 600),
                    ]
                )
            elif i % 2 == 1:
                response = _hex_id(rng)
                text_ids.append(response)
                span.name = "chat gpt-4o"
                span.attributes.extend(
                    [
                        kv("gen_ai.operation.name", "chat"),
                        kv("gen_ai.provider.name", "openai"),
                        kv("gen_ai.request.model", "gpt-4o"),
                        kv("gen_ai.response.model", "gpt-4o-2024-08-06"),
                        kv("gen_ai.request.temperature", 0.2),
                        kv("gen_ai.request.max_tokens", 1024),
                        kv("gen_ai.usage.input_tokens", 900 + i),
                        kv("gen_ai.usage.output_tokens", 200 + i),
                        kv("gen_ai.usage.cache_read.input_tokens", 512),
                        kv("gen_ai.response.id", f"chatcmpl-{response}"),
                        kv("server.address", "api.openai.com"),
                        kv("gen_ai.response.finish_reasons", "tool_calls"),
                    ]
                )
                if answers:  # the response id makes each request's answers unique (patched like the id)
                    text = f"Your order {response} ships on Monday by express; the tracking link is in your email."
                    message = [{"role": "assistant", "parts": [{"type": "text", "content": text}]}]
                    span.attributes.append(kv("gen_ai.output.messages", json.dumps(message)))
            else:
                call = _hex_id(rng)
                text_ids.append(call)
                span.name = "execute_tool search_kb"
                span.attributes.extend(
                    [
                        kv("gen_ai.operation.name", "execute_tool"),
                        kv("gen_ai.tool.name", "search_kb"),
                        kv("gen_ai.tool.call.id", f"call_{call}"),
                        kv("gen_ai.tool.type", "function"),
                        kv("gen_ai.tool.call.arguments", f'{{"query": "order {call}", "k": 5}}'),
                        kv("gen_ai.agent.name", "support"),
                        kv("tenant", "acme"),
                        kv("retry", 0),
                        kv("kb.index", "policies-v3"),
                        kv("kb.hits", 5),
                        kv("latency_budget_ms", 500),
                        kv("cache.hit", False),
                    ]
                )
    data = req.SerializeToString()

    def find_all(needle: bytes, shift: int = 0) -> list[int]:
        out, start = [], 0
        while (pos := data.find(needle, start)) != -1:
            out.append(pos + shift)
            start = pos + len(needle)
        return out

    offsets = {
        "trace": [p for tid in trace_ids for p in find_all(tid)],
        "span": [p for sid in dict.fromkeys(span_ids) for p in find_all(sid)],
        "text": [p for tid in text_ids for p in find_all(tid.encode())],
    }
    for key in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"):  # 2-byte varint values
        prefix = kv(key, 900).SerializeToString()[:-2]
        offsets.setdefault("varint", []).extend(find_all(prefix, len(prefix)))
    assert len(offsets["trace"]) == SPANS_PER_REQUEST and len(offsets["span"]) >= SPANS_PER_REQUEST
    return data, {k: np.asarray(v, dtype=np.int64) for k, v in offsets.items()}


class Patcher:
    """Every request gets fresh values where real traffic varies: trace and span ids (the first bytes
    become a request counter, parent links stay consistent), response / tool-call / conversation ids,
    and token counts (random 2-byte varints). Everything else repeats, as model names and keys do."""

    def __init__(self, template: bytes, offsets: dict[str, np.ndarray]) -> None:
        self.template = np.frombuffer(template, dtype=np.uint8)
        self.trace = offsets["trace"][:, None] + np.arange(8)
        self.span = offsets["span"][:, None] + np.arange(4)
        self.text = offsets["text"][:, None] + np.arange(8)
        self.varint = offsets["varint"]
        self.rng = np.random.default_rng(7)
        self.counter = 0
        self.lock = threading.Lock()

    def next(self) -> bytes:
        with self.lock:
            self.counter += 1
            n = self.counter
            tokens = self.rng.integers(128, 16384, size=len(self.varint))
        buf = self.template.copy()
        buf[self.trace] = np.frombuffer(n.to_bytes(8, "big"), dtype=np.uint8)
        buf[self.span] = np.frombuffer((n & 0xFFFFFFFF).to_bytes(4, "big"), dtype=np.uint8)
        buf[self.text] = np.frombuffer(f"{n & 0xFFFFFFFF:08x}".encode(), dtype=np.uint8)
        buf[self.varint] = (tokens & 0x7F) | 0x80
        buf[self.varint + 1] = tokens >> 7
        return buf.tobytes()


class RotatingHours:
    """Requests whose spans move to the next (past) hour every ``every`` seconds: each hour is over
    and quiet ``every`` seconds after traffic left it, so a receiver with ``--runs-grace`` below that
    derives its runs while ingest goes on — an hour's derivation every few seconds, not every hour,
    so its cost to ingest shows."""

    def __init__(self, patchers: list[Patcher], every: float) -> None:
        self.patchers, self.every, self.started = patchers, every, time.perf_counter()
        for k, p in enumerate(patchers):
            p.counter = k * 1_000_000_000  # trace ids never repeat across hours

    def next(self) -> bytes:
        k = min(int((time.perf_counter() - self.started) / self.every), len(self.patchers) - 1)
        return self.patchers[k].next()


def _client(
    port: int,
    patcher: Patcher,
    stop: threading.Event,
    latencies: list[float],
    acked: list[int],
    method: str = TRACE_METHOD,
    items: int = SPANS_PER_REQUEST,
) -> None:
    """One gRPC client sending ``patcher``'s requests to ``method`` until ``stop``; backs off on 429s."""
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 << 20)]) as ch:
        call = ch.unary_unary(method)
        while not stop.is_set():
            body = patcher.next()
            t0 = time.perf_counter()
            try:
                call(body, timeout=30)
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    time.sleep(0.05)  # backpressure: the retry hint says wait
                    continue
                raise
            latencies.append(time.perf_counter() - t0)
            acked.append(items)


def _http_client(port: int, patcher: Patcher, stop: threading.Event, latencies: list[float], acked: list[int]) -> None:
    """What the OTel SDK's HTTP exporter does: POST protobuf on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/x-protobuf"}
    try:
        while not stop.is_set():
            body = patcher.next()
            t0 = time.perf_counter()
            conn.request("POST", "/v1/traces", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status in (429, 503):
                time.sleep(0.05)  # backpressure: the retry hint says wait
                continue
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            latencies.append(time.perf_counter() - t0)
            acked.append(SPANS_PER_REQUEST)
    finally:
        conn.close()


def _metric(http_port: int, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{http_port}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def _written(http_port: int) -> float:
    return _metric(http_port, 'driftline_written_items_total{dataset="spans"}')


def _hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of one process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:13]) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _idle(pid: int) -> bool:
    """Whether a child is the embedding process (scheduled as idle: policy 5 in /proc/PID/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[38] == "5"  # field 41 of stat (policy), counted after the command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of sending")
    parser.add_argument("--clients", type=int, default=8, help="concurrent gRPC clients")
    parser.add_argument("--workers", type=int, default=None, help="receiver normalizer processes")
    parser.add_argument("--protocol", choices=["grpc", "http"], default="grpc", help="OTLP transport of the clients")
    parser.add_argument("--answers", action="store_true", help="chat spans carry a unique answer text")
    parser.add_argument("--embed-outputs", type=float, default=None, help="embeddings-only mode at this rate")
    parser.add_argument("--encrypt", action="store_true", help="encryption at rest (a fresh key; WAL and Parquet)")
    parser.add_argument(
        "--runs",
        choices=["off", "idle", "busy", "busy-off"],
        default="idle",
        help="runs derived at ingest: off (--no-derive-runs); idle (on, as deployed: the hour being written is "
        "not derived yet); busy (on, the spans move to the next past hour every --hour-every seconds, each "
        "derived 1 s after traffic leaves it); busy-off (the same spans as busy, derivation off)",
    )
    parser.add_argument("--hour-every", type=float, default=3.0, help="with --runs busy: seconds per hour of spans")
    args = parser.parse_args()
    answers = args.answers or args.embed_outputs is not None

    template, offsets = build_template(answers=answers)
    patcher: Patcher | RotatingHours = Patcher(template, offsets)
    if args.runs.startswith("busy"):
        hours = int(args.duration / args.hour_every) + 1
        first = (time.time_ns() // 3_600_000_000_000 - hours - 2) * 3_600_000_000_000
        patcher = RotatingHours(
            [Patcher(*build_template(answers=answers, start_ns=first + k * 3_600_000_000_000)) for k in range(hours)],
            args.hour_every,
        )
    with tempfile.TemporaryDirectory(prefix="driftline-bench-") as tmp:
        data = Path(tmp) / "data"
        extra = ["--workers", str(args.workers)] if args.workers else []
        extra += {
            "off": ["--no-derive-runs"],
            "idle": [],
            "busy": ["--runs-grace", "1"],
            "busy-off": ["--no-derive-runs"],
        }[args.runs]
        if args.embed_outputs is not None:
            extra += ["--embed-outputs", str(args.embed_outputs)]
        env = {}
        if args.encrypt:
            from driftline.collector.crypto import KEY_ENV, new_key

            env[KEY_ENV] = new_key()
            print("encryption at rest: on (Parquet modular encryption, sealed WAL records)")
        rx = ReceiverProcess(data, *extra, instance_id="bench", env=env).start()
        try:
            stop = threading.Event()
            latencies: list[float] = []
            acked: list[int] = []
            peak_total = peak_main = 0
            child_peaks: dict[int, int] = {}  # pid -> its own peak RSS (KiB)
            client, port = (_client, rx.grpc_port) if args.protocol == "grpc" else (_http_client, rx.http_port)
            threads = [
                threading.Thread(target=client, args=(port, patcher, stop, latencies, acked), daemon=True)
                for _ in range(args.clients)
            ]
            started = time.perf_counter()
            if isinstance(patcher, RotatingHours):
                patcher.started = started
            for t in threads:
                t.start()
            while time.perf_counter() - started < args.duration:
                time.sleep(0.25)
                main_kib = _hwm_kib(rx.pid)
                peak_main = max(peak_main, main_kib)
                kids = {c: _hwm_kib(c) for c in child_pids(rx.pid)}
                peak_total = max(peak_total, main_kib + sum(kids.values()))
                for c, kib in kids.items():
                    child_peaks[c] = max(child_peaks.get(c, 0), kib)
            stop.set()
            for t in threads:
                t.join(60)
            send_seconds = time.perf_counter() - started
            total_acked = sum(acked)
            written_at_stop = _written(rx.http_port)
            while _written(rx.http_port) < total_acked and time.perf_counter() - started < args.duration + 300:
                time.sleep(0.1)
                main_kib = _hwm_kib(rx.pid)
                peak_main = max(peak_main, main_kib)
                kids = {c: _hwm_kib(c) for c in child_pids(rx.pid)}
                peak_total = max(peak_total, main_kib + sum(kids.values()))
                for c, kib in kids.items():
                    child_peaks[c] = max(child_peaks.get(c, 0), kib)
            durable_seconds = time.perf_counter() - started
            written = _written(rx.http_port)
            runs_hours = _metric(rx.http_port, "driftline_runs_derived_hours_total")
            runs_seconds = _metric(rx.http_port, "driftline_runs_derive_seconds_total")
            late_hours, late_wait = 0.0, 0.0
            if args.runs == "busy":  # derivation runs at nice 19: on saturated cores it waits for the drain
                wanted = len(list((data / "spans").glob("date=*/hour=*")))
                drained = time.perf_counter()
                while (
                    _metric(rx.http_port, "driftline_runs_derived_hours_total") < wanted
                    and time.perf_counter() - drained < 300
                ):
                    time.sleep(0.25)
                late_wait = time.perf_counter() - drained
                late_hours = _metric(rx.http_port, "driftline_runs_derived_hours_total") - runs_hours
                runs_seconds = _metric(rx.http_port, "driftline_runs_derive_seconds_total")
            embed = {
                k: _metric(rx.http_port, f"driftline_{k}")
                for k in (
                    "embed_spooled_items_total",
                    "embedded_items",
                    "embed_dropped_items_total",
                    "embed_backlog_bytes",
                )
            }
            main_cpu = _cpu_seconds(rx.pid)
            children = child_pids(rx.pid)
            embed_cpu = sum(_cpu_seconds(c) for c in children if _idle(c))
            worker_cpu = sum(_cpu_seconds(c) for c in children) - embed_cpu
            client_cpu = _cpu_seconds(os.getpid())
        finally:
            rx.terminate()
        files = list((data / "spans").rglob("*.parquet"))
        fmt = "parquet"
        if args.encrypt:
            from driftline.collector import crypto

            fmt = crypto.parquet_format(crypto.RootKey(base64.b64decode(env[crypto.KEY_ENV])))
        rows = ds.dataset(data / "spans", format=fmt, partitioning="hive").count_rows()
        disk = sum(f.stat().st_size for f in files)

    lat = np.asarray(latencies) * 1000
    print(
        f"driftline ingest benchmark: {args.clients} {args.protocol} clients, {args.duration:.0f}s, "
        f"{SPANS_PER_REQUEST}-span requests ({len(template)} bytes), {os.cpu_count()} cores"
    )
    print(f"  acknowledged spans/s        {total_acked / send_seconds:12,.0f}   ({total_acked:,} spans)")
    print(
        f"  durable in Parquet spans/s  {written / durable_seconds:12,.0f}   (all {written:,.0f} written "
        f"{durable_seconds - send_seconds:.1f}s after sending stopped; {written_at_stop:,.0f} at stop)"
    )
    print(f"  Export latency ms           p50 {np.percentile(lat, 50):.1f}   p99 {np.percentile(lat, 99):.1f}")
    each = ", ".join(f"{kib / 1024:,.0f}" for kib in sorted(child_peaks.values(), reverse=True))
    print(
        f"  receiver peak RSS           {peak_main / 1024:,.0f} MiB main, {peak_total / 1024:,.0f} MiB with workers"
        f" (each child's peak: {each or 'none'} MiB)"
    )
    print(
        f"  CPU seconds                 receiver {main_cpu:.1f} (ack path), normalizer workers {worker_cpu:.1f}, "
        f"benchmark clients {client_cpu:.1f}"
        + (f", embedding process {embed_cpu:.1f}" if args.embed_outputs is not None else "")
    )
    print(f"  on disk                     {disk / max(rows, 1):.1f} bytes/span in {len(files)} files ({rows:,} rows)")
    per_span = f", {runs_seconds / written * 1e6:.1f} µs per span written" if written else ""
    if args.runs == "idle" and not runs_hours:  # as deployed: the hour being written closes later
        print(
            "  runs derived at ingest      idle: on, nothing to derive yet (the hour being written is derived "
            "when it closes; --runs busy measures it)"
        )
    else:
        later = f" and {late_hours:.0f} more in the {late_wait:.1f} s after the drain" if args.runs == "busy" else ""
        print(
            f"  runs derived at ingest      {args.runs}: {runs_hours:.0f} hours derived while running{later}, "
            f"{runs_seconds:.2f} s of derivation{per_span}"
        )
    if args.embed_outputs is not None:
        print(
            f"  embeddings-only ({args.embed_outputs:g})  spooled {embed['embed_spooled_items_total']:,.0f} answers, "
            f"embedded {embed['embedded_items']:,.0f} by the time all spans were durable, dropped "
            f"{embed['embed_dropped_items_total']:,.0f} (backlog full), "
            f"spool left {embed['embed_backlog_bytes'] / 1e6:.1f} MB"
        )
    if rows != total_acked:
        print(f"  WARNING: {rows} rows on disk for {total_acked} acknowledged spans")


if __name__ == "__main__":
    main()
