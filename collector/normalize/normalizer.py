"""OTLP span/log + resource + scope -> canonical rows, driven only by ``conventions.py``.

Why it looks like this: this loop is the receiver's throughput ceiling (it runs in worker processes
behind the WAL). It converts only the attributes a table entry claims, keeps the rest as text, builds
one row tuple per span in schema order and transposes once per batch, so no per-column Python work
happens per span.
"""

from __future__ import annotations

import operator
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from driftline.collector import otlp
from driftline.collector.normalize import conventions as cv
from driftline.collector.normalize.values import as_text, canonical_json, py_value, sha256, truncate
from driftline.collector.normalize.views import as_view
from driftline.collector.schema import LOG_SCHEMA, SPAN_SCHEMA
from driftline.collector.scrub import scrub

HOUR_NS = 3_600_000_000_000
_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
_STATUS = ("UNSET", "OK", "ERROR")
TRUNCATED_KEY = "driftline.truncated"
EVENTS_KEY = "driftline.events"
LINKS_KEY = "driftline.links"


@dataclass(frozen=True)
class NormalizeOptions:
    """What the normalizer keeps. Content is hashed always, stored only with ``store_content``."""

    store_content: bool = False
    scrub_pii: bool = True
    max_value_chars: int = 8192
    max_content_chars: int = 65536
    agent_version_key: str | None = None


# --- the compiled table ---------------------------------------------------------------------------

_SPAN_INDEX = {name: i for i, name in enumerate(SPAN_SCHEMA.names)}
_N_SPAN_COLUMNS = len(_SPAN_INDEX)
_LOG_INDEX = {name: i for i, name in enumerate(LOG_SCHEMA.names)}


def _to_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return None


def _to_float(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _to_str(v: Any) -> str | None:
    return None if v is None else as_text(v)


def _to_strlist(v: Any) -> list[str] | None:
    if v is None:
        return None
    if isinstance(v, list):
        return [as_text(x) for x in v]
    return [as_text(v)]


_CONVERT: dict[str, Callable[[Any], Any]] = {"str": _to_str, "int": _to_int, "float": _to_float, "strlist": _to_strlist}


@dataclass(frozen=True)
class _Claim:
    """One way an attribute key can fill a column; lower ``rank`` wins (the table's order)."""

    index: int
    rank: int
    convert: Callable[[Any], Any]
    source: cv.Source


@dataclass(frozen=True)
class _Plan:
    by_key: dict[str, tuple[_Claim, ...]]
    globs: tuple[tuple[int, re.Pattern[str]], ...]


def _compile(convention: str) -> _Plan:
    """Invert the table for one convention: attribute key -> the columns it can fill, ranked.

    Iterating a span's ~12 keys against this index costs one dict probe per attribute, instead of
    probing every source key of every column.
    """
    by_key: dict[str, list[_Claim]] = {}
    globs = []
    for col in cv.COLUMNS:
        own = col.sources.get(convention, ())
        shared = col.sources.get(cv.GENAI, ()) if convention != cv.GENAI else ()
        srcs = tuple({s.key: s for s in reversed(own + shared)}.values())[::-1]
        for rank, src in enumerate(srcs):
            if "*" in src.key:
                globs.append((_SPAN_INDEX[col.name], re.compile(re.escape(src.key).replace(r"\*", r"\d+") + "$")))
            else:
                by_key.setdefault(src.key, []).append(_Claim(_SPAN_INDEX[col.name], rank, _CONVERT[col.type], src))
    return _Plan({k: tuple(v) for k, v in by_key.items()}, tuple(globs))


_PLANS = {c: _compile(c) for c in (*(conv.name for conv in cv.CONVENTIONS), cv.NONE)}

_SCALARS = frozenset({"string_value", "bool_value", "int_value", "double_value"})
_CONVENTION_RANK = {conv.name: i for i, conv in enumerate(cv.CONVENTIONS)}
_NO_CONVENTION = len(cv.CONVENTIONS)
# What an attribute does to a row, decided once per distinct encoded KeyValue and convention:
_CLAIMS, _DYNAMIC, _CONTENT, _REST = 0, 1, 2, 3


def _value(av: AnyValue) -> Any:
    which = av.WhichOneof("value")
    if which in _SCALARS:
        return getattr(av, which)
    return py_value(av) if which else None


def _marker_rank(key: str) -> int:
    """The rank of the convention this key alone identifies (lower wins), or _NO_CONVENTION."""
    for i, conv in enumerate(cv.CONVENTIONS):
        if key in conv.marker_keys or (conv.marker_prefixes and key.startswith(conv.marker_prefixes)):
            return i
    return _NO_CONVENTION


class _Key:
    """What a key means, worked out once: its convention marker and, per convention, its sources
    (static ones, ones that depend on another attribute) or its content role. ``distinct`` counts the
    values seen, so that keys whose values are all different (ids, token counts) stop filling the
    per-value cache."""

    __slots__ = ("distinct", "kinds", "marker", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.marker = _marker_rank(name)
        self.kinds: dict[str, tuple[int, Any]] = {}
        self.distinct = 0

    def kind(self, convention: str) -> tuple[int, Any]:
        found = self.kinds.get(convention)
        if found is None:
            claims = _PLANS[convention].by_key.get(self.name)
            if not claims:
                role = _content_role(self.name)
                found = (_CONTENT, role) if role else (_REST, None)
            elif any(c.source.when is not None for c in claims):
                found = (_DYNAMIC, claims)
            else:
                found = (_CLAIMS, claims)
            self.kinds[convention] = found
        return found


_KEYS: dict[str, _Key] = {}
_MARKER = operator.attrgetter("marker")
_VOLATILE_AFTER = 512  # distinct values after which a key's values are no longer cached


class _Attr:
    """One attribute (key and value), decoded once and shared by every span carrying the same bytes.

    ``effects[convention]`` is what it does to a row under that convention: fill columns (each fill
    as index, rank, value, the key to drop or None), fill columns depending on another attribute
    (``when`` sources), count as content, or stay in the attributes map as ``text``.
    """

    __slots__ = ("effects", "key", "marker", "meta", "text", "value")

    def __init__(self, meta: _Key, value: Any) -> None:
        self.meta = meta
        self.key = meta.name
        self.marker = meta.marker
        self.value = value
        self.text: str | None = None  # the attributes-map form, made only if the attribute stays there
        self.effects: dict[str, tuple[int, Any]] = {}

    def effect(self, convention: str) -> tuple[int, Any]:
        kind, payload = self.meta.kind(convention)
        if kind == _CLAIMS:
            fills = []
            for c in payload:
                fill = _apply(c.source, c.convert, self.value, self.key)
                if fill is not None:
                    fills.append((c.index, c.rank, *fill))
            payload = tuple(fills)
        self.effects[convention] = eff = (kind, payload)
        return eff


def _apply(src: cv.Source, convert: Callable[[Any], Any], value: Any, key: str) -> tuple[Any, str | None] | None:
    """(column value, key to drop from attributes or None) for one source, or None if it gives nothing."""
    val = convert(value)
    if val is None:
        return None
    if src.before and isinstance(val, str):
        val = val.split(src.before, 1)[0]
    if src.values is not None:
        mapped = src.values.get(val)
        if mapped is None:
            return None if src.values_only else ("other", None)  # unknown value: the key stays in attributes
        return mapped, key
    return val, key


_ATTRS: dict[bytes, _Attr] = {}
_MAX_CACHED = 200_000  # distinct encoded attributes kept; the cache is emptied when full


def _attr(raw: bytes) -> _Attr:
    kv = KeyValue.FromString(raw)
    meta = _KEYS.get(kv.key)
    if meta is None:
        meta = _Key(kv.key)
        if len(_KEYS) < _MAX_CACHED:  # bounded: a flood of distinct keys is classified, not remembered
            _KEYS[kv.key] = meta
    attr = _Attr(meta, _value(kv.value))
    if meta.distinct < _VOLATILE_AFTER:
        meta.distinct += 1
        if len(_ATTRS) >= _MAX_CACHED:
            _ATTRS.clear()
            _BASES.clear()  # keyed by the identity of cached attributes
        _ATTRS[raw] = attr
    elif len(_VOLATILE) < _MAX_CACHED and raw[0] == 0x0A and raw[1] < 0x80:
        _VOLATILE[raw[: 2 + raw[1]]] = meta  # from now on, decoded without protobuf (see _light)
    return attr


# Keys whose values rarely repeat (ids, token counts), by the encoded bytes of their key field.
_VOLATILE: dict[bytes, _Key] = {}
_DOUBLE = struct.Struct("<d")


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = raw[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _light(raw: bytes) -> tuple[_Key, Any] | None:
    """(key, value) of a volatile attribute read straight from its bytes, for the plain encodings
    of scalar values; None for anything else (the caller then decodes it with protobuf)."""
    if raw[0] != 0x0A or raw[1] >= 0x80:
        return None
    pos = 2 + raw[1]
    meta = _VOLATILE.get(raw[:pos])
    if meta is None or pos + 2 >= len(raw) or raw[pos] != 0x12:
        return None
    try:
        length, pos = _varint(raw, pos + 1)
        if pos + length != len(raw):
            return None
        tag = raw[pos]
        if tag == 0x18:  # int_value
            value, end = _varint(raw, pos + 1)
            if value >= 1 << 63:
                value -= 1 << 64
        elif tag == 0x0A:  # string_value
            n, start = _varint(raw, pos + 1)
            end = start + n
            value = raw[start:end].decode()
        elif tag == 0x21 and pos + 9 == len(raw):  # double_value
            value, end = _DOUBLE.unpack_from(raw, pos + 1)[0], pos + 9
        elif tag == 0x10:  # bool_value
            flag, end = _varint(raw, pos + 1)
            value = bool(flag)
        else:
            return None
    except (IndexError, ValueError, UnicodeDecodeError):
        return None
    return (meta, value) if end == len(raw) else None


def detect_convention(keys: Iterable[str], attrs: dict[str, Any]) -> str:
    for conv in cv.CONVENTIONS:
        for k in conv.marker_keys:
            if k in attrs:
                return conv.name
        if conv.marker_prefixes:
            for k in keys:
                if k.startswith(conv.marker_prefixes):
                    return conv.name
    return cv.NONE


def _content_role(key: str) -> str | None:
    role = cv.CONTENT_KEYS.get(key)
    if role is not None:
        return role
    for prefix, prole in cv.CONTENT_PREFIXES:
        if key.startswith(prefix):
            return prole if key.rsplit(".", 1)[-1] in cv.CONTENT_LEAVES else None
    return None


def _canonical_args(value: Any) -> str:
    """Tool arguments hash equal when they mean the same JSON, whatever the whitespace."""
    if isinstance(value, str):
        try:
            import json

            return canonical_json(json.loads(value))
        except ValueError:
            return value
    return canonical_json(value)


class _Classified:
    """What a set of attributes makes of a row: the convention, a template row with the columns they
    fill, the attributes that stay in the ``attributes`` map, and their content pieces."""

    __slots__ = ("chosen", "content", "convention", "rank", "rest", "row")

    def __init__(
        self,
        rank: int,
        row: list[Any],
        chosen: dict[int, tuple[int, str | None]],
        rest: list[_Attr],
        content: _Content | None,
    ) -> None:
        self.rank = rank
        self.convention = cv.CONVENTIONS[rank].name if rank < _NO_CONVENTION else cv.NONE
        self.row = row
        self.chosen = chosen
        self.rest = rest
        self.content = content


def _classify(attrs: list[_Attr]) -> _Classified:
    """The general path: every attribute's effect under the span's convention, ranks resolved."""
    rank = min(map(_MARKER, attrs), default=_NO_CONVENTION)
    convention = cv.CONVENTIONS[rank].name if rank < _NO_CONVENTION else cv.NONE
    row: list[Any] = [None] * _N_SPAN_COLUMNS
    chosen: dict[int, tuple[int, str | None]] = {}  # column -> (rank of its source, key to drop)
    content: _Content | None = None
    claimers: list[_Attr] = []
    rest: list[_Attr] = []
    for a in attrs:
        kind, payload = a.effects.get(convention) or a.effect(convention)
        if kind == _CLAIMS:
            claimers.append(a)
            for index, source_rank, val, owner in payload:
                prev = chosen.get(index)
                if prev is None or source_rank < prev[0]:
                    row[index] = val
                    chosen[index] = (source_rank, owner)
        elif kind == _REST:
            rest.append(a)
        elif kind == _CONTENT:
            if content is None:
                content = _Content()
            content.add(payload, a.key, a.value)
        else:  # _DYNAMIC: a source that depends on another attribute's value
            claimers.append(a)
            by_key = {b.key: b.value for b in attrs}
            for c in payload:
                prev = chosen.get(c.index)
                if prev is not None and prev[0] <= c.rank:
                    continue
                when = c.source.when
                if when is not None and _to_str(by_key.get(when[0])) not in when[1]:
                    continue
                fill = _apply(c.source, c.convert, a.value, a.key)
                if fill is not None:
                    row[c.index] = fill[0]
                    chosen[c.index] = (c.rank, fill[1])
    if claimers:
        owners = {owner for _, owner in chosen.values()}
        rest.extend(a for a in claimers if a.key not in owners)
    for index, pattern in _PLANS[convention].globs:
        if row[index] is None:
            matches = sorted((a for a in rest if pattern.match(a.key)), key=lambda a: a.key)
            if matches:
                row[index] = [as_text(a.value) for a in matches]
                rest = [a for a in rest if not pattern.match(a.key)]
    return _Classified(rank, row, chosen, rest, content)


def _as_attr(item: _Attr | tuple[_Key, Any]) -> _Attr:
    return _Attr(*item) if type(item) is tuple else item  # type: ignore[return-value]


def _combine(base: _Classified, fresh: list[_Attr | tuple[_Key, Any]]) -> _Classified | None:
    """The fast path: a cached classification of a span's recurring attributes plus its few fresh
    ones (ids, token counts). None when a fresh attribute could change what the cached part decided
    (another convention, a column already filled, a ``when`` or wildcard source): then the caller
    takes the general path."""
    rank = min(f[0].marker if type(f) is tuple else f.marker for f in fresh)
    if rank < base.rank:
        return None
    convention = base.convention
    if _PLANS[convention].globs:
        return None
    row = list(base.row)
    taken = base.chosen
    local: dict[int, tuple[int, str | None]] = {}
    claimers: list[_Attr] = []
    light_claimers: list[tuple[_Key, Any]] = []
    rest = list(base.rest)
    content = base.content
    for a in fresh:
        if type(a) is tuple:  # a volatile attribute: (key meta, value), not worth an _Attr
            meta, value = a
            kind, claims = meta.kind(convention)
            if kind == _CLAIMS:
                for c in claims:
                    if c.index in taken:
                        return None
                    fill = _apply(c.source, c.convert, value, meta.name)
                    prev = local.get(c.index)
                    if fill is not None and (prev is None or c.rank < prev[0]):
                        row[c.index] = fill[0]
                        local[c.index] = (c.rank, fill[1])
                light_claimers.append(a)
                continue
            if kind == _DYNAMIC:
                return None
            a = _Attr(meta, value)
        kind, payload = a.effects.get(convention) or a.effect(convention)
        if kind == _CLAIMS:
            claimers.append(a)
            for index, source_rank, val, owner in payload:
                if index in taken:
                    return None
                prev = local.get(index)
                if prev is None or source_rank < prev[0]:
                    row[index] = val
                    local[index] = (source_rank, owner)
        elif kind == _REST:
            rest.append(a)
        elif kind == _CONTENT:
            content = content.copy() if content is not None else _Content()
            content.add(payload, a.key, a.value)
        else:
            return None
    if claimers or light_claimers:
        owners = {owner for _, owner in local.values()}
        rest.extend(a for a in claimers if a.key not in owners)
        rest.extend(_Attr(meta, value) for meta, value in light_claimers if meta.name not in owners)
    return _Classified(base.rank, row, {**taken, **local}, rest, content)


# Classifications of recurring attribute tuples (by identity of their cached _Attr objects).
_BASES: dict[tuple[_Attr, ...], _Classified] = {}
_MAX_BASES = 20_000


_ARGS_HASHES: dict[str, str] = {}


def _args_hash(value: Any) -> str:
    """SHA-256 of canonical tool arguments; the same argument text recurs, so it is hashed once."""
    if not isinstance(value, str):
        return sha256(_canonical_args(value))
    digest = _ARGS_HASHES.get(value)
    if digest is None:
        if len(_ARGS_HASHES) >= _MAX_CACHED:
            _ARGS_HASHES.clear()
        digest = _ARGS_HASHES[value] = sha256(_canonical_args(value))
    return digest


class _Content:
    """Content pieces of one span, grouped by role, turned into hash / length / stored text."""

    __slots__ = ("pieces",)

    def __init__(self) -> None:
        self.pieces: dict[str, list[tuple[str, Any]]] = {}

    def copy(self) -> _Content:
        other = _Content()
        other.pieces = {role: list(parts) for role, parts in self.pieces.items()}
        return other

    def add(self, role: str, key: str, value: Any) -> None:
        self.pieces.setdefault(role, []).append((key, value))

    def text(self, role: str) -> str | None:
        parts = self.pieces.get(role)
        if not parts:
            return None
        if len(parts) == 1:
            v = parts[0][1]
            return v if isinstance(v, str) else canonical_json(v)
        return canonical_json({k: v for k, v in sorted(parts)})

    def chars(self, role: str) -> int | None:
        parts = self.pieces.get(role)
        if not parts:
            return None
        return sum(len(v) if isinstance(v, str) else len(canonical_json(v)) for _, v in parts)


class _Base:
    def __init__(self, options: NormalizeOptions) -> None:
        self.options = options
        self.rows: list[list[Any]] = []
        self.hours: list[int] = []
        self.rejected = 0

    def _attr_map(self, items: Iterable[tuple[str, Any]], truncated: list[str]) -> list[tuple[str, str]]:
        limit = self.options.max_value_chars
        out = []
        for k, v in items:
            text = as_text(v)
            if len(text) > limit:
                text, _ = truncate(text, limit)
                truncated.append(k)
            out.append((k, text))
        return out

    def _content_columns(self, row: list[Any], content: _Content) -> None:
        """Hashes, lengths and (with --store-content) scrubbed text of the span's content."""
        inp, out = content.text("input"), content.text("output")
        system, args = content.text("system"), content.pieces.get("tool_args")
        if inp is not None:
            row[_I_INPUT_HASH] = sha256(inp)
            row[_I_INPUT_CHARS] = content.chars("input")
            row[_I_INPUT_CONTENT] = self._stored(inp)
        if out is not None:
            row[_I_OUTPUT_HASH] = sha256(out)
            row[_I_OUTPUT_CHARS] = content.chars("output")
            row[_I_OUTPUT_CONTENT] = self._stored(out)
        if system is not None:
            row[_I_PROMPT_HASH] = sha256(system)
        if args:
            row[_I_ARGS_HASH] = _args_hash(args[0][1])
        elif row[_I_OPERATION] == "execute_tool" and inp is not None:
            row[_I_ARGS_HASH] = _args_hash(content.pieces["input"][0][1])

    def _texts(self, attrs: list[_Attr], truncated: list[str]) -> list[tuple[str, str]]:
        limit = self.options.max_value_chars
        out = []
        for a in attrs:
            text = a.text
            if text is None:
                text = a.text = as_text(a.value) if a.value is not None else ""
            if len(text) > limit:
                text = truncate(text, limit)[0]
                truncated.append(a.key)
            out.append((a.key, text))
        return out

    def _stored(self, text: str | None) -> str | None:
        if text is None or not self.options.store_content:
            return None
        if self.options.scrub_pii:
            text = scrub(text)
        return truncate(text, self.options.max_content_chars)[0]

    def _resource(
        self, attributes: Iterable[KeyValue]
    ) -> tuple[str | None, str | None, str | None, dict[str, Any], list]:
        raw = {kv.key: py_value(kv.value) for kv in attributes}
        rest = dict(raw)
        found: list[str | None] = []
        for keys in cv.RESOURCE_COLUMNS.values():
            val = None
            for k in keys:
                if k in rest:
                    val = _to_str(rest.pop(k))
                    break
            found.append(val)
        truncated: list[str] = []
        rmap = self._attr_map(rest.items(), truncated)
        return found[0], found[1], found[2], raw, rmap

    def table(self, schema: pa.Schema) -> pa.Table:
        if not self.rows:
            return schema.empty_table()
        columns = list(zip(*self.rows, strict=False))
        arrays = [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=False)]
        return pa.Table.from_arrays(arrays, schema=schema)


class SpanNormalizer(_Base):
    """Accumulates canonical span rows for one batch (one WAL segment), deduplicated by ids."""

    def __init__(self, options: NormalizeOptions) -> None:
        super().__init__(options)
        self._seen: set[bytes] = set()
        self.duplicates = 0

    def add_request(self, request: Any, received_ns: int) -> None:
        for rs in as_view(request).resource_spans:
            svc, ver, env, raw_res, rmap = self._resource(rs.resource.attributes)
            for ss in rs.scope_spans:
                scope = ss.scope
                fixed = (svc, ver, env, scope.name or None, scope.version or None)
                seen = self._seen
                for span in ss.spans:
                    tid, sid, pid, start = span.trace_id, span.span_id, span.parent_span_id, span.start_time_unix_nano
                    if otlp.ids_problem(tid, sid, pid, start) is not None:
                        self.rejected += 1
                        continue
                    key = tid + sid
                    if key in seen:
                        self.duplicates += 1
                        continue
                    seen.add(key)
                    self._add_span(span, tid, sid, pid, start, fixed, ver, raw_res, rmap, received_ns)

    def _add_span(
        self,
        span: Span,
        tid: bytes,
        sid: bytes,
        pid: bytes,
        start: int,
        fixed: tuple[str | None, ...],
        ver: str | None,
        raw_res: dict[str, Any],
        rmap: list,
        received_ns: int,
    ) -> None:
        """One span's row. ``fixed`` holds the columns its resource and scope decide (service,
        version, environment, scope name and version), in schema order."""
        raws = span.attributes
        found: list[_Attr | None] = list(map(_ATTRS.get, raws))  # one C-level pass; misses are None
        if None in found:
            stable = tuple([a for a in found if a is not None])
            fresh = [_light(raw) or _attr(raw) for a, raw in zip(found, raws, strict=True) if a is None]
        else:
            stable, fresh = tuple(found), []  # type: ignore[arg-type]
        base = _BASES.get(stable)
        if base is None:
            base = _classify(list(stable))
            if len(_BASES) >= _MAX_BASES:
                _BASES.clear()
            _BASES[stable] = base
        if not fresh:
            convention, row, content, rest = base.convention, list(base.row), base.content, base.rest
        else:
            combined = _combine(base, fresh) or _classify([*stable, *map(_as_attr, fresh)])
            convention, row, content, rest = combined.convention, list(combined.row), combined.content, combined.rest
        truncated: list[str] = []
        extra: list[tuple[str, Any]] = []
        if span.events:
            if content is not None:
                content = content.copy()  # the cached classification's content is shared: add to a copy
            events = []
            for ev in span.events:
                eattrs = {}
                for kv in ev.attributes:
                    role = _content_role(kv.key)
                    if role:
                        if content is None:
                            content = _Content()
                        content.add(role, f"event.{ev.name}.{kv.key}", py_value(kv.value))
                    else:
                        eattrs[kv.key] = py_value(kv.value)
                if ev.name == cv.EXCEPTION_EVENT and row[_I_ERROR] is None and cv.EXCEPTION_TYPE_KEY in eattrs:
                    row[_I_ERROR] = _to_str(eattrs[cv.EXCEPTION_TYPE_KEY])
                events.append({"name": ev.name, "time_unix_nano": ev.time_unix_nano, "attributes": eattrs})
            extra.append((EVENTS_KEY, events))
        if span.links:
            extra.append(
                (LINKS_KEY, [{"trace_id": ln.trace_id.hex(), "span_id": ln.span_id.hex()} for ln in span.links])
            )

        opts = self.options
        if opts.agent_version_key:
            override = next((a for a in rest if a.key == opts.agent_version_key), None)
            if override is not None:
                rest = [a for a in rest if a is not override]  # rest may be a cached, shared list
                row[_I_AGENT_VERSION] = _to_str(override.value)
            elif opts.agent_version_key in raw_res:
                row[_I_AGENT_VERSION] = _to_str(raw_res[opts.agent_version_key])
        if row[_I_AGENT_VERSION] is None:
            row[_I_AGENT_VERSION] = ver
        if row[_I_OPERATION] is None:
            row[_I_OPERATION] = "execute_tool" if row[_I_TOOL] else "other"
        if row[_I_COST] is not None and row[_I_CURRENCY] is None:
            row[_I_CURRENCY] = cv.DEFAULT_COST_CURRENCY

        attr_map = self._texts(rest, truncated)
        if extra:
            attr_map += self._attr_map(extra, truncated)
        if truncated:
            attr_map.append((TRUNCATED_KEY, canonical_json(truncated)))

        if content is not None:
            self._content_columns(row, content)

        end = span.end_time_unix_nano
        status = span.status
        code = status.code
        kind = span.kind
        row[0:10] = (
            tid.hex(),
            sid.hex(),
            pid.hex() or None,
            span.name,
            _KINDS[kind] if kind < 6 else "unspecified",
            _STATUS[code] if code < 3 else "UNSET",
            status.message or None,
            start,
            end or None,
            (end - start) / 1e6 if end >= start and end else None,
        )
        row[10:15] = fixed
        row[_I_ATTRS] = attr_map
        row[_I_RATTRS] = rmap
        row[_I_CONVENTION] = convention
        row[_I_RECEIVED] = received_ns
        self.rows.append(row)
        self.hours.append(start // HOUR_NS)

    def table(self) -> pa.Table:  # type: ignore[override]
        return super().table(SPAN_SCHEMA)


_I = _SPAN_INDEX
_I_ERROR, _I_AGENT_VERSION, _I_OPERATION, _I_TOOL = (
    _I["error_type"],
    _I["agent_version"],
    _I["operation"],
    _I["tool_name"],
)
_I_COST, _I_CURRENCY = _I["cost_reported"], _I["cost_currency"]
_I_INPUT_HASH, _I_INPUT_CHARS, _I_INPUT_CONTENT = _I["input_hash"], _I["input_chars"], _I["input_content"]
_I_OUTPUT_HASH, _I_OUTPUT_CHARS, _I_OUTPUT_CONTENT = _I["output_hash"], _I["output_chars"], _I["output_content"]
_I_PROMPT_HASH, _I_ARGS_HASH = _I["prompt_hash"], _I["tool_args_hash"]
_I_ATTRS, _I_RATTRS, _I_CONVENTION, _I_RECEIVED = (
    _I["attributes"],
    _I["resource_attributes"],
    _I["convention"],
    _I["received_at"],
)
assert SPAN_SCHEMA.names[:15] == [
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "status_code",
    "status_message",
    "start_time",
    "end_time",
    "duration_ms",
    "service_name",
    "service_version",
    "environment",
    "scope_name",
    "scope_version",
]


class LogNormalizer(_Base):
    """Accumulates canonical log rows (GenAI events, late labels) for one batch."""

    def add_request(self, request: Any, received_ns: int) -> None:
        for rl in request.resource_logs:
            svc, ver, env, _raw, rmap = self._resource(rl.resource.attributes)
            for sl in rl.scope_logs:
                for rec in sl.log_records:
                    if otlp.log_problem(rec) is not None:
                        self.rejected += 1
                        continue
                    self._add_log(rec, svc, ver, env, rmap, sl.scope.name or None, received_ns)

    def _add_log(
        self,
        rec: LogRecord,
        svc: str | None,
        ver: str | None,
        env: str | None,
        rmap: list,
        scope_name: str | None,
        received_ns: int,
    ) -> None:
        content = _Content()
        rest: list[tuple[str, Any]] = []
        event_name = getattr(rec, "event_name", "") or None
        for kv in rec.attributes:
            role = _content_role(kv.key)
            if role:
                content.add(role, kv.key, py_value(kv.value))
            elif kv.key == "event.name" and event_name is None:
                event_name = _to_str(py_value(kv.value))
            else:
                rest.append((kv.key, py_value(kv.value)))
        truncated: list[str] = []
        attr_map = self._attr_map(rest, truncated)
        if truncated:
            attr_map.append((TRUNCATED_KEY, canonical_json(truncated)))
        body = py_value(rec.body) if rec.HasField("body") else None
        body_text = None if body is None else (body if isinstance(body, str) else canonical_json(body))
        if content.pieces:  # content-bearing attributes (gen_ai.input.messages...) join the body's hash
            merged = {k: v for parts in content.pieces.values() for k, v in parts}
            if body is not None:
                merged["body"] = body
            body_text = canonical_json(merged)
        t = rec.time_unix_nano or rec.observed_time_unix_nano or received_ns
        row: list[Any] = [None] * len(_LOG_INDEX)
        row[0] = rec.trace_id.hex() or None
        row[1] = rec.span_id.hex() or None
        row[2] = t
        row[3] = rec.observed_time_unix_nano or None
        row[4] = rec.severity_number
        row[5] = rec.severity_text or None
        row[6] = event_name
        if body_text is not None:
            row[7] = sha256(body_text)
            row[8] = len(body_text)
            row[9] = self._stored(body_text)
        row[10], row[11], row[12], row[13] = svc, ver, env, scope_name
        row[14] = attr_map
        row[15] = rmap
        row[16] = received_ns
        self.rows.append(row)
        self.hours.append(t // HOUR_NS)

    def table(self) -> pa.Table:  # type: ignore[override]
        return super().table(LOG_SCHEMA)


assert LOG_SCHEMA.names == [
    "trace_id",
    "span_id",
    "time",
    "observed_time",
    "severity_number",
    "severity_text",
    "event_name",
    "body_hash",
    "body_chars",
    "body",
    "service_name",
    "service_version",
    "environment",
    "scope_name",
    "attributes",
    "resource_attributes",
    "received_at",
]
