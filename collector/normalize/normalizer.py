"""Stage 3, the row half for spans: OTLP span + resource + scope -> canonical rows, deduplicated per batch
(logs: ``log_normalizer.py``).

Why it looks like this: this loop is the receiver's throughput ceiling (it runs in worker processes
behind the WAL). What attributes mean comes from ``attributes.py`` (driven only by the mapping table
in ``conventions.py``); here each span's row is assembled as one list in schema order, and a batch
is transposed into Arrow columns a few thousand rows at a time, so no per-column Python work happens per span.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from driftline.collector import otlp
from driftline.collector.embed import spool
from driftline.collector.normalize import agent_events, recipes, retrieval, tools_offered
from driftline.collector.normalize import conventions as cv
from driftline.collector.normalize.attributes import (
    ATTR_CACHE,
    BASE_CACHE,
    MAX_BASES,
    SPAN_INDEX,
    Attr,
    Content,
    as_attr,
    classify,
    combine,
    content_role,
    decode_attr,
    light,
    to_str,
)
from driftline.collector.normalize.values import args_hash, as_text, canonical_json, py_value, sha256, truncate
from driftline.collector.normalize.views import as_view, parse_traces
from driftline.collector.schema import SPAN_SCHEMA
from driftline.instrumentation.scrub import scrub

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
    embed_rate: float = 0.0  # embeddings-only mode: the share of answers spooled for embedding (collector/embed)


# --- what both normalizers share ------------------------------------------------------------------


class BaseNormalizer:
    """What the span and the log normalizer share: options, attribute maps with truncation, resources,
    content columns and the Python rows' table."""

    def __init__(self, options: NormalizeOptions) -> None:
        self.options = options
        self.rows: list[list[Any]] = []
        self.answers: dict[str, str] = {}  # embeddings-only mode: output hash -> answer to embed

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

    def content_columns(self, row: list[Any], content: Content) -> None:
        """Hashes, lengths and (with --store-content) scrubbed text of the span's content."""
        inp, out = content.text("input"), content.text("output")
        system, args = content.text("system"), content.pieces.get("tool_args")
        if inp is not None:
            row[_I_INPUT_HASH] = sha256(inp)
            row[_I_INPUT_CHARS] = content.chars("input")
            row[_I_INPUT_CONTENT] = self._stored(inp)
        if out is not None:
            digest = row[_I_OUTPUT_HASH] = sha256(out)
            row[_I_OUTPUT_CHARS] = content.chars("output")
            row[_I_OUTPUT_CONTENT] = self._stored(out)
            rate = self.options.embed_rate
            if rate > 0 and row[_I_OPERATION] in spool.OPERATIONS and spool.sampled(digest, rate):
                self.answers[digest] = out  # scrubbed by the embedding process, off this path
        if system is not None:
            row[_I_PROMPT_HASH] = sha256(system)
        if args:
            row[_I_ARGS_HASH] = args_hash(args[0][1])
        elif row[_I_OPERATION] == "execute_tool" and inp is not None:
            row[_I_ARGS_HASH] = args_hash(content.pieces["input"][0][1])

    def _texts(self, attrs: list[Attr], truncated: list[str]) -> list[tuple[str, str]]:
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
                    val = to_str(rest.pop(k))
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


class SpanNormalizer(BaseNormalizer):
    """Accumulates canonical span rows for one batch (one WAL segment); exact resends are dropped.

    Where the compiled span path is built (``recipes.native_batch``), ``add_payload`` lets it write the
    spans whose shape it knows and builds the others here; both share one memory of the batch's ids.
    """

    def __init__(self, options: NormalizeOptions, compiled: bool = True) -> None:
        super().__init__(options)
        self._seen: dict[bytes, tuple[int, int, str]] = {}
        self._duplicates = 0
        self.conflicts: list[tuple[str, str]] = []  # (trace_id, span_id) reused with other content
        self._resources: dict[bytes, tuple[Any, ...]] = {}
        self._hours: list[int] = []  # of self.rows
        self._rejected = 0
        self._pieces: list[tuple[pa.Table, list[int]]] = []  # rows already turned into Arrow (spill)
        self._taken = 0  # compiled rows already in _pieces
        # the compiled batch calls back for resources through a weak reference: a bound method would
        # make a cycle through a C object the garbage collector cannot see, and every segment's rows
        # would stay in the worker's memory for good
        columns_of = weakref.WeakMethod(self._resource_columns)
        self.compiled = (
            recipes.native_batch(options, lambda raw: columns_of()(raw), self.conflicts)  # type: ignore[misc]
            if compiled
            else None
        )

    @property
    def duplicates(self) -> int:
        return self._duplicates + (self.compiled.duplicates if self.compiled is not None else 0)

    @property
    def rejected(self) -> int:
        return self._rejected + (self.compiled.rejected if self.compiled is not None else 0)

    def add_payload(self, payload: bytes, received_ns: int) -> None:
        """One traces request from the WAL (raises ``otlp.MalformedRequest``). The protobuf classes
        parse it only for the spans the compiled path leaves to Python: the receiver validated every
        byte with them before the ack, and the compiled walk refuses (leaves to Python) anything it is
        unsure of, so a request it writes whole is not parsed twice."""
        try:
            others = None if self.compiled is None else self.compiled.scan(payload, received_ns)
        except Exception:
            parse_traces(payload)  # a request protobuf refuses is refused as the Python path words it
            raise
        if others is None:
            self.add_request(parse_traces(payload), received_ns)
            return
        if not others:
            return
        request = parse_traces(payload)
        resources: dict[int, tuple[Any, ...]] = {}
        for i, j, k in others:  # already checked for ids and resends by the compiled path
            rs = request.resource_spans[i]
            found = resources.get(i)
            if found is None:
                found = resources[i] = self._resource(rs.resource.attributes)
            svc, ver, env, raw_res, rmap = found
            ss = rs.scope_spans[j]
            span = ss.spans[k]
            fixed = (svc, ver, env, ss.scope.name or None, ss.scope.version or None)
            tid, sid, start = span.trace_id, span.span_id, span.start_time_unix_nano
            self._add_span(span, tid, sid, span.parent_span_id, start, fixed, ver, raw_res, rmap, received_ns)

    def _resource_columns(self, raw: bytes) -> tuple[Any, ...]:
        """(service, version, environment, map keys, map values) of a Resource's bytes."""
        found = self._resources.get(raw)
        if found is None:
            svc, ver, env, _raw, rmap = self._resource(Resource.FromString(raw).attributes)
            found = self._resources[raw] = (svc, ver, env, tuple(k for k, _ in rmap), tuple(v for _, v in rmap))
        return found

    def _first_copy(self, tid: bytes, sid: bytes, start: int, span: Span) -> bool:
        """False for an exact resend (dropped); another span with the same ids is kept in Parquet (the
        views show the first and list the rest in span_id_conflicts), counted, never dropped unseen."""
        end, name = span.end_time_unix_nano, span.name
        if self.compiled is not None:
            return self.compiled.seen(tid, sid, start, end, name) != 1
        key = tid + sid
        known = self._seen.get(key)
        if known is not None:
            if known == (start, end, name):
                self._duplicates += 1  # a retry resent the same span
                return False
            self.conflicts.append((tid.hex(), sid.hex()))
        else:
            self._seen[key] = (start, end, name)
        return True

    def add_request(self, request: Any, received_ns: int) -> None:
        for rs in as_view(request).resource_spans:
            svc, ver, env, raw_res, rmap = self._resource(rs.resource.attributes)
            for ss in rs.scope_spans:
                scope = ss.scope
                fixed = (svc, ver, env, scope.name or None, scope.version or None)
                for span in ss.spans:
                    tid, sid, pid, start = span.trace_id, span.span_id, span.parent_span_id, span.start_time_unix_nano
                    if otlp.ids_problem(tid, sid, pid, start) is not None:
                        self._rejected += 1
                        continue
                    if self._first_copy(tid, sid, start, span):
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
        found: list[Attr | None] = list(map(ATTR_CACHE.get, raws))  # one C-level pass; misses are None
        if None in found:
            stable = tuple([a for a in found if a is not None])
            fresh = [light(raw) or decode_attr(raw) for a, raw in zip(found, raws, strict=True) if a is None]
        else:
            stable, fresh = tuple(found), []  # type: ignore[arg-type]
        base = BASE_CACHE.get(stable)
        if base is None:
            base = classify(list(stable))
            if len(BASE_CACHE) >= MAX_BASES:
                BASE_CACHE.clear()
            BASE_CACHE[stable] = base
        if not fresh:
            convention, row, content, rest = base.convention, list(base.row), base.content, base.rest
        else:
            # the general path sees the attributes in the order they came: where a key is repeated
            # (invalid OTLP, but it arrives) the first one wins, whichever of them were cached
            combined = combine(base, fresh) or classify(_in_order(found, fresh))
            convention, row, content, rest = combined.convention, list(combined.row), combined.content, combined.rest
        extra: list[tuple[str, Any]] = []
        semantics: list[dict[str, Any]] | None = None
        if span.events:
            if content is not None:
                content = content.copy()  # the cached classification's content is shared: add to a copy
            events = []
            for ev in span.events:
                eattrs = {}
                for kv in ev.attributes:
                    role = content_role(kv.key)
                    if role:
                        if content is None:
                            content = Content()
                        content.add(role, f"event.{ev.name}.{kv.key}", py_value(kv.value))
                    elif kv.key in cv.EXCEPTION_CONTENT_KEYS:
                        kept = self._stored(to_str(py_value(kv.value)))
                        if kept is not None:
                            eattrs[kv.key] = kept
                    else:
                        eattrs[kv.key] = py_value(kv.value)
                if ev.name in agent_events.NAMES:  # typed, in their own column (content taken out above)
                    if semantics is None:
                        semantics = []
                    semantics.append(agent_events.row(ev.name, ev.time_unix_nano, eattrs))
                    continue
                if ev.name == cv.EXCEPTION_EVENT and row[_I_ERROR] is None and cv.EXCEPTION_TYPE_KEY in eattrs:
                    row[_I_ERROR] = to_str(eattrs[cv.EXCEPTION_TYPE_KEY])
                events.append({"name": ev.name, "time_unix_nano": ev.time_unix_nano, "attributes": eattrs})
            if events:
                extra.append((EVENTS_KEY, events))
            row[_I_AGENT_EVENTS] = semantics
        if span.links:
            extra.append(
                (LINKS_KEY, [{"trace_id": ln.trace_id.hex(), "span_id": ln.span_id.hex()} for ln in span.links])
            )

        attr_map, _rest = self.finish_row(row, convention, content, rest, extra, span.name, ver, raw_res)

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
            self._stored(status.message) if status.message else None,  # content: it quotes the app's data
            start,
            end or None,
            (end - start) / 1e6 if end >= start and end else None,
        )
        row[10:15] = fixed
        row[_I_ATTRS] = attr_map
        row[_I_RATTRS] = rmap
        row[_I_RECEIVED] = received_ns
        self.rows.append(row)
        self._hours.append(start // HOUR_NS)

    def finish_row(
        self,
        row: list[Any],
        convention: str,
        content: Content | None,
        rest: list[Attr],
        extra: list[tuple[str, Any]],
        name: str,
        ver: str | None,
        raw_res: dict[str, Any],
    ) -> tuple[list[tuple[str, str]], list[Attr]]:
        """What a span's row takes from its classified attributes (and name and resource): the
        defaults, the override of the agent version, offered tools, content hashes; returns the
        attributes map and the attributes it was made of (the first ``len(rest)`` entries, in order).
        One step shared by the row builder and the compiled path's recipes (``recipes.py``)."""
        truncated: list[str] = []
        row[_I_CONVENTION] = convention
        opts = self.options
        if opts.agent_version_key:
            override = next((a for a in rest if a.key == opts.agent_version_key), None)
            if override is not None:
                rest = [a for a in rest if a is not override]  # rest may be a cached, shared list
                row[_I_AGENT_VERSION] = to_str(override.value)
            elif opts.agent_version_key in raw_res:
                row[_I_AGENT_VERSION] = to_str(raw_res[opts.agent_version_key])
        if row[_I_AGENT_VERSION] is None:
            row[_I_AGENT_VERSION] = ver
        if row[_I_OPERATION] is None:
            row[_I_OPERATION] = "execute_tool" if row[_I_TOOL] else "other"
        elif convention == cv.OPENINFERENCE:
            row[_I_OPERATION], named = cv.named_operation(convention, name, row[_I_OPERATION])
            if named is not None:
                index = _I_AGENT_NAME if row[_I_OPERATION] == "invoke_agent" else _I_TOOL
                if row[index] is None:
                    row[index] = named
        if row[_I_COST] is not None and row[_I_CURRENCY] is None:
            row[_I_CURRENCY] = cv.DEFAULT_COST_CURRENCY
        if row[_I_TOOLS_OFFERED] is None and row[_I_OPERATION] in _MODEL_OPERATIONS:
            row[_I_TOOLS_OFFERED] = tools_offered.names(rest_pairs(rest))
        if row[_I_OPERATION] == "retrieval":
            extra.extend(retrieval.summary(content.pieces.get("output", ()) if content else (), rest_pairs(rest)))

        attr_map = self._texts(rest, truncated)
        if extra:
            attr_map += self._attr_map(extra, truncated)
        if truncated:  # sorted: the order of rest depends on which cached path classified the span
            attr_map.append((TRUNCATED_KEY, canonical_json(sorted(truncated))))

        if content is not None:
            self.content_columns(row, content)

        return attr_map, rest

    @property
    def pending(self) -> int:
        """Rows held as Python objects, not yet turned into Arrow."""
        compiled = self.compiled.rows - self._taken if self.compiled is not None else 0
        return compiled + len(self.rows)

    def spill(self) -> None:
        """Turn the rows so far into Arrow and free their objects: a segment's rows as objects cost
        kilobytes per span, as Arrow a few hundred bytes (the memory of ids stays, so resends across
        pieces are still found)."""
        if self.compiled is not None and self.compiled.rows > self._taken:
            self._taken = self.compiled.rows
            columns, hours = self.compiled.take()
            self._pieces.append((recipes.columns_table(columns), np.frombuffer(hours, dtype=np.int64).tolist()))
        if self.rows:
            self._pieces.append((super().table(SPAN_SCHEMA), self._hours))
            self.rows, self._hours = [], []

    def table(self) -> pa.Table:  # type: ignore[override]
        """Every row so far (``hours`` in the same order)."""
        self.spill()
        if not self._pieces:
            return SPAN_SCHEMA.empty_table()
        tables = [t for t, _ in self._pieces]
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)

    @property
    def hours(self) -> list[int]:
        """The hour of each row of ``table()``."""
        self.spill()
        return [h for _, hours in self._pieces for h in hours]


_I = SPAN_INDEX


def rest_pairs(rest: list[Attr]) -> Iterable[tuple[str, Any]]:
    return ((a.key, a.value) for a in rest)


_I_ERROR, _I_AGENT_VERSION, _I_OPERATION, _I_TOOL = (
    _I["error_type"],
    _I["agent_version"],
    _I["operation"],
    _I["tool_name"],
)
_I_COST, _I_CURRENCY = _I["cost_reported"], _I["cost_currency"]
_I_AGENT_NAME, _I_AGENT_EVENTS, _I_TOOLS_OFFERED = _I["agent_name"], _I["agent_events"], _I["tools_offered"]
_MODEL_OPERATIONS = frozenset({"chat", "text_completion"})
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


def _in_order(found: list[Attr | None], fresh: list[Attr | tuple[Any, Any]]) -> list[Attr]:
    """A span's attributes in their own order: the cached ones where ``found`` has them, the fresh
    ones (in order) in the gaps."""
    rest = iter(fresh)
    return [a if a is not None else as_attr(next(rest)) for a in found]
