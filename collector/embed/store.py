"""Vectors of answers, computed once and kept next to the data: a second diff embeds nothing, and in
embeddings-only mode they are all the receiver keeps of an answer.

Layout: ``<data root>/embeddings/<model id>/part-*.parquet`` with two columns, a key and the vector
(``fixed_size_list<float32>``). The key is the SHA-256 (hex) of the text: of the answer's words when
the diff embeds stored content, of the span's raw output (its ``output_hash``) when the receiver
embeds in embeddings-only mode — either way the vector of the answer whose hash it is. The model id
names the exact model file (``model.Embedder.model_id``): vectors of two models never mix. Files are
written under a temporary name and renamed into place (a concurrent reader sees whole files or none);
two processes embedding the same text write it twice, which is harmless (a hash maps to the same
vector; lookups keep one).
When a model's directory holds more than ``MERGE_AT`` files they are merged into one; a reader that
loses a file to such a merge lists the directory again.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from driftline.collector import crypto
from driftline.collector.schema import TMP_MARK

STORE_DIR = Path("embeddings")
MERGE_AT = 32
READ_ATTEMPTS = 5


class TextEmbedder(Protocol):
    model_id: str
    dimension: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Embedded:
    vectors: np.ndarray  # one row per input text
    new: int  # distinct texts embedded by this call (0 on a warm cache)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _schema(dimension: int) -> pa.Schema:
    return pa.schema([("text_sha256", pa.string()), ("vector", pa.list_(pa.float32(), dimension))])


def _key(folder: Path) -> crypto.RootKey | None:
    """The data root's encryption key: vectors of an encrypted root's answers are encrypted too."""
    return crypto.key_for(pafs.LocalFileSystem(), str(folder.parent.parent.resolve()))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("part-*.parquet") if TMP_MARK not in p.name)


def _read(folder: Path, wanted: pa.Array, dimension: int) -> dict[str, np.ndarray]:
    """The cached vectors of the ``wanted`` hashes (a file merged away mid-read: list again)."""
    opts = crypto.read_options(_key(folder))
    for _ in range(READ_ATTEMPTS):
        found: dict[str, np.ndarray] = {}
        try:
            for path in _files(folder):
                table = pq.read_table(path, **opts)
                if table.schema.field("vector").type != _schema(dimension).field("vector").type:
                    continue  # another dimension under the same id cannot happen; skip, never mix
                hit = table.filter(pc.is_in(table.column("text_sha256"), value_set=wanted))
                if hit.num_rows == 0:
                    continue
                flat = hit.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
                matrix = np.asarray(flat, dtype=np.float32).reshape(hit.num_rows, dimension)
                for key, row in zip(hit.column("text_sha256").to_pylist(), matrix, strict=True):
                    found[key] = row
            return found
        except FileNotFoundError:
            continue
    raise RuntimeError(f"the embedding cache {folder} kept changing while it was read; try again")


def _write(folder: Path, hashes: list[str], vectors: np.ndarray, dimension: int, name: str | None = None) -> None:
    """One file of vectors: ``part-<name>.parquet`` (a fixed name: rewriting it is idempotent) or a new one."""
    folder.mkdir(parents=True, exist_ok=True)
    flat = pa.array(vectors.astype(np.float32).ravel(), pa.float32())
    table = pa.Table.from_arrays(
        [pa.array(hashes, pa.string()), pa.FixedSizeListArray.from_arrays(flat, dimension)], schema=_schema(dimension)
    )
    name = f"part-{name or uuid.uuid4().hex}.parquet"
    tmp = folder / f"{name}{TMP_MARK}"
    pq.write_table(table, tmp, compression="zstd", **crypto.write_options(_key(folder)))
    os.replace(tmp, folder / name)


def _merge(folder: Path, dimension: int) -> None:
    """Many small files into one: written first, then the merged ones deleted (never the other way)."""
    files = _files(folder)
    if len(files) <= MERGE_AT:
        return
    try:
        tables = [pq.read_table(p, **crypto.read_options(_key(folder))) for p in files]
    except FileNotFoundError:  # another process is merging the same files
        return
    table = pa.concat_tables(tables)
    keys = table.column("text_sha256").to_numpy(zero_copy_only=False)
    _, first = np.unique(keys, return_index=True)
    table = table.take(pa.array(np.sort(first)))
    name = f"part-{uuid.uuid4().hex}.parquet"
    tmp = folder / f"{name}{TMP_MARK}"
    pq.write_table(table, tmp, compression="zstd", **crypto.write_options(_key(folder)))
    os.replace(tmp, folder / name)
    for path in files:
        path.unlink(missing_ok=True)


def lookup(data_root: str, model_id: str, dimension: int, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The stored vectors of ``keys`` (those found)."""
    if "://" in data_root or not keys:
        return {}
    return _read(Path(data_root) / STORE_DIR / model_id, pa.array(list(dict.fromkeys(keys)), pa.string()), dimension)


def put(
    data_root: str, embedder: TextEmbedder, keys: Sequence[str], texts: Sequence[str], name: str | None = None
) -> int:
    """Embed and store the texts whose keys are not stored yet (one file, ``part-<name>``); how many."""
    unique = dict(zip(keys, texts, strict=True))
    folder = Path(data_root) / STORE_DIR / embedder.model_id
    found = _read(folder, pa.array(list(unique), pa.string()), embedder.dimension)
    missing = [k for k in unique if k not in found]
    if missing:
        _write(folder, missing, embedder.embed([unique[k] for k in missing]), embedder.dimension, name)
        _merge(folder, embedder.dimension)
    return len(missing)


def embed_cached(data_root: str, texts: Sequence[str], embedder: TextEmbedder) -> Embedded:
    """Vectors of ``texts`` (one row each), embedding only the distinct texts the store lacks.

    A data root on object storage (``s3://``) is not written to: the texts are embedded in memory."""
    hashes = [text_hash(t) for t in texts]
    unique = dict(zip(hashes, texts, strict=True))
    cacheable = "://" not in data_root
    folder = Path(data_root) / STORE_DIR / embedder.model_id
    found = _read(folder, pa.array(list(unique), pa.string()), embedder.dimension) if cacheable else {}
    missing = [h for h in unique if h not in found]
    if missing:
        vectors = embedder.embed([unique[h] for h in missing])
        found.update(zip(missing, vectors, strict=True))
        if cacheable:
            _write(folder, missing, vectors, embedder.dimension)
            _merge(folder, embedder.dimension)
    out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    for i, h in enumerate(hashes):
        out[i] = found[h]
    return Embedded(out, len(missing))
