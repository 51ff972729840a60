"""The normalizer's caches and byte-level fast path must never change a row.

Every span is normalized through the cached path (recurring attributes classified once, volatile
ones decoded straight from their bytes) and compared with the general path run on fresh objects.
"""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from driftline.collector.normalize import attributes as nz
from driftline.collector.normalize import normalizer as norm_mod
from driftline.collector.normalize.normalizer import NormalizeOptions, SpanNormalizer
from driftline.collector.normalize.values import canonical_json, canonical_parsed, parse_json
from tests.integration.otlp_payloads import kv


def _encoded(key: str, value: AnyValue) -> bytes:
    return KeyValue(key=key, value=value).SerializeToString()


def test_light_decoder_agrees_with_protobuf() -> None:
    key = "test.volatile.key"
    for i in range(nz.VOLATILE_AFTER + 2):  # make the key volatile
        nz.decode_attr(_encoded(key, AnyValue(int_value=10_000 + i)))
    values = [AnyValue(int_value=v) for v in (0, 1, 127, 128, 300, -1, -(2**63), 2**63 - 1)]
    values += [AnyValue(string_value=v) for v in ("", "x", "é🙂", "y" * 300)]
    values += [AnyValue(double_value=v) for v in (0.0, -2.5, 1e300)] + [AnyValue(bool_value=b) for b in (True, False)]
    for value in values:
        decoded = nz.light(_encoded(key, value))
        assert decoded is not None and decoded[0].name == key
        assert decoded[1] == nz.value_of(value), value
    # anything but the plain encodings goes back to protobuf
    assert nz.light(_encoded(key, AnyValue(bytes_value=b"\x00"))) is None
    reordered = KeyValue(value=AnyValue(int_value=5)).SerializeToString() + KeyValue(key=key).SerializeToString()
    assert nz.light(reordered) is None
    assert nz.light(_encoded("never.seen.before", AnyValue(int_value=1))) is None


POOL = [
    ("gen_ai.operation.name", ["chat", "execute_tool", "invoke_agent", "rerank_documents"]),
    ("gen_ai.request.model", ["gpt-4o", "claude-3"]),
    ("gen_ai.system", ["openai", "anthropic"]),
    ("gen_ai.provider.name", ["openai"]),
    ("gen_ai.usage.input_tokens", None),  # volatile ints
    ("gen_ai.usage.prompt_tokens", None),  # competes with input_tokens (lower rank)
    ("gen_ai.usage.output_tokens", None),
    ("gen_ai.response.id", "id"),  # volatile strings
    ("gen_ai.tool.name", ["search", "lookup"]),
    ("gen_ai.input.messages", ["hi", "hello"]),
    ("gen_ai.tool.call.arguments", ['{"a": 1}', '{ "a" : 1 }']),
    ("tenant", ["acme", "globex"]),
    ("retry", None),
    ("gen_ai.request.temperature", [0.0, 0.7]),
]


def _random_request(rng: random.Random) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", "svc"))
    ss = rs.scope_spans.add()
    for _ in range(64):
        span = ss.spans.add()
        span.trace_id, span.span_id = rng.randbytes(16), rng.randbytes(8)
        span.name, span.start_time_unix_nano, span.end_time_unix_nano = "s", 1_700_000_000_000_000_000, 0
        for key, choices in rng.sample(POOL, rng.randint(0, len(POOL))):
            if choices is None:
                value: object = rng.randint(0, 100_000)
            elif choices == "id":
                value = f"resp-{rng.randrange(10**9)}"
            else:
                value = rng.choice(choices)
            span.attributes.append(kv(key, value))
    return req


# Every column a table entry can fill, less those _add_span completes afterwards (defaults, fallbacks,
# hashes of content).
CONTENT_COLUMNS = {
    nz.SPAN_INDEX[c]
    for c in ("input_hash", "input_chars", "output_hash", "output_chars", "prompt_hash", "tool_args_hash")
}
FILLED = (
    {c.index for plan in nz.PLANS.values() for claims in plan.by_key.values() for c in claims}
    - CONTENT_COLUMNS
    - {
        norm_mod._I_OPERATION,
        norm_mod._I_AGENT_VERSION,
        norm_mod._I_CURRENCY,
    }
)


def _reference(span_row: list, request: ExportTraceServiceRequest, index: int) -> nz.Classified:
    span = request.resource_spans[0].scope_spans[0].spans[index]
    attrs = [nz.Attr(nz.Key(a.key), nz.value_of(a.value)) for a in span.attributes]
    return nz.classify(attrs)


def test_cached_paths_match_the_general_path() -> None:
    rng = random.Random(5)
    norm = SpanNormalizer(NormalizeOptions())
    for _ in range(60):  # enough for keys to turn volatile and attribute sets to recur
        request = _random_request(rng)
        start = len(norm.rows)
        norm.add_request(request, 1)
        for i, row in enumerate(norm.rows[start:]):
            ref = _reference(row, request, i)
            for index in FILLED:
                assert row[index] == ref.row[index], (nz.SPAN_SCHEMA.names[index], row[index], ref.row[index])
            assert ref.row[norm_mod._I_OPERATION] in (None, row[norm_mod._I_OPERATION])
            kept = {k for k, _ in row[norm_mod._I_ATTRS]}
            assert kept == {a.key for a in ref.rest}
            assert row[norm_mod._I_CONVENTION] == ref.convention
    assert nz.VOLATILE_KEYS, "the test should exercise the byte-level fast path"


def test_a_key_that_came_twice_leaves_the_map_on_every_path() -> None:
    """A claiming key twice in one span, once with a value that fills its column and once with one
    that does not (invalid OTLP, but it arrives): the general path drops both from the attributes map
    (the key owns the column). The cached path used to keep the failed one when the owner was a
    cached attribute and the failed one was fresh, or the other way round."""
    key = "gen_ai.usage.input_tokens"
    for scenario in ("owner cached, failed fresh", "failed cached, owner fresh"):
        for fresh_first in (False, True):
            tag = random.random()
            owner, unusable = kv(key, 41 + int(tag * 1e9)), kv(key, f"not a count {tag}")
            cached_one, fresh_one = (owner, unusable) if scenario.startswith("owner") else (unusable, owner)
            req = ExportTraceServiceRequest()
            ss = req.resource_spans.add().scope_spans.add()
            for i in range(3):
                span = ss.spans.add(name="chat", trace_id=bytes([7 + fresh_first]) * 16, span_id=bytes([i + 1]) * 8)
                span.start_time_unix_nano = 1_767_225_600_000_000_000
                span.end_time_unix_nano = span.start_time_unix_nano + 10**9
                span.attributes.extend([kv("gen_ai.operation.name", "chat"), cached_one])
                if i:  # the first span caches one copy; the others add the other one
                    span.attributes.insert(1 if fresh_first else 2, fresh_one)
            norm = SpanNormalizer(NormalizeOptions(), compiled=False)
            norm.add_request(req, 1)
            table = norm.table()
            maps = [dict(m).get(key) for m in table.column("attributes").to_pylist()]
            if scenario.startswith("owner"):
                assert maps == [None, None, None], scenario
            else:  # the first span has only the unusable copy: it stays; then the key owns the column
                assert maps[1:] == [None, None], scenario
                assert table.column("input_tokens").to_pylist()[1:] == [41 + int(tag * 1e9)] * 2


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _loads(text: str) -> object:
    try:
        return ("value", repr(json.loads(text)))
    except ValueError:
        return ("error", None)


def _parse(text: str) -> object:
    try:
        return ("value", repr(parse_json(text)))
    except ValueError:
        return ("error", None)


@settings(max_examples=400, deadline=None)
@given(
    _JSON, st.sampled_from(["", " ", "\n", "\ufeff"]), st.sampled_from(["", " ", "x", "}", ",1"]), st.text(max_size=8)
)
def test_tool_arguments_parse_and_encode_as_the_standard_library_does(
    value: object, before: str, after: str, noise: str
) -> None:
    """The argument hash's faster parse and encode give exactly what ``json.loads`` and
    ``canonical_json`` give, on any JSON value with or without surrounding whitespace, extra data, a
    BOM, and on text that is not JSON at all; a hash stored before stays the hash of the same arguments."""
    text = before + json.dumps(value, ensure_ascii=False) + after
    assert _parse(text) == _loads(text)
    assert _parse(noise) == _loads(noise)
    parsed = json.loads(json.dumps(value))
    assert canonical_parsed(parsed) == canonical_json(parsed)
