"""Stage 3, the compiled span path's rules: what a recurring shape of attributes makes of a row.

Why it exists: the compiled reader (``collector/native/spanscan.c``) writes a span by replaying a
*recipe* for its shape — the sequence of its attributes, each a *stable* attribute (its exact bytes,
so its meaning is fixed) or a *slot* (a high-cardinality key such as a token count or a response
id, with its value's type). The recipe is learned here, once per shape, from the Python normalizer's
own classification (``attributes.classify`` and ``SpanNormalizer.finish_row``), so the Python code stays
the only statement of what a row holds.

A recipe is given only when the row is the same function of the slot values for *every* value: a slot
may be copied into a column (as is, as ``float``, or as its text) or into the attributes map, or be
content, whose columns (hashes, lengths, kept text) a hook computes with the normalizer's own
``content_columns``; nothing else may depend on it — no value mapping or prefix cutting, no ``when``
condition, no wildcard key, no offered-tools or retrieval parsing, no convention that reads the span's
name (OpenInference). Anything else answers None and spans of that shape keep the Python path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from driftline.collector import native
from driftline.collector.normalize import attributes as at
from driftline.collector.normalize import conventions as cv
from driftline.collector.normalize import tools_offered
from driftline.collector.normalize.values import args_hash, as_text
from driftline.collector.schema import SPAN_SCHEMA

if TYPE_CHECKING:
    from driftline.collector.normalize.normalizer import NormalizeOptions, SpanNormalizer

I_ATTRS = at.SPAN_INDEX["attributes"]
I_RATTRS = at.SPAN_INDEX["resource_attributes"]
I_RECEIVED = at.SPAN_INDEX["received_at"]
I_AGENT_VERSION = at.SPAN_INDEX["agent_version"]
I_OPERATION = at.SPAN_INDEX["operation"]
I_ARGS_HASH = at.SPAN_INDEX["tool_args_hash"]
SAME, AS_FLOAT, AS_TEXT = 0, 1, 2  # how a slot's value fills a column (spanscan.c's conv codes)

CONTENT_COLUMNS = tuple(
    at.SPAN_INDEX[name]
    for name in (
        "prompt_hash",
        "tool_args_hash",
        "input_hash",
        "output_hash",
        "input_chars",
        "output_chars",
        "input_content",
        "output_content",
    )
)
Hook = tuple[Callable[[tuple[Any, ...]], tuple[Any, ...]], tuple[int, ...], tuple[int, ...]]
Recipe = tuple[tuple[Any, ...], tuple[tuple[int, int, int], ...], tuple[tuple[str, str | None, int], ...], Hook | None]


def _conversion(convert: Callable[[Any], Any], value: Any) -> int | None:
    """How a column's conversion treats every value of this type, when it is a plain copy."""
    if type(value) is int:
        return {at.CONVERT["int"]: SAME, at.CONVERT["float"]: AS_FLOAT, at.CONVERT["str"]: AS_TEXT}.get(convert)
    if type(value) is float:
        return {at.CONVERT["float"]: SAME, at.CONVERT["str"]: AS_TEXT}.get(convert)
    if type(value) is str:
        return SAME if convert is at.CONVERT["str"] else None
    return None  # bools (never numbers here), anything else


class RecipeBook:
    """The recipes of one set of options, shared by every batch of a worker process (the compiled
    ``Recipes`` remembers the shapes; this object answers for the shapes it has not seen)."""

    def __init__(self, options: NormalizeOptions, finisher: SpanNormalizer, spanscan: Any) -> None:
        self.options = options
        self.finisher = finisher  # a Python normalizer, used only for its _finish step
        self.compiled = spanscan.Recipes(
            self.learn,
            at.N_SPAN_COLUMNS,
            I_ATTRS,
            I_RATTRS,
            I_RECEIVED,
            I_AGENT_VERSION,
            options.max_value_chars,
            KINDS,
        )

    def learn(self, raws: list[bytes], name: str) -> tuple[bytes, Recipe | None]:
        """Which attributes are slots (those the Python normalizer itself reads straight from their
        bytes, ``attributes.light``) and the recipe of this shape, or None."""
        attrs: list[at.Attr] = []
        slots = bytearray(len(raws))
        for n, raw in enumerate(raws):
            attr = at.ATTR_CACHE.get(raw)
            if attr is None:
                fresh = at.light(raw)
                if fresh is not None:
                    attr = at.Attr(*fresh)
                    slots[n] = 1
                else:
                    attr = at.decode_attr(raw)
            attrs.append(attr)
        return bytes(slots), self.recipe(attrs, [n for n, s in enumerate(slots) if s], name)

    def recipe(self, attrs: list[at.Attr], slots: list[int], name: str) -> Recipe | None:
        classified = at.classify(attrs)  # the general path: every cached path must agree with it
        convention = classified.convention
        if convention == cv.OPENINFERENCE:
            return None  # its operation and agent/tool names come from the span's name
        keys = [a.key for a in attrs]
        slot_keys = {keys[n] for n in slots}
        if any(keys.count(k) > 1 for k in slot_keys):
            return None
        conversions: dict[int, dict[int, int]] = {}
        content_slots = False
        for n in slots:
            attr = attrs[n]
            kind, payload = attr.meta.kind(convention)
            if kind == at.REST:
                continue
            if kind == at.CONTENT:
                content_slots = True
                continue
            if kind != at.CLAIMS:
                return None  # a condition on another attribute
            for claim in payload:
                src = claim.source
                if src.before or src.not_values is not None or src.values is not None:
                    return None
                code = _conversion(claim.convert, attr.value)
                if code is None:
                    return None
                conversions.setdefault(n, {})[claim.index] = code
        for attr in attrs:
            kind, payload = attr.meta.kind(convention)
            if kind == at.DYNAMIC and any(c.source.when and c.source.when[0] in slot_keys for c in payload):
                return None
        globs = at.PLANS[convention].globs
        if any(pattern.match(k) for _, pattern in globs for k in slot_keys):
            return None
        if any(k == tools_offered.GENAI_DEFINITIONS or k.startswith("llm.tools.") for k in slot_keys):
            return None
        row = list(classified.row)
        content, rest = classified.content, list(classified.rest)
        attr_map, rest = self.finisher.finish_row(row, convention, content, rest, [], name, None, {})
        if slots and row[I_OPERATION] == "retrieval":
            return None  # its summary reads the attributes
        # the columns the content decides (content_columns runs after the claims and overwrites them)
        written = self._content_written(classified.content, row[I_OPERATION])
        fills = []
        for index, (_rank, owner) in classified.chosen.items():
            if owner in slot_keys and index not in written:
                n = keys.index(owner)
                fills.append((n, index, conversions[n][index]))
        at_slot = {id(attrs[n]): n for n in slots}
        entries: list[tuple[str, str | None, int]] = []
        for i, (key, text) in enumerate(attr_map):
            n = at_slot.get(id(rest[i])) if i < len(rest) else None
            if n is not None and text != as_text(attrs[n].value):
                return None  # truncated: the truncation names the key, not a copy
            entries.append((key, text, -1) if n is None else (key, None, n))
        for i in (I_ATTRS, I_RATTRS, I_RECEIVED):
            row[i] = None
        hook = self._content_hook(attrs, slots, convention, row[I_OPERATION], written) if content_slots else None
        return tuple(row), tuple(fills), tuple(entries), hook

    def _content_written(self, content: at.Content | None, operation: Any) -> tuple[int, ...]:
        """The columns ``content_columns`` writes for this shape: which ones depends only on the
        roles present and the operation, both fixed by the shape, never on the values."""
        if content is None:
            return ()
        unset = object()
        probe: list[Any] = [unset] * at.N_SPAN_COLUMNS
        probe[I_OPERATION] = operation
        self.finisher.content_columns(probe, content)
        return tuple(i for i in CONTENT_COLUMNS if probe[i] is not unset)

    def _content_hook(
        self, attrs: list[at.Attr], slots: list[int], convention: str, operation: Any, written: tuple[int, ...]
    ) -> Hook | None:
        """The ``written`` content columns of this shape as a function of its content slots' values:
        the pieces in the order ``classify`` adds them, the slots' values put in their places. The
        other columns keep what the template or a slot's claim put there."""
        if not written:
            return None
        pieces: list[tuple[str, str, Any, int]] = []  # role, key, stable value, slot index (-1: stable)
        positions: list[int] = []
        for n, attr in enumerate(attrs):
            kind, role = attr.meta.kind(convention)
            if kind != at.CONTENT:
                continue
            if n in slots:
                pieces.append((role, attr.key, None, len(positions)))
                positions.append(n)
            else:
                pieces.append((role, attr.key, attr.value, -1))
        if written == (I_ARGS_HASH,) and [(role, slot) for role, _, _, slot in pieces] == [("tool_args", 0)]:
            # a tool call whose only content is its arguments (most of them): the hash is all
            # content_columns would write, without a row and a Content per span
            return (lambda values: (args_hash(values[0]),)), tuple(positions), written
        columns = self.finisher.content_columns

        def hook(values: tuple[Any, ...]) -> tuple[Any, ...]:
            content = at.Content()
            for role, key, value, slot in pieces:
                content.add(role, key, value if slot < 0 else values[slot])
            row: list[Any] = [None] * at.N_SPAN_COLUMNS
            row[I_OPERATION] = operation
            columns(row, content)
            return tuple([row[i] for i in written])

        return hook, tuple(positions), written


_BOOKS: dict[Any, RecipeBook] = {}


def native_batch(
    options: NormalizeOptions, resource: Callable[[bytes], tuple[Any, ...]], conflicts: list[tuple[str, str]]
) -> Any:
    """A compiled batch for these options, or None where the compiled path is off, not built, or
    does not cover the options (embeddings-only mode spools answers, ``--agent-version-key`` reads
    attributes per span: both stay in Python)."""
    spanscan = native.spanscan
    if spanscan is None or options.embed_rate > 0 or options.agent_version_key:
        return None
    book = _BOOKS.get(options)
    if book is None:
        from driftline.collector.normalize.normalizer import SpanNormalizer

        book = _BOOKS[options] = RecipeBook(options, SpanNormalizer(options, compiled=False), spanscan)
    return spanscan.SpanBatch(book.compiled, resource, conflicts)


def _kind(t: pa.DataType) -> str:
    """How the compiled batch builds a column of this type (``collector/native/arrowcols.h``)."""
    if t == pa.string():
        return "s"
    if t == pa.int64() or (pa.types.is_timestamp(t) and t.unit == "ns"):
        return "i"
    if t == pa.float64():
        return "f"
    if pa.types.is_map(t) and t.key_type == pa.string() and t.item_type == pa.string():
        return "M"
    if pa.types.is_list(t) and t.value_type == pa.string():
        return "L"
    return "o"  # Python objects, converted by pyarrow


KINDS = "".join(_kind(f.type) for f in SPAN_SCHEMA)


def _array(t: pa.DataType, column: tuple[Any, ...]) -> pa.Array:
    """One column of the compiled batch as Arrow, from its buffers (no copy beyond the batch's own)."""
    if column[0] == "o":
        return pa.array(column[1], type=t)
    kind, n, nulls, valid, offsets, data, child, child2 = column
    validity = pa.py_buffer(valid) if nulls else None
    if kind == "M":
        keys, values = _array(pa.string(), child), _array(pa.string(), child2)
        return pa.MapArray.from_arrays(
            pa.Array.from_buffers(pa.int32(), n + 1, [None, pa.py_buffer(offsets)]), keys, values, type=t
        )
    if kind == "L":
        items = _array(t.value_type, child)
        return pa.Array.from_buffers(t, n, [validity, pa.py_buffer(offsets)], null_count=nulls, children=[items])
    buffers = [validity, pa.py_buffer(offsets), pa.py_buffer(data)] if kind == "s" else [validity, pa.py_buffer(data)]
    return pa.Array.from_buffers(t, n, buffers, null_count=nulls)


def columns_table(columns: list[Any]) -> pa.Table:
    """The compiled batch's columns (``SpanBatch.take``) as an Arrow table of the span schema."""
    return pa.Table.from_arrays(
        [_array(f.type, c) for f, c in zip(SPAN_SCHEMA, columns, strict=True)], schema=SPAN_SCHEMA
    )
