"""Stage 3, the attribute half: what each span attribute means for a canonical row, decided once.

Why a module of its own: a span's attributes are the bulk of the normalizer's work. Here the mapping
table (``conventions.py``) is compiled into an index from key to the columns it can fill; each
distinct encoded attribute is decoded and classified once (``ATTR_CACHE``); the classification of a
recurring set of attributes is cached too (``BASE_CACHE``), so a span costs a dictionary lookup plus
the handful of attributes that really vary (ids, token counts), which are read straight from their
bytes once a key is known to be high-cardinality. ``classify`` is the general path every cached
path must agree with (tests/unit/test_normalizer_caches.py checks that they do).
"""

from __future__ import annotations

import operator
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from driftline.collector.normalize import conventions as cv
from driftline.collector.normalize.values import as_text, canonical_json, py_value
from driftline.collector.schema import SPAN_SCHEMA

SPAN_INDEX = {name: i for i, name in enumerate(SPAN_SCHEMA.names)}
N_SPAN_COLUMNS = len(SPAN_INDEX)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _to_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    try:
        n = int(float(v))
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite token count
        return None
    return n if _INT64_MIN <= n <= _INT64_MAX else None  # the column is int64


def _to_float(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def to_str(v: Any) -> str | None:
    return None if v is None else as_text(v)


def _to_strlist(v: Any) -> list[str] | None:
    if v is None:
        return None
    if isinstance(v, list):
        return [as_text(x) for x in v]
    return [as_text(v)]


CONVERT: dict[str, Callable[[Any], Any]] = {"str": to_str, "int": _to_int, "float": _to_float, "strlist": _to_strlist}


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
                globs.append((SPAN_INDEX[col.name], re.compile(re.escape(src.key).replace(r"\*", r"\d+") + "$")))
            else:
                by_key.setdefault(src.key, []).append(_Claim(SPAN_INDEX[col.name], rank, CONVERT[col.type], src))
    return _Plan({k: tuple(v) for k, v in by_key.items()}, tuple(globs))


PLANS = {c: _compile(c) for c in (*(conv.name for conv in cv.CONVENTIONS), cv.NONE)}

_SCALARS = frozenset({"string_value", "bool_value", "int_value", "double_value"})
_NO_CONVENTION = len(cv.CONVENTIONS)
# What an attribute does to a row, decided once per distinct encoded KeyValue and convention:
CLAIMS, DYNAMIC, CONTENT, REST = 0, 1, 2, 3


def value_of(av: AnyValue) -> Any:
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


class Key:
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
            claims = PLANS[convention].by_key.get(self.name)
            if not claims:
                role = content_role(self.name)
                found = (CONTENT, role) if role else (REST, None)
            elif any(c.source.when is not None for c in claims):
                found = (DYNAMIC, claims)
            else:
                found = (CLAIMS, claims)
            self.kinds[convention] = found
        return found


_KEYS: dict[str, Key] = {}
_MARKER = operator.attrgetter("marker")
VOLATILE_AFTER = 512  # distinct values after which a key's values are no longer cached


class Attr:
    """One attribute (key and value), decoded once and shared by every span carrying the same bytes.

    ``effects[convention]`` is what it does to a row under that convention: fill columns (each fill
    as index, rank, value, the key to drop or None), fill columns depending on another attribute
    (``when`` sources), count as content, or stay in the attributes map as ``text``.
    """

    __slots__ = ("effects", "key", "marker", "meta", "text", "value")

    def __init__(self, meta: Key, value: Any) -> None:
        self.meta = meta
        self.key = meta.name
        self.marker = meta.marker
        self.value = value
        self.text: str | None = None  # the attributes-map form, made only if the attribute stays there
        self.effects: dict[str, tuple[int, Any]] = {}

    def effect(self, convention: str) -> tuple[int, Any]:
        kind, payload = self.meta.kind(convention)
        if kind == CLAIMS:
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
    if src.not_values is not None and val in src.not_values:
        return None
    if src.values is not None:
        mapped = src.values.get(val)
        if mapped is None:
            return None if src.values_only else ("other", None)  # unknown value: the key stays in attributes
        return mapped, key
    return val, key


ATTR_CACHE: dict[bytes, Attr] = {}
MAX_CACHED = 200_000  # distinct encoded attributes kept; the cache is emptied when full


def decode_attr(raw: bytes) -> Attr:
    kv = KeyValue.FromString(raw)
    meta = _KEYS.get(kv.key)
    if meta is None:
        meta = Key(kv.key)
        if len(_KEYS) < MAX_CACHED:  # bounded: a flood of distinct keys is classified, not remembered
            _KEYS[kv.key] = meta
    attr = Attr(meta, value_of(kv.value))
    if meta.distinct < VOLATILE_AFTER:
        meta.distinct += 1
        if len(ATTR_CACHE) >= MAX_CACHED:
            ATTR_CACHE.clear()
            BASE_CACHE.clear()  # keyed by the identity of cached attributes
        ATTR_CACHE[raw] = attr
    elif len(VOLATILE_KEYS) < MAX_CACHED and raw[0] == 0x0A and raw[1] < 0x80:
        VOLATILE_KEYS[raw[: 2 + raw[1]]] = meta  # from now on, decoded without protobuf (see light)
    return attr


# Keys whose values rarely repeat (ids, token counts), by the encoded bytes of their key field.
VOLATILE_KEYS: dict[bytes, Key] = {}
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


def light(raw: bytes) -> tuple[Key, Any] | None:
    """(key, value) of a volatile attribute read straight from its bytes, for the plain encodings
    of scalar values; None for anything else (the caller then decodes it with protobuf)."""
    if raw[0] != 0x0A or raw[1] >= 0x80:
        return None
    pos = 2 + raw[1]
    meta = VOLATILE_KEYS.get(raw[:pos])
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


def content_role(key: str) -> str | None:
    role = cv.CONTENT_KEYS.get(key)
    if role is not None:
        return role
    for prefix, prole in cv.CONTENT_PREFIXES:
        if key.startswith(prefix):
            return prole if key.rsplit(".", 1)[-1] in cv.CONTENT_LEAVES else None
    return None


class Classified:
    """What a set of attributes makes of a row: the convention, a template row with the columns they
    fill, the attributes that stay in the ``attributes`` map, and their content pieces."""

    __slots__ = ("chosen", "content", "convention", "rank", "rest", "row")

    def __init__(
        self,
        rank: int,
        row: list[Any],
        chosen: dict[int, tuple[int, str | None]],
        rest: list[Attr],
        content: Content | None,
    ) -> None:
        self.rank = rank
        self.convention = cv.CONVENTIONS[rank].name if rank < _NO_CONVENTION else cv.NONE
        self.row = row
        self.chosen = chosen
        self.rest = rest
        self.content = content


def classify(attrs: list[Attr]) -> Classified:
    """The general path: every attribute's effect under the span's convention, ranks resolved."""
    rank = min(map(_MARKER, attrs), default=_NO_CONVENTION)
    convention = cv.CONVENTIONS[rank].name if rank < _NO_CONVENTION else cv.NONE
    row: list[Any] = [None] * N_SPAN_COLUMNS
    chosen: dict[int, tuple[int, str | None]] = {}  # column -> (rank of its source, key to drop)
    content: Content | None = None
    claimers: list[Attr] = []
    rest: list[Attr] = []
    for a in attrs:
        kind, payload = a.effects.get(convention) or a.effect(convention)
        if kind == CLAIMS:
            claimers.append(a)
            for index, source_rank, val, owner in payload:
                prev = chosen.get(index)
                if prev is None or source_rank < prev[0]:
                    row[index] = val
                    chosen[index] = (source_rank, owner)
        elif kind == REST:
            rest.append(a)
        elif kind == CONTENT:
            if content is None:
                content = Content()
            content.add(payload, a.key, a.value)
        else:  # DYNAMIC: a source that depends on another attribute's value
            claimers.append(a)
            by_key = {b.key: b.value for b in attrs}
            for c in payload:
                prev = chosen.get(c.index)
                if prev is not None and prev[0] <= c.rank:
                    continue
                when = c.source.when
                if when is not None and to_str(by_key.get(when[0])) not in when[1]:
                    continue
                fill = _apply(c.source, c.convert, a.value, a.key)
                if fill is not None:
                    row[c.index] = fill[0]
                    chosen[c.index] = (c.rank, fill[1])
    if claimers:
        owners = {owner for _, owner in chosen.values()}
        rest.extend(a for a in claimers if a.key not in owners)
    for index, pattern in PLANS[convention].globs:
        if row[index] is None:
            matches = sorted((a for a in rest if pattern.match(a.key)), key=lambda a: a.key)
            if matches:
                row[index] = [as_text(a.value) for a in matches]
                rest = [a for a in rest if not pattern.match(a.key)]
    return Classified(rank, row, chosen, rest, content)


def as_attr(item: Attr | tuple[Key, Any]) -> Attr:
    return Attr(*item) if type(item) is tuple else item  # type: ignore[return-value]


def combine(base: Classified, fresh: list[Attr | tuple[Key, Any]]) -> Classified | None:
    """The fast path: a cached classification of a span's recurring attributes plus its few fresh
    ones (ids, token counts). None when a fresh attribute could change what the cached part decided
    (another convention, a column already filled, a ``when`` or wildcard source): then the caller
    takes the general path."""
    rank = min(f[0].marker if type(f) is tuple else f.marker for f in fresh)
    if rank < base.rank:
        return None
    convention = base.convention
    if PLANS[convention].globs:
        return None
    row = list(base.row)
    taken = base.chosen
    local: dict[int, tuple[int, str | None]] = {}
    claimers: list[Attr] = []
    light_claimers: list[tuple[Key, Any]] = []
    rest = list(base.rest)
    content = base.content
    for a in fresh:
        if type(a) is tuple:  # a volatile attribute: (key meta, value), not worth an Attr
            meta, value = a
            kind, payload = meta.kind(convention)
            if kind == CLAIMS:
                for c in payload:
                    if c.index in taken:
                        return None
                    fill = _apply(c.source, c.convert, value, meta.name)
                    prev = local.get(c.index)
                    if fill is not None and (prev is None or c.rank < prev[0]):
                        row[c.index] = fill[0]
                        local[c.index] = (c.rank, fill[1])
                light_claimers.append(a)
            elif kind == CONTENT:
                content = content.copy() if content is not None else Content()
                content.add(payload, meta.name, value)
            elif kind == REST:
                rest.append(Attr(meta, value))
            else:
                return None
            continue
        kind, payload = a.effects.get(convention) or a.effect(convention)
        if kind == CLAIMS:
            claimers.append(a)
            for index, source_rank, val, owner in payload:
                if index in taken:
                    return None
                prev = local.get(index)
                if prev is None or source_rank < prev[0]:
                    row[index] = val
                    local[index] = (source_rank, owner)
        elif kind == REST:
            rest.append(a)
        elif kind == CONTENT:
            content = content.copy() if content is not None else Content()
            content.add(payload, a.key, a.value)
        else:
            return None
    if claimers or light_claimers:
        # as in classify: a claiming key that owns a column leaves the map in every copy (a key can
        # come twice), whichever of its copies were cached and whichever were fresh
        owners = {owner for _, owner in local.values()}
        if owners:
            rest = [a for a in rest if a.key not in owners]
        owners.update(owner for _, owner in taken.values())
        rest.extend(a for a in claimers if a.key not in owners)
        rest.extend(Attr(meta, value) for meta, value in light_claimers if meta.name not in owners)
    return Classified(base.rank, row, {**taken, **local}, rest, content)


# Classifications of recurring attribute tuples (by identity of their cached Attr objects).
BASE_CACHE: dict[tuple[Attr, ...], Classified] = {}
MAX_BASES = 20_000


_BY_TEXT = operator.itemgetter(0, 1)


class Content:
    """Content pieces of one span, grouped by role, turned into hash / length / stored text."""

    __slots__ = ("pieces",)

    def __init__(self) -> None:
        self.pieces: dict[str, list[tuple[str, Any]]] = {}

    def copy(self) -> Content:
        other = Content()
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
        # sorted by key, then by the value's own text: a key that came twice (invalid OTLP, but it
        # arrives) gives the same text whatever order the pieces were added in, and values of
        # different types are never compared with each other
        return canonical_json({k: v for k, _, v in sorted(((k, canonical_json(v), v) for k, v in parts), key=_BY_TEXT)})

    def chars(self, role: str) -> int | None:
        parts = self.pieces.get(role)
        if not parts:
            return None
        return sum(len(v) if isinstance(v, str) else len(canonical_json(v)) for _, v in parts)
