"""The run dimensions a diff compares — one table, so floors and weights are documented in one place.

Why these numbers: a *floor* is the minimal effect of interest (below it a change is "detectable but
negligible"): 2 percentage points for a rate, 5% for a median or mean. *block* is the effect at which
a certain change is serious enough to stop a release (10 points, 25%), and where a dimension's share
of the drift score saturates. *weight* is the dimension's share of both the error budget of the
weighted Holm correction and the composite score: what users act on (outcomes, tools, models,
errors, tokens, cost, latency) weighs most. Every field can be overridden in ``driftline.toml``
under ``[dimensions.<name>]``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftline.analysis.semantic.drift import matrix as semantic_matrix

Kind = Literal["numeric", "category", "labels", "semantic"]


@dataclass(frozen=True)
class Dimension:
    name: str
    title: str
    kind: Kind
    column: str  # the runs column it is read from (labels: a list column; see values())
    weight: float
    floor: float
    block: float
    center: Literal["median", "mean", "difference", "p95", "sd"] = (
        "median"  # numeric effect: relative median/mean/p95, mean difference, or mean shift in baseline SDs
    )
    unit: str = ""


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("outcome", "Outcome", "category", "outcome", 0.20, 0.02, 0.10),
    Dimension("status", "Run status (errors)", "category", "status", 0.10, 0.02, 0.10),
    Dimension("tools", "Tools called", "labels", "tool_sequence", 0.15, 0.02, 0.10),
    Dimension("models", "Models", "labels", "models", 0.10, 0.02, 0.10),
    Dimension("error_types", "Error types", "labels", "error_types", 0.03, 0.02, 0.10),
    Dimension("finish_reasons", "Finish reasons", "labels", "finish_reasons", 0.03, 0.02, 0.10),
    Dimension("tool_sequence", "Exact tool sequence", "category", "tool_path", 0.02, 0.02, 0.10),
    Dimension("tool_bigrams", "Tool order (bigrams)", "labels", "tool_bigrams", 0.02, 0.02, 0.10),
    Dimension("input_tokens", "Input tokens", "numeric", "input_tokens", 0.07, 0.05, 0.25, unit="tokens"),
    Dimension("output_tokens", "Output tokens", "numeric", "output_tokens", 0.07, 0.05, 0.25, unit="tokens"),
    Dimension("cost", "Cost per run", "numeric", "cost", 0.06, 0.05, 0.25, center="mean", unit="USD"),
    Dimension("duration_ms", "Run latency", "numeric", "duration_ms", 0.06, 0.05, 0.25, unit="ms"),
    # the slowest runs: a p95 that moves while the median stays is a tail regression (its own test)
    Dimension(
        "duration_p95", "Run latency p95 (tail)", "numeric", "duration_ms", 0.05, 0.10, 0.50, center="p95", unit="ms"
    ),
    Dimension("llm_time_ms", "LLM latency", "numeric", "llm_time_ms", 0.05, 0.05, 0.25, unit="ms"),
    Dimension(
        "time_to_first_tool_ms", "Time to first tool", "numeric", "time_to_first_tool_ms", 0.01, 0.05, 0.25, unit="ms"
    ),
    Dimension("output_chars", "Output length", "numeric", "output_chars", 0.01, 0.05, 0.25, unit="chars"),
    Dimension("llm_calls", "LLM calls per run", "numeric", "llm_calls", 0.02, 0.05, 0.25, center="mean"),
    Dimension("tool_calls", "Tool calls per run", "numeric", "tool_calls", 0.02, 0.05, 0.25, center="mean"),
    Dimension("loop_count", "LLM→tool rounds", "numeric", "loop_count", 0.02, 0.05, 0.25, center="mean"),
    Dimension("retries", "Retries per run", "numeric", "retries", 0.02, 0.05, 0.25, center="difference"),
    # what the agent decided, observed and failed at (instrumentation/semantics.py): shares of runs with each
    # "type=option" decision, "code=value" quality signal and "type/code" failure; compared only where runs
    # record them (no label on either side: no data, so these take no share of the error budget). Signals
    # and failures are rare-event rates (schema_invalid at 2%): one point is their floor, not two
    Dimension("decisions", "Decisions (type=option)", "labels", "decisions", 0.05, 0.02, 0.10),
    Dimension(
        "decision_confidence",
        "Decision confidence",
        "numeric",
        "decision_confidence",
        0.02,
        0.02,
        0.10,
        center="difference",
        unit="confidence",
    ),
    Dimension("signals", "Quality signals (code=value)", "labels", "signals", 0.05, 0.01, 0.10),
    Dimension("failures", "Failures (type/code)", "labels", "failures", 0.05, 0.01, 0.10),
    Dimension("memory_reads", "Memory reads per run", "numeric", "memory_reads", 0.01, 0.05, 0.25, center="mean"),
    Dimension("memory_writes", "Memory writes per run", "numeric", "memory_writes", 0.01, 0.05, 0.25, center="mean"),
    # the meaning of the answers (embeddings of stored output; analysis/semantic/drift.py): compared only
    # when the runs carry content (receiver --store-content) and the [semantic] extra is installed. The
    # effect is a centroid cosine distance: MiniLM puts a rewording of the same answers near 0.04, a
    # change of topic or of tone (friendly → curt) near 0.3, and the same answers within 0.02 at 100 runs
    Dimension(
        "semantic",
        "Meaning of answers",
        "semantic",
        "output_embedding",
        0.10,
        0.01,
        0.10,
        unit="cosine to baseline centroid",
    ),
    # the health index: how close each answer stays to its own question (cosine), where inputs are stored
    Dimension(
        "answer_relevance",
        "Answers on their prompts (relevance)",
        "numeric",
        "answer_relevance",
        0.05,
        0.02,
        0.10,
        center="difference",
        unit="cosine",
    ),
)
NONE_LABEL = "(none)"
NO_TOOLS = "(no tools)"


def all_dimensions() -> tuple[Dimension, ...]:
    """The shipped table and the dimensions installed plugins add (``driftline.dimensions``), checked:
    a plugin's dimension is a Dimension with a new name, a known kind and weight > 0, block > floor >= 0."""
    from driftline.analysis import plugins

    extra = plugins.dimensions()
    names = {d.name for d in DIMENSIONS}
    for dim in extra:
        if not isinstance(dim, Dimension):
            raise ValueError(f"plugin dimension {dim!r}: expected a driftline.analysis.diff.dimensions.Dimension")
        if dim.name in names:
            raise ValueError(f"plugin dimension {dim.name!r}: that name is taken")
        if dim.kind not in ("numeric", "category", "labels") or dim.weight <= 0 or not 0 <= dim.floor < dim.block:
            raise ValueError(
                f"plugin dimension {dim.name!r}: needs kind numeric|category|labels, weight > 0, block > floor >= 0"
            )
        names.add(dim.name)
    return (*DIMENSIONS, *extra)


def configured(overrides: dict[str, dict[str, Any]] | None = None) -> tuple[Dimension, ...]:
    """The dimension table with ``[dimensions.<name>]`` overrides applied; unknown names are errors."""
    overrides = overrides or {}
    table = all_dimensions()
    known = {d.name: d for d in table}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"unknown dimension(s) in configuration: {', '.join(unknown)}; known: {', '.join(known)}")
    result = []
    for dim in table:
        fields = overrides.get(dim.name, {})
        bad = sorted(set(fields) - {"weight", "floor", "block", "enabled"})
        if bad:
            raise ValueError(f"[dimensions.{dim.name}]: unknown field(s) {', '.join(bad)}")
        if fields.get("enabled", True) is False:
            continue
        changed = replace(dim, **{k: float(v) for k, v in fields.items() if k != "enabled"})
        if changed.weight <= 0 or changed.floor < 0 or changed.block <= changed.floor:
            raise ValueError(f"[dimensions.{dim.name}]: need weight > 0 and block > floor >= 0")
        result.append(changed)
    return tuple(result)


@dataclass(frozen=True)
class Encoded:
    """A dimension's values for both sides, vectorized.

    numeric: ``a``/``b`` are float arrays (missing → NaN). category: ``a``/``b`` are integer codes into
    ``labels``. labels (set-valued): ``a``/``b`` are (run index, label code) pairs, one per distinct
    label of a run, and ``n_a``/``n_b`` the number of runs.
    """

    a: Any
    b: Any
    labels: list[str]
    n_a: int
    n_b: int


def _arrow(column: Any) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        arr = column.combine_chunks()
    elif isinstance(column, pa.Array):
        arr = column
    else:
        arr = pa.array(list(column) if not isinstance(column, np.ndarray) else column)
    if pa.types.is_null(arr.type):
        return arr.cast(pa.string())
    if (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)) and not pa.types.is_string(arr.type.value_type):
        return arr.cast(pa.list_(pa.string()))  # all-empty lists come without a value type
    return arr


def _dictionary_codes(a: pa.DictionaryArray, b: pa.DictionaryArray) -> Encoded:
    """Codes of two dictionary-encoded columns from their indices: no string is built or hashed per
    row. Labels are in order of first appearance (the baseline's first), nulls are NONE_LABEL, and
    labels no row uses (a dictionary may hold more) are left out."""
    index: dict[str, int] = {}
    codes = []
    for arr in (a, b):
        names = [NONE_LABEL if w is None else str(w) for w in arr.dictionary.to_pylist()] + [NONE_LABEL]
        lookup = np.asarray([index.setdefault(w, len(index)) for w in names], dtype=np.int64)
        raw = pc.fill_null(arr.indices, len(names) - 1) if arr.null_count else arr.indices
        codes.append(lookup[raw.to_numpy(zero_copy_only=False)])
    words = list(index)
    counts = sum(np.bincount(c, minlength=len(words)) for c in codes)
    used = np.flatnonzero(counts)
    remap = np.full(len(words), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return Encoded(remap[codes[0]], remap[codes[1]], [words[i] for i in used], len(a), len(b))


BIGRAM_START, BIGRAM_END = "(start)", "(end)"


def _string_dictionary(arr: pa.Array) -> bool:
    return pa.types.is_dictionary(arr.type) and pa.types.is_string(arr.type.value_type)


DENSE_PAIRS = 1 << 22  # tool-pair codes below this are counted in a table (32 MiB at most)


def _bigram_sets(a: pa.Array, b: pa.Array) -> Encoded:
    """The tool-order dimension from two ``tool_sequence`` columns: per run, its consecutive tool pairs
    with (start)/(end) markers — the strings ``runs.sql`` builds as ``tool_bigrams``, encoded as
    ``_label_sets`` encodes them (a pair with a nameless tool is no label) — from pairs of tool codes:
    one string per distinct pair, not one per pair of every run (a third of a cold diff's encoding)."""
    words = [BIGRAM_START, BIGRAM_END]  # codes 0 and 1 are the markers; a tool's name is 2 or more
    names: dict[str, int] = {}
    sides = []
    for lists in (a, b):
        flat = pc.list_flatten(lists)
        encoded = pc.dictionary_encode(flat)
        lookup = [names.setdefault(w, len(names) + 2) for w in encoded.dictionary.to_pylist()]
        valid = pc.is_valid(flat).to_numpy(zero_copy_only=False)
        indices = pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False) if len(flat) else np.zeros(0, int)
        codes = np.where(valid, np.asarray([*lookup, -1], dtype=np.int64)[indices], -1)  # -1: a nameless tool
        lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy().astype(np.int64)
        # each run's steps: (start), its tools, (end); tool j of the flat list sits after 2 markers per
        # earlier run and its own run's (start)
        steps = np.ones(int(lengths.sum()) + 2 * len(lists), dtype=np.int64)
        steps[np.cumsum(lengths + 2) - (lengths + 2)] = 0
        parents = pc.list_parent_indices(lists).to_numpy().astype(np.int64)
        steps[np.arange(len(flat)) + 2 * parents + 1] = codes
        runs = np.repeat(np.arange(len(lists)), lengths + 2)[:-1]
        sides.append((len(lists), runs, steps[:-1], steps[1:]))
    words += list(names)
    width = len(words)
    # a pair is a step and the next: not one across two runs (an (end) then a (start)), none with a
    # nameless tool
    pair_codes = [np.where((x < 0) | (y < 0) | (x == 1), -1, x * width + y) for _, _, x, y in sides]
    present = np.concatenate(pair_codes)
    present = present[present >= 0]
    dense = width * width <= DENSE_PAIRS
    # few tool names: count by code, no sort of a million pairs
    distinct = np.flatnonzero(np.bincount(present, minlength=width * width)) if dense else np.unique(present)
    labels: dict[str, int] = {}
    label_of = np.full(len(distinct), -1, dtype=np.int64)
    for code in _first_appearance(present, len(distinct)):  # the baseline's first
        x, y = divmod(code, width)
        label_of[np.searchsorted(distinct, code)] = labels.setdefault(f"{words[x]} → {words[y]}", len(labels))
    if dense:  # a pair code's label by lookup, not by a search among the distinct codes
        table = np.full(width * width, -1, dtype=np.int64)
        table[distinct] = label_of
    k = len(labels)
    pairs = []
    for (n, runs, _, _), codes in zip(sides, pair_codes, strict=True):
        keep = codes >= 0
        kept = codes[keep]
        pairs.append(
            _distinct_pairs(n, k, runs[keep], table[kept] if dense else label_of[np.searchsorted(distinct, kept)])
        )
    return Encoded(pairs[0], pairs[1], list(labels), len(a), len(b))


def _first_appearance(codes: np.ndarray, distinct: int) -> list[int]:
    """The ``distinct`` values of ``codes`` in order of first appearance. It reads a growing prefix
    only until it has seen them all: a diff's labels nearly all appear in its first runs, so this
    avoids a stable sort of every pair."""
    seen: dict[int, None] = {}
    start, size = 0, 4096
    while len(seen) < distinct and start < len(codes):
        values, first = np.unique(codes[start : start + size], return_index=True)
        for value in values[np.argsort(first, kind="stable")]:
            seen.setdefault(int(value), None)
        start, size = start + size, size * 4
    return list(seen)


def _distinct_pairs(n: int, k: int, rows: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The distinct (run, label) pairs among ``rows``/``codes`` (``n`` runs, ``k`` labels), by run."""
    if n * k <= 50_000_000:  # a presence matrix is faster than sorting the pairs
        width = max(k, 1)  # flat, and split by divmod: a fifth of np.argwhere's time on a 2-D matrix
        present = np.zeros(n * width, dtype=bool)
        present[rows * width + codes] = True
        run, label = np.divmod(np.flatnonzero(present), width)
        return np.stack([run, label], axis=1)
    unique = np.unique(rows * (k + 1) + codes)
    return np.stack([unique // (k + 1), unique % (k + 1)], axis=1)


def _label_sets(a: pa.Array, b: pa.Array) -> Encoded:
    """(run, label) pairs of two list columns. One hash pass per side (dictionary-encode its values),
    then codes from the small dictionaries — not a pass to find the labels and another per side to look
    each value up. Labels are in order of first appearance, the baseline's first."""
    index: dict[str, int] = {}
    sides = []
    for lists in (a, b):
        flat = pc.list_flatten(lists)
        encoded = pc.dictionary_encode(flat)
        lookup = np.asarray([index.setdefault(w, len(index)) for w in encoded.dictionary.to_pylist()], dtype=np.int64)
        valid = pc.is_valid(flat).to_numpy(zero_copy_only=False)
        indices = pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False) if len(flat) else np.zeros(0, int)
        parents = pc.list_parent_indices(lists).to_numpy().astype(np.int64)
        sides.append((len(lists), parents[valid], lookup[indices[valid]] if len(lookup) else indices[valid]))
    pairs = [_distinct_pairs(n, len(index), rows, codes) for n, rows, codes in sides]
    return Encoded(pairs[0], pairs[1], list(index), len(a), len(b))


def available(dim: Dimension, columns: Any) -> bool:
    if dim.name == "tool_bigrams":
        return "tool_sequence" in columns
    return dim.column in columns or (dim.name in DERIVED and "tool_sequence" in columns)


def encode(dim: Dimension, baseline_columns: Any, candidate_columns: Any) -> Encoded:
    """Both sides' values of ``dim`` from their runs columns (Arrow arrays or Python sequences). The
    ``runs`` view carries ``tool_path``; samples without it (simulations) get it derived from
    ``tool_sequence`` here. Tool order (``tool_bigrams`` in the view) is always encoded from
    ``tool_sequence`` (``_bigram_sets``): a diff does not load the view's column."""
    if dim.name == "tool_bigrams":
        return _bigram_sets(*(_arrow(cols["tool_sequence"]) for cols in (baseline_columns, candidate_columns)))
    if dim.column in baseline_columns and dim.column in candidate_columns:
        a, b = _arrow(baseline_columns[dim.column]), _arrow(candidate_columns[dim.column])
    else:
        a, b = (DERIVED[dim.name](_arrow(cols["tool_sequence"])) for cols in (baseline_columns, candidate_columns))
    if dim.kind == "semantic":
        return Encoded(semantic_matrix(a), semantic_matrix(b), [], len(a), len(b))
    if dim.kind == "numeric":
        to_float = lambda x: np.asarray(pc.cast(x, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)  # noqa: E731
        return Encoded(to_float(a), to_float(b), [], len(a), len(b))
    if dim.kind == "category":
        # one hash pass per side (dictionary-encode its text), then codes from the small dictionaries:
        # a model's categorical feature has a million rows per side, and hashing them twice (distinct
        # values, then each row's position among them) was most of its time
        a, b = (x if _string_dictionary(x) else pc.dictionary_encode(pc.cast(x, pa.string())) for x in (a, b))
        return _dictionary_codes(a, b)
    return _label_sets(a, b)


def _tool_path(lists: pa.Array) -> pa.Array:
    joined = pc.binary_join(lists, " → ")
    return pc.if_else(pc.equal(joined, ""), NO_TOOLS, joined)


DERIVED = {"tool_sequence": _tool_path}
