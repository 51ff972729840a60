"""OTLP ``AnyValue`` -> Python values and the string form kept in attribute maps.

Why separate: both the span and the log normalizer need the same conversions, and the rule for the
``attributes`` map (strings as they are, every other type as compact JSON) is part of the schema
contract that analysis queries rely on.
"""

from __future__ import annotations

import hashlib
import json
import json.decoder
import json.encoder
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

JsonValue = Any


def py_value(value: AnyValue) -> JsonValue:
    """Convert an AnyValue; bytes become hex text so every value is JSON-serialisable."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [py_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: py_value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, which)


# one encoder for every call: json.dumps with options builds a new one each time (a third of the cost
# for the small objects hashed per span, tool arguments above all)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


# the C encoder behind _CANONICAL.encode, which builds a new one per call (two thirds of its cost on a
# tool call's arguments), built once with the same options. Without the cycle check: it only encodes
# what json.loads returned, which has no cycles.
def _parsed_encoder() -> Any:
    try:  # a private constructor: where its signature differs, canonical_json does the work
        return json.encoder.c_make_encoder(None, str, json.encoder.encode_basestring, None, ":", ",", True, False, True)
    except TypeError:  # also None: no C accelerator in this Python
        return None


_PARSED = _parsed_encoder()


_SCAN = json.decoder.JSONDecoder().scan_once  # the C scanner json.loads ends in


def parse_json(text: str) -> JsonValue:
    """``json.loads(text)``: the same value, or the same error. The scanner is called directly when
    the text is one JSON value with nothing around it (most tool-argument texts): json.loads' own
    wrapper (whitespace and extra-data checks) costs twice the scan of a short object."""
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:  # leading whitespace, a BOM, nothing: json.loads decides
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


def canonical_parsed(value: JsonValue) -> str:
    """``canonical_json`` of what ``json.loads`` returned, the same text, faster."""
    if _PARSED is None or isinstance(value, str):
        return canonical_json(value)
    return "".join(_PARSED(value, 0))


def canonical_json(value: JsonValue) -> str:
    """Deterministic JSON (sorted keys, no spaces): equal content always hashes equal."""
    return _CANONICAL.encode(value)


def as_text(value: JsonValue) -> str:
    """The attribute-map form of a value: strings unchanged, everything else compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return canonical_json(value)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def truncate(text: str, limit: int) -> tuple[str, bool]:
    """Cut over-long values so one huge attribute never costs a span (or its batch) its place."""
    if len(text) <= limit:
        return text, False
    return text[:limit] + f"…[truncated {len(text) - limit} chars]", True


def _canonical_args(value: Any) -> str:
    """Tool arguments hash equal when they mean the same JSON, whatever the whitespace."""
    if isinstance(value, str):
        try:
            return canonical_parsed(parse_json(value))
        except ValueError:
            return value
    return canonical_json(value)


_ARGS_HASHES: dict[str, str] = {}
_MAX_ARGS_CACHED = 200_000  # distinct argument texts remembered; emptied when full


def args_hash(value: Any) -> str:
    """SHA-256 of canonical tool arguments; the same argument text recurs, so it is hashed once."""
    if not isinstance(value, str):
        return sha256(_canonical_args(value))
    digest = _ARGS_HASHES.get(value)
    if digest is None:
        if len(_ARGS_HASHES) >= _MAX_ARGS_CACHED:
            _ARGS_HASHES.clear()
        digest = _ARGS_HASHES[value] = sha256(_canonical_args(value))
    return digest
