"""PII scrubbing and the HTTP codec (OTLP/JSON hex ids, inflate limits)."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from driftline.collector import otlp
from driftline.collector.errors import Malformed, TooLarge, UnsupportedMediaType
from driftline.collector.receiver import codec
from driftline.instrumentation.scrub import scrub


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.doe+x@example.co.uk now", "write to [EMAIL] now"),
        ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [IBAN] please"),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        ("order 1234567890123 ok", "order 1234567890123 ok"),  # fails Luhn: not a card
        ("from 192.168.10.20 and 2001:db8:0:0:0:0:0:1", "from [IP] and [IP]"),
        ("call +44 20 7946 0958", "call [PHONE]"),
        ("or (415) 555-0132 today", "or [PHONE] today"),
        ("on 2024-01-15 at 10:30", "on 2024-01-15 at 10:30"),
    ],
)
def test_scrub(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_json_hex_ids_become_bytes() -> None:
    doc = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "x",
                                "startTimeUnixNano": "1700000000000000000",
                                "links": [
                                    {"traceId": "5b8efff798038103d269b633813fc60d", "spanId": "eee19b7ec3c1b175"}
                                ],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    req = otlp.parse("traces", codec.json_to_protobuf("traces", json.dumps(doc).encode()))
    span = req.resource_spans[0].scope_spans[0].spans[0]
    assert (
        span.trace_id.hex() == "5b8efff798038103d269b633813fc60c" and span.start_time_unix_nano == 1700000000000000000
    )
    assert span.links[0].span_id.hex() == "eee19b7ec3c1b175"
    # senders that use protobuf's base64 form for ids are accepted too
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = base64.b64encode(
        bytes.fromhex("eee19b7ec3c1b174")
    ).decode()
    req = otlp.parse("traces", codec.json_to_protobuf("traces", json.dumps(doc).encode()))
    assert req.resource_spans[0].scope_spans[0].spans[0].span_id.hex() == "eee19b7ec3c1b174"


@pytest.mark.parametrize(
    "body",
    [b"[1]", b'{"resourceSpans": "x"}', b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "xyz!"}]}]}]}'],
)
def test_json_errors_are_malformed(body: bytes) -> None:
    with pytest.raises(Malformed):
        codec.json_to_protobuf("traces", body)


def test_inflate_limits() -> None:
    assert codec.inflate(gzip.compress(b"abc"), "gzip", 10) == b"abc"
    with pytest.raises(TooLarge):
        codec.inflate(gzip.compress(b"a" * 100), "gzip", 10)
    with pytest.raises(Malformed):
        codec.inflate(gzip.compress(b"abc")[:-5], "gzip", 10)
    with pytest.raises(UnsupportedMediaType):
        codec.inflate(b"x", "zstd", 10)
    with pytest.raises(UnsupportedMediaType):
        codec.media_type("text/html")
    assert codec.media_type("application/json; charset=utf-8") == codec.JSON
