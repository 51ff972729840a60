"""The compiled span path against the Python normalizer, its specification: the same rows (and hours),
resend counts, rejections and id conflicts on every fixture (the recorded third-party payloads among
them), the benchmark's requests, a randomized corpus (hypothesis) that covers every convention's keys,
odd value types, truncation, content, events, links, status messages, malformed ids, resends and
invalid UTF-8, and byte-level mutations of valid requests (fixed seed, bounded)."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from driftline.collector import native
from driftline.collector.normalize import attributes as at
from driftline.collector.normalize import conventions as cv
from driftline.collector.normalize.normalizer import NormalizeOptions, SpanNormalizer
from driftline.collector.normalize.views import TraceRequestView
from driftline.collector.receiver.codec import json_to_protobuf
from tests import native_verdict

spanscan = native.spanscan
needs_native = pytest.mark.skipif(spanscan is None, reason="the compiled span path is not built here")
RECEIVED = 1_767_225_600_123_456_789
OTLP = Path(__file__).parents[1] / "fixtures" / "otlp"
START = 1_767_225_600_000_000_000

OPTIONS = [
    NormalizeOptions(),
    NormalizeOptions(store_content=True, max_value_chars=40),
    NormalizeOptions(store_content=True, scrub_pii=False, max_value_chars=8, max_content_chars=20),
]


def test_the_compiled_path_is_built_in_ci() -> None:
    if os.environ.get("CI") and os.environ.get("DRIFTLINE_NATIVE", "1") != "0":
        assert spanscan is not None, "make test builds collector/native/spanscan.c"


# --- the oracle -------------------------------------------------------------------------------------


def _rows(norm: SpanNormalizer) -> list[tuple[str, int, dict[str, Any]]]:
    table, hours = norm.table(), norm.hours
    table.validate(full=True)  # the compiled side's buffers (arrowcols.h) make well-formed arrays
    assert len(hours) == table.num_rows
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.int64()))
    rows = []
    for row, hour in zip(table.to_pylist(), hours, strict=True):
        # a map's entry order is no part of the contract (the Python path's own caches order the
        # attributes that claim no column differently): compare its entries as a multiset
        row["attributes"] = sorted(row["attributes"])
        rows.append((repr(sorted(row.items())), hour, row))
    return sorted(rows, key=lambda r: r[:2])


def _assert_same_rows(compiled: SpanNormalizer, python: SpanNormalizer) -> None:
    left, right = _rows(compiled), _rows(python)
    assert len(left) == len(right)
    for (text, hour, row), (other_text, other_hour, other) in zip(left, right, strict=True):
        if (text, hour) != (other_text, other_hour):
            differ = {k: (row[k], other[k]) for k in row if repr(row[k]) != repr(other[k])}
            pytest.fail(f"compiled vs Python, hour {hour} vs {other_hour}: {differ}")


def assert_same(payloads: list[bytes], options: NormalizeOptions) -> SpanNormalizer:
    """Both paths over the same batch: the same outcome per request, then the same rows and counts.
    The compiled side turns its rows into Arrow after every other request (``spill``, as a worker does
    every few thousand spans): resends and id conflicts across the pieces are still found."""
    compiled, python = SpanNormalizer(options), SpanNormalizer(options, compiled=False)
    assert compiled.compiled is not None and python.compiled is None
    for payload in payloads:
        assert_same_verdict(payload)
    for n, payload in enumerate(payloads):
        if n % 2:
            compiled.spill()
        outcomes = []
        for norm in (compiled, python):
            try:
                norm.add_payload(payload, RECEIVED)
                outcomes.append(None)
            except Exception as exc:  # the same refusal, whichever path met it
                outcomes.append(type(exc).__name__)
        assert outcomes[0] == outcomes[1]
        if outcomes[0] is not None:
            return compiled  # a request that raises leaves a batch its caller discards
    _assert_same_rows(compiled, python)
    assert (compiled.duplicates, compiled.rejected) == (python.duplicates, python.rejected)
    assert sorted(compiled.conflicts) == sorted(python.conflicts)
    return compiled


def assert_same_verdict(payload: bytes) -> int | None:
    """The compiled check never accepts what the rule refuses, and counts the same items."""
    return native_verdict.assert_same_verdict("traces", spanscan.check, payload)


@pytest.mark.skipif(spanscan is None, reason="the compiled span path is not built")
def test_the_compiled_check_accepts_plain_requests_and_leaves_refusals_to_the_rule() -> None:
    """A plain request is counted by the compiled check (the receiver's Export skips the Python loop
    over its spans); one span with a zero trace id leaves the whole request to the rule."""
    from tests.benchmarks.bench_ingest import build_template

    payload = build_template(start_ns=START)[0]
    assert assert_same_verdict(payload) == 512
    request = ExportTraceServiceRequest.FromString(payload)
    request.resource_spans[0].scope_spans[0].spans[3].trace_id = bytes(16)
    assert assert_same_verdict(request.SerializeToString()) is None


# --- keys and values --------------------------------------------------------------------------------

_SOURCES = [s for col in cv.COLUMNS for srcs in col.sources.values() for s in srcs]
KEYS = sorted(
    {s.key.replace("*", "0") for s in _SOURCES}
    | set(cv.CONTENT_KEYS)
    | {k for conv in cv.CONVENTIONS for k in conv.marker_keys}
    | {
        "tenant",
        "retry",
        "gen_ai.tool.definitions",
        "llm.tools.0.tool.json_schema",
        "llm.input_messages.0.message.content",
    }
)
KNOWN_VALUES: dict[str, list[str]] = {}
for _src in _SOURCES:
    KNOWN_VALUES.setdefault(_src.key, []).extend(
        [*(_src.values or {}), *(_src.not_values or ()), *(_src.when[1] if _src.when else ())]
    )
    if _src.when:
        KNOWN_VALUES.setdefault(_src.when[0], []).extend(_src.when[1])


def _benchmark_keys() -> set[str]:
    from tests.benchmarks.bench_ingest import build_template

    request = ExportTraceServiceRequest.FromString(build_template(start_ns=START)[0])
    return {a.key for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans for a in s.attributes}


# every other key turns volatile, so that the same keys are seen both as slots and as stable attributes;
# not the benchmark's, whose requests must find their own volatile keys (test_benchmark_requests...)
VOLATILE = [k for k in KEYS[::2] if k not in _benchmark_keys()]


def _warm_volatile_keys(keys: list[str]) -> None:
    """Make keys volatile the way traffic does: more distinct values than attributes.VOLATILE_AFTER."""
    for key in keys:
        for i in range(at.VOLATILE_AFTER + 1):
            value = AnyValue(int_value=900_000 + i) if i % 2 else AnyValue(string_value=f"warm-{i}")
            at.decode_attr(KeyValue(key=key, value=value).SerializeToString())


_warm_volatile_keys(VOLATILE)
# slots of every kind a recipe takes: kept in the map, copied into a column, content
SLOT_KEYS = [
    "tenant.region",
    "retry.count",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.completion_tokens",
    "gen_ai.cost.usd",
    "driftline.input.chars",
    "error.type",
    "gen_ai.tool.call.result",
    "gen_ai.prompt",
]
_warm_volatile_keys(SLOT_KEYS)

_text = st.text(alphabet=st.sampled_from([*"ab .:_-{}[]\"'\\é€", "😀", "\x00", "\n"]), max_size=60)
_scalar = st.one_of(
    _text.map(lambda s: AnyValue(string_value=s)),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(lambda i: AnyValue(int_value=i)),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: AnyValue(double_value=f)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)),
)


def _nested(children: st.SearchStrategy[AnyValue]) -> st.SearchStrategy[AnyValue]:
    def array(values: list[AnyValue]) -> AnyValue:
        v = AnyValue()
        v.array_value.values.extend(values)
        return v

    def kvlist(items: list[tuple[str, AnyValue]]) -> AnyValue:
        v = AnyValue()
        v.kvlist_value.values.extend(KeyValue(key=k, value=x) for k, x in items)
        return v

    return st.one_of(
        st.lists(children, max_size=3).map(array),
        st.lists(st.tuples(_text, children), max_size=3).map(kvlist),
    )


_value = st.one_of(
    _scalar,
    st.binary(max_size=6).map(lambda b: AnyValue(bytes_value=b)),
    st.just(AnyValue()),
    st.recursive(_scalar, _nested, max_leaves=4),
    st.just('{"query": "order 7", "k": 5}').map(lambda s: AnyValue(string_value=s)),
)


@st.composite
def _attribute(draw: st.DrawFn) -> bytes:
    key = draw(st.one_of(st.sampled_from(KEYS), _text))
    known = KNOWN_VALUES.get(key)
    use_known = known and draw(st.booleans())
    value = AnyValue(string_value=draw(st.sampled_from(known))) if use_known else draw(_value)
    raw = KeyValue(key=key, value=value).SerializeToString()
    if draw(st.integers(0, 60)) == 0:  # a string value that is not UTF-8 (only a corrupted file has one)
        raw = KeyValue(key=key, value=AnyValue(string_value="x" * 3)).SerializeToString()[:-3] + b"\xff\xfex"
    return raw


@st.composite
def _plain_attribute(draw: st.DrawFn) -> bytes:
    """The common case: slot keys and a few recurring attributes, with scalar values."""
    key = draw(st.sampled_from([*SLOT_KEYS, "gen_ai.operation.name", "gen_ai.request.model", "tenant"]))
    known = KNOWN_VALUES.get(key)
    value = AnyValue(string_value=draw(st.sampled_from(known))) if known else draw(_scalar)
    return KeyValue(key=key, value=value).SerializeToString()


@st.composite
def _request(draw: st.DrawFn) -> bytes:
    req = TraceRequestView()
    spans: list[Any] = []
    for _ in range(draw(st.integers(1, 2))):
        rs = req.resource_spans.add()
        for key, value in draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["service.name", "service.version", "deployment.environment", "host"]), _text
                ),
                max_size=3,
            )
        ):
            rs.resource.attributes.add(key=key, value={"string_value": value})  # the view's own classes
        for _ in range(draw(st.integers(1, 2))):
            ss = rs.scope_spans.add()
            if draw(st.booleans()):
                ss.scope.name, ss.scope.version = draw(_text), draw(_text)
            for _ in range(draw(st.integers(0, 6))):
                if spans and draw(st.integers(0, 8)) == 0:  # a resend, or another span reusing the ids
                    span = ss.spans.add()
                    span.CopyFrom(draw(st.sampled_from(spans)))
                    if draw(st.booleans()):
                        span.name += "!"
                    continue
                span = ss.spans.add()
                span.trace_id = draw(st.sampled_from([b"\x01" * 16, b"\x02" * 16, b"", b"\x00" * 16, b"\x03" * 15]))
                span.span_id = draw(st.one_of(st.binary(min_size=8, max_size=8), st.sampled_from([b"", b"\x00" * 8])))
                span.parent_span_id = draw(st.sampled_from([b"", b"\x09" * 8, b"\x09" * 3]))
                span.name = draw(
                    st.sampled_from(["chat gpt-4o", "execute_tool search", "ChatCompletion", "agent.run", ""])
                )
                rare = draw(st.integers(0, 40)) == 0  # a negative enum sends the whole request to Python
                span.kind = -1 if rare else draw(st.integers(0, 7))
                span.start_time_unix_nano = draw(st.sampled_from([0, START, START + 7_200_000_000_123]))
                span.end_time_unix_nano = draw(
                    st.sampled_from([0, 1, span.start_time_unix_nano + 250_000_000, span.start_time_unix_nano + 2**60])
                )
                span.status.code = -1 if draw(st.integers(0, 40)) == 0 else draw(st.integers(0, 3))
                if draw(st.integers(0, 6)) == 0:
                    span.status.message = draw(_text)
                span.attributes.extend(
                    draw(st.one_of(st.lists(_attribute(), max_size=12), st.lists(_plain_attribute(), max_size=8)))
                )
                if draw(st.integers(0, 6)) == 0:
                    event = span.events.add(name=draw(st.sampled_from(["exception", "gen_ai.choice", "note"])))
                    event.attributes.add(key="exception.type", value={"string_value": "ValueError"})
                if draw(st.integers(0, 8)) == 0:
                    span.links.add(trace_id=b"\x05" * 16, span_id=b"\x06" * 8)
                spans.append(span)
    return req.SerializeToString()


# --- the tests --------------------------------------------------------------------------------------


@needs_native
@pytest.mark.parametrize("fixture", sorted(str(p.relative_to(OTLP)) for p in OTLP.rglob("*.json")))
@pytest.mark.parametrize("options", OPTIONS, ids=["default", "content", "short"])
def test_fixtures(fixture: str, options: NormalizeOptions) -> None:
    payload = json_to_protobuf("traces", (OTLP / fixture).read_bytes())
    assert_same([payload, payload, payload], options)  # twice resent: duplicates counted alike


@needs_native
def test_benchmark_requests_take_the_compiled_path() -> None:
    from tests.benchmarks.bench_ingest import Patcher, build_template

    for answers in (False, True):
        template, offsets = build_template(answers=answers, start_ns=START)
        patcher = Patcher(template, offsets)
        payloads = [patcher.next() for _ in range(6)]
        compiled = assert_same([*payloads, payloads[0]], NormalizeOptions())
        assert compiled.compiled.rows > 0
    # after warm-up every span of the benchmark is written by the compiled path
    payloads = [patcher.next() for _ in range(3)]
    compiled = assert_same(payloads, NormalizeOptions())
    assert compiled.compiled.rows == 3 * 512


@needs_native
@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_request(), min_size=1, max_size=3), st.sampled_from(range(len(OPTIONS))))
def test_random_requests(payloads: list[bytes], option: int) -> None:
    compiled = assert_same([*payloads, *map(_the_next_turn, payloads)], OPTIONS[option])
    RANDOM_COMPILED_ROWS.append(compiled.compiled.rows)


def _the_next_turn(payload: bytes) -> bytes:
    """The same request again with other span ids: the recurring shapes a real workload sends, which
    are what the compiled path replays (a shape seen once is only learned)."""
    request = TraceRequestView.FromString(payload)  # the view takes invalid UTF-8 too
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                if len(span.span_id) == 8:
                    span.span_id = bytes([span.span_id[0] ^ 0xA5]) + span.span_id[1:]
    return request.SerializeToString()


RANDOM_COMPILED_ROWS: list[int] = []


@needs_native
def test_random_requests_reached_the_compiled_path() -> None:
    """(runs after test_random_requests) the corpus is not all left to Python."""
    assert sum(RANDOM_COMPILED_ROWS) > 20, RANDOM_COMPILED_ROWS


@needs_native
def test_the_same_shape_with_other_slot_values() -> None:
    """A recipe learned from one span replays for others whose slots differ in value and length."""
    rng = random.Random(11)
    payloads = []
    for n in range(30):
        req = ExportTraceServiceRequest()
        ss = req.resource_spans.add().scope_spans.add()
        for i in range(20):
            span = ss.spans.add(name="chat", start_time_unix_nano=START + i, end_time_unix_nano=START + i + 10)
            span.trace_id, span.span_id = rng.randbytes(16), rng.randbytes(8)
            for key in SLOT_KEYS:
                kind = rng.randrange(4)
                value = [
                    AnyValue(int_value=rng.randrange(-(2**63), 2**63)),
                    AnyValue(string_value="é" * rng.randrange(0, 60)),
                    AnyValue(double_value=rng.choice([0.1, -0.0, 1e300, float("inf"), float("nan"), 3.0])),
                    AnyValue(bool_value=rng.random() < 0.5),
                ][kind if n % 2 else 0]
                span.attributes.add(key=key, value=value)
        payloads.append(req.SerializeToString())
    for options in OPTIONS:
        compiled = assert_same(payloads, options)
        assert compiled.compiled.rows > 0


@needs_native
def test_content_slots_leave_the_claimed_hash_columns_alone() -> None:
    """A shape whose hash columns are filled from a claim (``driftline.prompt.hash``) and that also
    carries content: the content's hook writes only the columns the content speaks for (it used to
    write all of them, so the claimed prompt hash came out as None), and where the content does speak
    for a column a slot's claim on it is dropped, as content_columns overwrites the claim (it used to
    be replayed over the content's hash)."""
    keys = ["driftline.prompt.hash", "driftline.output.hash", "gen_ai.prompt"]  # input content
    stable_output = KeyValue(key="gen_ai.completion", value=AnyValue(string_value="the same answer"))
    _warm_volatile_keys(keys)
    payloads = []
    for n in range(4):
        req = ExportTraceServiceRequest()
        ss = req.resource_spans.add().scope_spans.add()
        for i in range(5):
            span = ss.spans.add(name="chat", start_time_unix_nano=START + i, end_time_unix_nano=START + i + 10)
            span.trace_id, span.span_id = bytes([n + 1]) * 16, bytes([n + 1, i + 1]) * 4
            span.attributes.add(key="gen_ai.operation.name", value=AnyValue(string_value="chat"))
            for key in keys[: 2 if i == 3 else 3]:  # span 3: no content slot, so no hook
                span.attributes.add(key=key, value=AnyValue(string_value=f"{key}-{n}-{i}" if i % 3 else ""))
            if i % 2:  # output content too, from a stable attribute: it decides output_hash, not the claim
                span.attributes.append(stable_output)
        payloads.append(req.SerializeToString())
    for options in OPTIONS:
        compiled = assert_same(payloads, options)
        assert compiled.compiled.rows >= 10
        hashes = compiled.table().column("prompt_hash").to_pylist()
        assert "driftline.prompt.hash-3-4" in hashes and "" in hashes


@needs_native
def test_a_batch_is_freed_when_its_normalizer_goes() -> None:
    """A worker normalizes one segment after another: each segment's rows must be freed with its
    normalizer, by reference counting alone (the worker pauses the cyclic collector while it works).
    The compiled batch used to hold a bound method of its normalizer, a cycle through a C object the
    collector cannot see: every segment's rows stayed in the worker (2 GiB per worker in bench_ingest)."""
    import gc
    import weakref

    from tests.benchmarks.bench_ingest import Patcher, build_template

    template, offsets = build_template(start_ns=START)
    patcher = Patcher(template, offsets)
    gc.disable()
    try:
        norm = SpanNormalizer(NormalizeOptions())
        for _ in range(3):
            norm.add_payload(patcher.next(), RECEIVED)
        assert norm.compiled.rows > 0 and norm.table().num_rows == 3 * 512
        alive = weakref.ref(norm)  # it holds the batch, which holds the rows
        del norm
        assert alive() is None
    finally:
        gc.enable()


@needs_native
def test_mutated_requests() -> None:
    from tests.benchmarks.bench_ingest import build_template

    rng = random.Random(3)
    base = [json_to_protobuf("traces", p.read_bytes()) for p in sorted(OTLP.rglob("*.json"))]
    base.append(build_template(start_ns=START)[0][:4000])  # cut: the parse refuses it
    base.append(build_template(start_ns=START)[0])
    for _ in range(150):
        payload = bytearray(rng.choice(base))
        for _ in range(rng.randint(1, 3)):
            payload[rng.randrange(len(payload))] = rng.randrange(256)
        assert_same([bytes(payload)], OPTIONS[rng.randrange(len(OPTIONS))])


def test_native_off_means_python(monkeypatch: pytest.MonkeyPatch) -> None:
    from driftline.collector.normalize import recipes

    monkeypatch.setattr(native, "_loaded", {})
    monkeypatch.setenv("DRIFTLINE_NATIVE", "0")
    assert SpanNormalizer(NormalizeOptions()).compiled is None
    assert "DRIFTLINE_NATIVE=0" in native.status()
    monkeypatch.setattr(native, "_loaded", {})
    monkeypatch.delenv("DRIFTLINE_NATIVE")
    if spanscan is not None:
        assert SpanNormalizer(NormalizeOptions()).compiled is not None
        # the modes that stay in Python: embeddings-only (answers spooled) and an agent-version key
        assert recipes.native_batch(NormalizeOptions(embed_rate=0.1), lambda raw: (), []) is None
        assert SpanNormalizer(NormalizeOptions(agent_version_key="app.version")).compiled is None
