"""Stage 1 (HTTP): content type -> protobuf bytes; gzip with a cap applied after inflating.

Why JSON is turned into protobuf here: the WAL stores one encoding, so the normalizer has one input
format. OTLP/JSON differs from protobuf's canonical JSON in one trap: trace and span ids are hex,
not base64, so they are rewritten before ``ParseDict``. Unknown fields are ignored, as the OTLP
spec asks of receivers.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from driftline.collector import otlp
from driftline.collector.errors import Malformed, TooLarge, UnsupportedMediaType

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_MAX_JSON_DEPTH = 64


def media_type(content_type: str | None) -> str:
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base in (PROTOBUF, "application/protobuf"):
        return PROTOBUF
    if base == JSON:
        return JSON
    raise UnsupportedMediaType(f"unsupported Content-Type {content_type!r}: use {PROTOBUF} or {JSON}")


def inflate(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo Content-Encoding, refusing to inflate past ``limit`` bytes (gzip bombs)."""
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        return body
    if enc not in ("gzip", "deflate"):
        raise UnsupportedMediaType(f"unsupported Content-Encoding {encoding!r}: use gzip or none")
    d = zlib.decompressobj(wbits=47 if enc == "gzip" else 15)  # 47: gzip or zlib header
    try:
        out = d.decompress(body, limit + 1)
    except zlib.error as exc:
        raise Malformed(f"body is not valid {enc} data: {exc}") from exc
    if len(out) > limit or d.unconsumed_tail:
        raise TooLarge(f"request body inflates to more than {limit} bytes")
    if not d.eof:
        raise Malformed(f"{enc} body is truncated")
    return out


def _hex_to_b64(obj: dict[str, Any], key: str) -> None:
    value = obj.get(key)
    if value in (None, ""):
        return
    if not isinstance(value, str):
        raise Malformed(f"{key} must be a hex string")
    try:
        obj[key] = base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        # Some senders use protobuf's own base64 form; accept it when it decodes to a valid id length.
        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error:
            raise Malformed(f"{key} {value[:40]!r} is neither hex nor base64") from None
        if len(raw) not in (8, 16):
            raise Malformed(f"{key} {value[:40]!r} is not a valid id") from None


def _fix_ids(node: Any, depth: int = 0) -> None:
    if depth > _MAX_JSON_DEPTH:
        raise Malformed(f"JSON nested deeper than {_MAX_JSON_DEPTH} levels")
    if isinstance(node, dict):
        for key in _ID_KEYS:
            if key in node and not isinstance(node[key], (dict, list)):
                _hex_to_b64(node, key)
        for key, value in node.items():
            if isinstance(value, (dict, list)) and key not in ("attributes", "body", "value", "values"):
                _fix_ids(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            _fix_ids(item, depth + 1)


def json_to_protobuf(signal: otlp.Signal, body: bytes) -> bytes:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Malformed(f"invalid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise Malformed("OTLP JSON must be an object")
    _fix_ids(doc)
    message = otlp.REQUEST_TYPES[signal]()
    try:
        json_format.ParseDict(doc, message, ignore_unknown_fields=True, max_recursion_depth=_MAX_JSON_DEPTH)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise Malformed(f"not a valid OTLP {signal} JSON document: {exc}") from exc
    return message.SerializeToString()


def encode_response(message: Message, media: str) -> bytes:
    """The response mirrors the request's encoding (OTLP/HTTP spec)."""
    if media == JSON:
        return json_format.MessageToJson(message, indent=None).encode()
    return message.SerializeToString()
