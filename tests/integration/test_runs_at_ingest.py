"""Runs derived where the spans arrive: receivers derive each closed hour from their own span files,
readers use those files only while they account for every span of the hour, and the answer is always
the live ``runs`` view's — with one receiver or two fed by trace id, after a late span, a compaction,
a rebuild with other prices, or a trace that reached two receivers anyway."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from driftline.analysis.cli import cli
from driftline.analysis.cost import load_prices
from driftline.analysis.db import connect
from driftline.analysis.run_cache import RunCache
from driftline.collector.run_hours import HourCloser
from driftline.collector.sink.compact import compact_root
from tests.receiver_process import ReceiverProcess
from tests.span_rows import agent_runs

HOUR_NS = 3600 * 10**9


def _runs(root: Path, cache: Path | None = None) -> tuple[list[tuple], list[str]]:
    """(every run row, the hours the reader had to derive itself); live when ``cache`` is None."""
    con = connect(str(root))
    derived: list[str] = []
    if cache is not None:
        rc = RunCache(str(root), load_prices(), cache)
        assert rc.attach(con)
        derived = rc.derived
    try:
        return con.execute("SELECT * FROM runs ORDER BY run_id").fetchall(), derived
    finally:
        con.close()


def _rebuild(root: Path, *args: str) -> None:
    result = CliRunner().invoke(cli, ["runs", "rebuild", "--data", str(root), *args])
    assert result.exit_code == 0, result.output


def test_rebuilt_hours_are_read_not_derived_until_a_late_file_arrives(tmp_path: Path) -> None:
    root = tmp_path / "data"
    agent_runs(root, "1.0", 20, stem="rx-000000000001")
    agent_runs(root, "2.0", 20, stem="rx-000000000002", start_ms=3_600_000)
    live, _ = _runs(root)
    _rebuild(root)
    assert len(list((root / "runs").rglob("rx-r*.parquet"))) == 2
    cached, derived = _runs(root, tmp_path / "c1")
    assert cached == live and derived == []

    agent_runs(root, "2.0", 5, stem="rx-000000000003", start_ms=3_600_000, seed=7)  # a late file, not derived
    live, _ = _runs(root)
    cached, derived = _runs(root, tmp_path / "c2")
    assert cached == live and len(derived) == 1  # that hour only, by the reader

    _rebuild(root, "--since", "2023-11-14T23:00:00")
    cached, derived = _runs(root, tmp_path / "c3")
    assert cached == live and derived == []
    assert compact_root(str(root), min_age=0)  # a merged file counts as the files it merged
    assert list((root / "spans").rglob("compact-*.parquet"))
    cached, derived = _runs(root, tmp_path / "c4")
    assert cached == live and derived == []


def test_runs_derived_with_other_prices_are_not_used(tmp_path: Path) -> None:
    root = tmp_path / "data"
    agent_runs(root, "1.0", 10, stem="rx-000000000001")
    prices = tmp_path / "prices.toml"
    prices.write_text('[[price]]\nprovider = "openai"\nmodel = "gpt-4o-mini"\ninput = 1.0\noutput = 2.0\n')
    _rebuild(root, "--pricing", str(prices))
    live, _ = _runs(root)
    cached, derived = _runs(root, tmp_path / "cache")
    assert cached == live and len(derived) == 1


def test_an_expired_source_makes_the_hour_derived_again(tmp_path: Path) -> None:
    """A runs file naming a span file that is gone (erased, expired) would count its runs: not used."""
    root = tmp_path / "data"
    agent_runs(root, "1.0", 10, stem="rx-000000000001")
    agent_runs(root, "1.0", 10, stem="rx-000000000002", seed=3)
    _rebuild(root)
    next(root.glob("spans/*/*/rx-000000000002.parquet")).unlink()
    live, _ = _runs(root)
    assert len(live) == 10
    cached, derived = _runs(root, tmp_path / "cache")
    assert cached == live and len(derived) == 1


def test_the_hour_closer_waits_for_the_grace_and_derives_a_late_span_again(tmp_path: Path) -> None:
    root = tmp_path / "data"
    agent_runs(root, "1.0", 3, stem="rx-000000000001")
    (path,) = root.glob("spans/*/*/*.parquet")
    partition = "/".join(path.parts[-3:-1])
    calls: list[tuple[str, list[str]]] = []
    fail = {"once": True}

    def derive(p: str, files: list[str]) -> None:
        if fail.pop("once", False):
            raise OSError("disk full")
        calls.append((p, files))

    closer = HourCloser(str(root), "rx", derive, grace_s=300)
    end = HourCloser._end(partition)
    closer.wrote([str(path)])
    written_at = closer._dirty[partition]
    assert closer.run_due(now=max(end, written_at) + 299) == 0  # within the grace
    assert closer.run_due(now=max(end, written_at) + 301) == 0 and closer.pending() == [partition]  # failed
    closer._retry_at.clear()
    assert closer.run_due(now=max(end, written_at) + 302) == 1 and calls == [(partition, [str(path)])]
    assert closer.pending() == []
    closer.wrote([str(path)])  # a late span: the hour is derived again after the grace
    assert closer.pending() == [partition]
    assert closer.own_files(partition) == [str(path)]
    assert HourCloser(str(root), "rx-other", derive).own_files(partition) == []


def test_a_span_file_belongs_to_the_receiver_that_wrote_it() -> None:
    from driftline.collector.schema import is_runs_file_of, span_file_group

    assert span_file_group("rx-a-01a237fb21e2404c-000000000001.parquet") == "rx-a"
    assert span_file_group("rx-000000000007.parquet") == "rx"
    assert span_file_group("compact-123456789012.parquet") == "compact-123456789012"
    assert span_file_group("bench-0-1.parquet") == "bench-0-1"
    assert is_runs_file_of("rx-r0123456789abcdef.parquet", "rx")
    assert not is_runs_file_of("rx-2-r0123456789abcdef.parquet", "rx")


class _ByTraceId(SpanExporter):
    """What the OTel Collector's loadbalancing exporter does with routing_key: traceID."""

    def __init__(self, exporters: list[SpanExporter], split: set[int] | None = None) -> None:
        self.exporters, self.split, self.turn = exporters, split or set(), 0

    def export(self, spans: list[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            tid = span.context.trace_id
            # a trace in ``split`` reaches the receivers in turn, span by span: what a membership change does
            if tid in self.split:
                self.turn += 1
            i = (self.turn if tid in self.split else tid) % len(self.exporters)
            if self.exporters[i].export([span]) != SpanExportResult.SUCCESS:
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        for e in self.exporters:
            e.shutdown()


def _send_runs(exporter: SpanExporter, n: int, start_ns: int, split: _ByTraceId | None = None) -> set[str]:
    """``n`` agent runs (an agent span, a chat call, two tool calls) an hour in the past."""
    provider = TracerProvider(resource=Resource.create({"service.name": "support", "service.version": "3.1"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    traces = set()
    for i in range(n):
        t = start_ns + i * 10**9
        agent = tracer.start_span("invoke_agent support", start_time=t, attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support"})  # fmt: skip
        traces.add(f"{agent.get_span_context().trace_id:032x}")
        if split is not None and i == 0:
            split.split.add(agent.get_span_context().trace_id)
        from opentelemetry import trace

        ctx = trace.set_span_in_context(agent)
        chat = tracer.start_span("chat gpt-4o-mini", context=ctx, start_time=t + 10**6, attributes={
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 100 + i, "gen_ai.usage.output_tokens": 20})  # fmt: skip
        chat.end(end_time=t + 10**8)
        for j, tool in enumerate(("search", "lookup_order")):
            span = tracer.start_span(f"execute_tool {tool}", context=ctx, start_time=t + (2 + j) * 10**8, attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool})  # fmt: skip
            span.end(end_time=t + (2 + j) * 10**8 + 10**7)
        agent.end(end_time=t + 5 * 10**8)
    provider.shutdown()
    return traces


def _wait_until_derived(root: Path, spans: int, timeout: float = 60) -> None:
    """Until ``spans`` spans are in Parquet and every hour's runs files account for all its span files
    (a receiver writes an acknowledged request in more than one file and derives after each)."""
    import pyarrow.dataset as ds

    from driftline.analysis import run_derivation as derivation
    from driftline.analysis.run_derivation import list_partitions
    from driftline.collector.schema import filesystem

    fs, base = filesystem(str(root))
    the_salt = derivation.salt(load_prices())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = list((root / "spans").rglob("*.parquet"))
        if files and ds.dataset(files, format="parquet").count_rows() >= spans:
            runs = derivation.list_runs_files(fs, base)
            parts = list_partitions(fs, base)
            if all(derivation.covering(fs, p.files, runs.get(p.name, []), the_salt) for p in parts):
                return
        time.sleep(0.2)
    raise AssertionError(f"the runs of {root} were not derived in {timeout} s")


def _wait_for_runs_files(root: Path, instances: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = [p.name for p in (root / "runs").rglob("*.parquet")] if (root / "runs").exists() else []
        if all(any(n.startswith(f"{i}-r") for n in names) for i in instances):
            return
        time.sleep(0.2)
    raise AssertionError(f"no runs files of {instances} under {root}: {names}")


class _Tee(SpanExporter):
    def __init__(self, *exporters: SpanExporter) -> None:
        self.exporters = exporters

    def export(self, spans: list[ReadableSpan]) -> SpanExportResult:
        results = [e.export(spans) for e in self.exporters]
        return (
            SpanExportResult.SUCCESS
            if all(r == SpanExportResult.SUCCESS for r in results)
            else SpanExportResult.FAILURE
        )

    def shutdown(self) -> None:
        for e in self.exporters:
            e.shutdown()


@pytest.mark.parametrize("split_first", [False, True], ids=["by-trace-id", "one-trace-on-both"])
def test_two_receivers_fed_by_trace_id_give_the_runs_of_one(tmp_path: Path, split_first: bool) -> None:
    """Real ``driftline serve`` processes (``--runs-grace 0``), the SDK's OTLP/gRPC exporter, spans of
    an hour that is over, sent to two receivers by trace id and to a third alone. With one trace sent
    span by span to both receivers, the reader finds it in both receivers' files and derives that
    trace itself: the runs are still the single receiver's."""
    import pyarrow.parquet as pq

    two, one = tmp_path / "two", tmp_path / "one"
    grace = ("--runs-grace", "0", "--flush-interval", "0.2", "--workers", "1")
    receivers = [ReceiverProcess(two, *grace, instance_id=f"rx-{x}").start() for x in "ab"]
    solo = ReceiverProcess(one, *grace, instance_id="solo").start()
    try:
        start = (time.time_ns() // HOUR_NS - 3) * HOUR_NS + 600 * 10**9  # three hours ago: closed
        both = _ByTraceId([OTLPSpanExporter(endpoint=f"127.0.0.1:{r.grpc_port}", insecure=True) for r in receivers])
        alone = OTLPSpanExporter(endpoint=f"127.0.0.1:{solo.grpc_port}", insecure=True)
        traces = _send_runs(_Tee(both, alone), 30, start, both if split_first else None)
        _wait_for_runs_files(two, ["rx-a", "rx-b"])
        _wait_until_derived(two, 30 * 4)
        _wait_until_derived(one, 30 * 4)
    finally:
        for r in [*receivers, solo]:
            assert r.terminate() == 0
    live_two, _ = _runs(two)
    cached_two, derived_two = _runs(two, tmp_path / "cache-two")
    cached_one, derived_one = _runs(one, tmp_path / "cache-one")
    assert len(live_two) == 30 and len(traces) == 30
    assert cached_two == live_two == cached_one  # one receiver's runs, however the spans were spread
    assert derived_two == [] and derived_one == []  # every hour read from what the receivers derived
    files = list((two / "runs").rglob("*.parquet"))
    by_file = [set(pq.read_table(f).column("trace_id").to_pylist()) for f in files]
    shared = set.intersection(*by_file) if len(by_file) > 1 else set()
    assert len(shared) == (1 if split_first else 0)  # the cut trace is in both files (one as a stub or piece)


def test_erasing_a_trace_or_pruning_an_hour_removes_the_runs_derived_from_it(tmp_path: Path) -> None:
    """Derived runs hold what the spans held: when spans are erased (``driftline reset``) or expire,
    so do the runs derived from their hours — nothing erased stays readable in ``runs/``."""
    from driftline.collector.sink.erase import erase_traces
    from driftline.collector.sink.lifecycle import prune_root

    root = tmp_path / "data"
    erased = agent_runs(root, "1.0", 5, stem="rx-000000000001")[0]
    agent_runs(root, "1.0", 5, stem="rx-000000000002", start_ms=3_600_000, seed=4)
    _rebuild(root)
    assert len(list((root / "runs").rglob("*.parquet"))) == 2
    erase_traces(str(root), {erased})
    left = list((root / "runs").rglob("*.parquet"))
    assert len(left) == 1 and "hour=23" in str(left[0])
    live, _ = _runs(root)
    cached, _ = _runs(root, tmp_path / "cache")
    assert cached == live and erased not in {r[0].split(":")[0] for r in live}
    prune_root(str(root), older_than_s=0)
    assert not list((root / "runs").rglob("*.parquet"))


def test_a_restarted_receiver_derives_the_hours_it_wrote_before(tmp_path: Path) -> None:
    """Killed before it closed the hour (here: a grace it never reached), the receiver derives that
    hour after its restart: the hours it wrote recently are marked again at start."""
    root = tmp_path / "data"
    args = ("--flush-interval", "0.2", "--workers", "1")
    rx = ReceiverProcess(root, *args, "--runs-grace", "86400", instance_id="rx-a").start()
    try:
        start = (time.time_ns() // HOUR_NS - 2) * HOUR_NS
        _send_runs(OTLPSpanExporter(endpoint=f"127.0.0.1:{rx.grpc_port}", insecure=True), 10, start)
        deadline = time.monotonic() + 30
        while not list((root / "spans").rglob("*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        rx.kill()
    assert not (root / "runs").exists()
    rx = ReceiverProcess(root, *args, "--runs-grace", "0", instance_id="rx-a").start()
    try:
        _wait_until_derived(root, 10 * 4)
    finally:
        assert rx.terminate() == 0
    live, _ = _runs(root)
    cached, derived = _runs(root, tmp_path / "cache")
    assert len(live) == 10 and cached == live and derived == []


def test_the_derivation_runs_on_a_thread_that_yields_the_cores_to_ingest(tmp_path: Path) -> None:
    """At saturation ingest keeps its throughput: the derivation's thread has the lowest priority."""
    import os
    import threading

    root = tmp_path / "data"
    agent_runs(root, "1.0", 2, stem="rx-000000000001")
    seen: list[int] = []
    done = threading.Event()

    def derive(_partition: str, _files: list[str]) -> None:
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        done.set()

    closer = HourCloser(str(root), "rx", derive, grace_s=0, interval_s=0.05)
    closer._recover = lambda: closer.wrote([str(p) for p in root.glob("spans/*/*/*.parquet")])  # type: ignore[method-assign]
    closer.start()
    try:
        assert done.wait(10)
    finally:
        closer.stop()
    assert seen == [19]


def test_rebuild_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["runs", "rebuild", "--data", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "does not exist" in missing.output
    agent_runs(tmp_path / "data", "1.0", 1, stem="rx-000000000001")
    since = runner.invoke(cli, ["runs", "rebuild", "--data", str(tmp_path / "data"), "--since", "yesterday"])
    assert since.exit_code == 2 and "--since" in since.output and "cannot read time" in since.output
    assert not (tmp_path / "data" / "runs").exists()
