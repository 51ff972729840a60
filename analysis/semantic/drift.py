"""The semantic dimension of a diff: did the meaning of the agent's answers move?

Each run's answer (``runs.output_text``: its agent span's output, else its last model call's — stored
only when the receiver runs with ``--store-content``) is embedded (``embedder``, cached by ``cache``)
and the two sides' vectors are compared as one more dimension of the diff's corrected family:

- the **test** is MMD² with an RBF kernel and a permutation p-value (``stats.mmd``): exact size, so an
  A/A pair is flagged at most alpha of the time before the correction and the family keeps its rate;
- the **effect** is the cosine distance between the sides' centroids (what Driftium reports), with a
  bootstrap interval. The plug-in distance is biased upwards — two samples of the same answers have
  centroids that differ by sampling noise — so point and interval are bias-corrected by the bootstrap's
  own estimate of that bias (the replicates' mean minus the point) and floored at 0. The dimension
  *moves* only when MMD is significant after correction and the corrected interval clears the floor.

The baseline and candidate values shown are the mean cosine similarity of each side's answers to the
*baseline's* centroid: how typical of the baseline the answers are (it falls when answers leave it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from driftline.analysis.report.model import SEMANTIC_EFFECT
from driftline.analysis.stats.mmd import mmd_test
from driftline.analysis.stats.significance import TestResult
from driftline.collector.embed.model import EmbedderConfig, embedder
from driftline.collector.embed.store import STORE_DIR, embed_cached, lookup, text_hash
from driftline.collector.embed.text import answer_text, question_text

TEXT_COLUMN = "output_text"
HASH_COLUMN = "output_hash"
QUESTION_COLUMN = "input_text"
RELEVANCE_COLUMN = "answer_relevance"  # per run: cosine of its answer to its question (stored inputs only)
EMBEDDING_COLUMN = "output_embedding"
MAX_TEXTS = 5_000  # answers embedded per side (a fixed-seed sample above it): bounds a cold diff's cost


@dataclass(frozen=True)
class Attached:
    """What the diff embedded: counts for the report's settings, texts and vectors for the themes."""

    model: str
    texts_baseline: int
    texts_candidate: int
    embedded_now: int  # texts the cache lacked (0 on a second diff of the same data)
    texts: tuple[list[str | None], list[str | None]] = field(repr=False, default=([], []))  # None: vector only
    vectors: tuple[np.ndarray, np.ndarray] = field(repr=False, default=(np.zeros((0, 0)), np.zeros((0, 0))))
    questions: int = 0  # answers whose question was stored too (the relevance dimension)

    def settings(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "texts_baseline": self.texts_baseline,
            "texts_candidate": self.texts_candidate,
            "embedded_now": self.embedded_now,
            "questions": self.questions,
        }


def _texts(column: Any) -> list[str | None]:
    values = column.to_pylist() if hasattr(column, "to_pylist") else list(column)
    texts = [answer_text(v) if isinstance(v, str) else None for v in values]
    return [t if t is not None and t.strip() else None for t in texts]


def _stored_text(columns: dict[str, Any]) -> bool:
    """Whether any run of a side has an answer text: False without reading a value when the column
    is all null (content not stored: the common case, where building keys per run cost 0.1 s)."""
    column = columns.get(TEXT_COLUMN)
    if column is None:
        return False
    if hasattr(column, "null_count"):
        return bool(column.null_count < len(column))
    return any(v is not None for v in column)


def _keys(columns: dict[str, Any]) -> list[str | None]:
    """Each run's answer as a key: its stored text (``t:``), else its output hash (``h:``: a vector the
    receiver may have stored in embeddings-only mode), else None."""
    n = len(next(iter(columns.values()), []))
    texts = _texts(columns[TEXT_COLUMN]) if TEXT_COLUMN in columns else [None] * n
    hashes = columns[HASH_COLUMN].to_pylist() if HASH_COLUMN in columns else [None] * n
    return [f"t:{t}" if t is not None else f"h:{h}" if h else None for t, h in zip(texts, hashes, strict=True)]


def _chosen(keys: list[str | None]) -> np.ndarray:
    """Rows of the answers to compare: all of them, or MAX_TEXTS chosen by a hash of each answer (and its
    occurrence among equal answers), so the same answers are chosen whatever order the runs are read in."""
    present = [i for i, k in enumerate(keys) if k is not None]
    if len(present) <= MAX_TEXTS:
        return np.asarray(present, dtype=np.int64)
    seen: dict[str, int] = {}
    ranked = []
    for i in present:
        key = keys[i] or ""
        seen[key] = seen.get(key, 0) + 1
        ranked.append((text_hash(f"{seen[key]}#{key}"), i))
    return np.sort(np.asarray([i for _, i in sorted(ranked)[:MAX_TEXTS]], dtype=np.int64))


def _vectors_column(n: int, rows: np.ndarray, vectors: np.ndarray) -> pa.ChunkedArray:
    full = np.zeros((n, vectors.shape[1]), dtype=np.float32)
    full[rows] = vectors
    missing = np.ones(n, dtype=bool)
    missing[rows] = False
    flat = pa.array(full.ravel(), pa.float32())
    return pa.chunked_array([pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1], mask=pa.array(missing))])


def _vectors(keys: list[str], data_root: str, model: Any) -> tuple[np.ndarray, np.ndarray, list[str | None], int]:
    """Vectors of the chosen answers: stored texts embedded (or read from the store), output hashes looked
    up in what the receiver stored. (rows found, their vectors, their texts — None where only the vector
    exists — and how many texts were embedded now)."""
    texts = [k[2:] for k in keys if k.startswith("t:")]
    embedded = embed_cached(data_root, texts, model) if texts else None
    hashes = [k[2:] for k in keys if k.startswith("h:")]
    stored = lookup(data_root, model.model_id, model.dimension, hashes) if hashes else {}
    rows, vectors, shown = [], [], []
    t = 0
    for i, k in enumerate(keys):
        if k.startswith("t:"):
            assert embedded is not None
            vector, text = embedded.vectors[t], k[2:]
            t += 1
        elif k[2:] in stored:
            vector, text = stored[k[2:]], None
        else:
            continue  # an output hash the receiver did not embed (not in its sample)
        rows.append(i)
        vectors.append(vector)
        shown.append(text)
    matrix = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), model.dimension)
    return np.asarray(rows, dtype=np.int64), matrix, shown, embedded.new if embedded else 0


def attach(
    baseline: dict[str, Any],
    candidate: dict[str, Any],
    data_root: str,
    config: EmbedderConfig | None = None,
    seed: int = 0,
) -> Attached | None:
    """Add ``output_embedding`` to both sides' run columns (null where a run has no answer to compare).

    An answer is a run's stored text (receiver ``--store-content``), embedded here, or the vector the
    receiver stored for its output hash (``--embed-outputs``). None, and nothing added, when either side
    has none: the dimension is then simply not compared. Raises ``SemanticUnavailable`` when answers
    exist but no model can be loaded."""
    stored = (Path(data_root) / STORE_DIR).is_dir()
    if not stored and not any(_stored_text(side) for side in (baseline, candidate)):
        return None  # no text, and no vector stored by any receiver: nothing to compare (decided per column)
    keys_a, keys_b = _keys(baseline), _keys(candidate)
    texts_exist = any(k and k.startswith("t:") for k in keys_a + keys_b)
    if not texts_exist and not stored:
        return None  # hashes only, and no vector stored by any receiver: nothing to compare, no model load
    rows_a, rows_b = _chosen(keys_a), _chosen(keys_b)
    if len(rows_a) == 0 or len(rows_b) == 0:
        return None
    model = embedder(config)
    found_a, va, shown_a, new_a = _vectors([keys_a[i] or "" for i in rows_a], data_root, model)
    found_b, vb, shown_b, new_b = _vectors([keys_b[i] or "" for i in rows_b], data_root, model)
    if len(found_a) == 0 or len(found_b) == 0:
        return None
    rows_a, rows_b = rows_a[found_a], rows_b[found_b]
    baseline[EMBEDDING_COLUMN] = _vectors_column(len(keys_a), rows_a, va)
    candidate[EMBEDDING_COLUMN] = _vectors_column(len(keys_b), rows_b, vb)
    questions, new_q = _relevance(baseline, candidate, (rows_a, rows_b), (va, vb), data_root, model)
    texts = (shown_a, shown_b)
    return Attached(model.model_id, len(rows_a), len(rows_b), new_a + new_b + new_q, texts, (va, vb), questions)


def _relevance(
    baseline: dict[str, Any],
    candidate: dict[str, Any],
    rows: tuple[np.ndarray, np.ndarray],
    vectors: tuple[np.ndarray, np.ndarray],
    data_root: str,
    model: Any,
) -> tuple[int, int]:
    """The health index: each compared run's answer against its own question (cosine of their
    embeddings), as ``answer_relevance`` (NaN where the question was not stored). Answers that drift
    off their prompts lower it, whatever their topic. (runs with a question, texts embedded now)."""
    if QUESTION_COLUMN not in baseline or QUESTION_COLUMN not in candidate:
        return 0, 0
    per_side = []
    for columns, chosen in zip((baseline, candidate), rows, strict=True):
        raw = columns[QUESTION_COLUMN].to_pylist()
        questions = [question_text(raw[i]) if isinstance(raw[i], str) else None for i in chosen]
        per_side.append([i for i, q in enumerate(questions) if q and q.strip()])
        per_side[-1] = (per_side[-1], [questions[i] or "" for i in per_side[-1]])
    if not per_side[0][0] or not per_side[1][0]:
        return 0, 0
    pooled = per_side[0][1] + per_side[1][1]
    embedded = embed_cached(data_root, pooled, model)
    at, new = 0, embedded.new
    for columns, chosen, answers, (present, texts) in zip((baseline, candidate), rows, vectors, per_side, strict=True):
        q = embedded.vectors[at : at + len(texts)]
        at += len(texts)
        values = np.full(len(columns[QUESTION_COLUMN]), np.nan)
        values[chosen[present]] = np.sum(_unit(answers[present].astype(float)) * _unit(q.astype(float)), axis=1)
        columns[RELEVANCE_COLUMN] = pa.chunked_array([pa.array(values, pa.float64(), from_pandas=True)])
    return len(per_side[0][0]) + len(per_side[1][0]), new


def matrix(column: Any) -> np.ndarray:
    """An embedding column as an (n, d) float array, NaN rows where a run has no vector."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    d = arr.type.list_size
    values = arr.values.slice(arr.offset * d, len(arr) * d).to_numpy(zero_copy_only=False)
    out = np.asarray(values, dtype=float).reshape(len(arr), d)
    out[np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)] = np.nan
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.clip(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12, None)


def _centroid_distance(ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
    return 1.0 - np.sum(_unit(ca) * _unit(cb), axis=-1)


def measure(a: np.ndarray, b: np.ndarray, reps: int, seed: int) -> dict[str, Any]:
    """The semantic dimension's raw result for two (n, d) arrays (NaN rows: no answer), in the shape
    ``diff.engine`` gives every dimension: test, effect, interval, replicates, values, distributions."""
    xa, xb = a[~np.isnan(a).any(axis=1)], b[~np.isnan(b).any(axis=1)]
    if len(xa) < 2 or len(xb) < 2:
        return {"status": "no data"}
    # a canonical row order: the subsample, permutations and bootstrap below then give the same figures
    # for the same answers however the runs were read
    xa, xb = xa[np.lexsort(xa.T[::-1])], xb[np.lexsort(xb.T[::-1])]
    result = mmd_test(xa, xb, seed=seed)
    ca, cb = xa.mean(axis=0), xb.mean(axis=0)
    raw = float(_centroid_distance(ca, cb))
    rng = np.random.default_rng(seed + 65_537)
    wa = rng.multinomial(len(xa), np.full(len(xa), 1 / len(xa)), size=reps) / len(xa)
    wb = rng.multinomial(len(xb), np.full(len(xb), 1 / len(xb)), size=reps) / len(xb)
    raw_reps = _centroid_distance(wa @ xa, wb @ xb)
    bias = float(np.mean(raw_reps)) - raw
    point = max(raw - bias, 0.0)
    replicates = np.maximum(raw_reps - 2 * bias, 0.0)
    low, high = (float(q) for q in np.quantile(replicates, [0.025, 0.975]))
    typical = _unit(ca)
    cos_a, cos_b = _unit(xa) @ typical, _unit(xb) @ typical
    # how typical of the baseline each answer is (cosine to the baseline's centroid), both sides on one
    # set of bins: the chart of this dimension
    lo, hi = float(min(cos_a.min(), cos_b.min())), float(max(cos_a.max(), cos_b.max()))
    edges = np.linspace(lo, hi if hi > lo else lo + 1e-6, 21)
    histogram = {
        "edges": [float(e) for e in edges],
        "baseline": [float(v) for v in np.histogram(cos_a, edges)[0] / len(cos_a)],
        "candidate": [float(v) for v in np.histogram(cos_b, edges)[0] / len(cos_b)],
    }
    test = TestResult(
        f"MMD² (RBF kernel, median heuristic), {result.permutations} permutations", result.mmd2, result.p_value
    )
    return {
        "test": test,
        "effect_name": SEMANTIC_EFFECT,
        "effect": point,
        "ci": (min(low, point), max(high, point)),
        "reps": replicates,
        "focus": None,
        "values": (float(np.mean(cos_a)), float(np.mean(cos_b))),
        "distance": raw,
        "dist": (
            {"texts": len(xa), "mmd_rows": result.n_a, "histogram": histogram},
            {"texts": len(xb), "mmd_rows": result.n_b, "mmd2": result.mmd2, "bandwidth": result.bandwidth},
        ),
    }
