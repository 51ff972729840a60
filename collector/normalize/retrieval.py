"""What a retrieval span retrieved, without its text: how many documents, their ids and content hashes.

Why: a retriever that starts returning other documents changes an agent's answers before anything else
moves, and the documents' text is content (stored only with ``--store-content``). OpenInference's
retriever and reranker spans (LlamaIndex, Haystack, DSPy…) list the documents as
``retrieval.documents.<i>.document.{id,content,score}``; this module turns them into three attributes
that are always kept — ``driftline.retrieval.documents`` (the count), ``…document_ids`` and
``…document_hashes`` (SHA-256 of each document's text, in rank order) — so two versions' retrievals can
be compared by SQL whether or not content is stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from driftline.collector.normalize.values import as_text, canonical_json, sha256

DOCUMENTS = "driftline.retrieval.documents"
DOCUMENT_IDS = "driftline.retrieval.document_ids"
DOCUMENT_HASHES = "driftline.retrieval.document_hashes"
_DOCUMENT_KEY = re.compile(r"^(?:retrieval\.documents|reranker\.output_documents)\.(\d+)\.document\.(id|content)$")


def summary(content: Iterable[tuple[str, Any]], attributes: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The three attributes for a retrieval span, from its content pieces (document texts) and its
    remaining attributes (document ids); empty when the span lists no documents."""
    ids: dict[int, str] = {}
    texts: dict[int, str] = {}
    for key, value in (*content, *attributes):
        found = _DOCUMENT_KEY.match(key)
        if found is None:
            continue
        index, field = int(found.group(1)), found.group(2)
        (ids if field == "id" else texts)[index] = value if isinstance(value, str) else as_text(value)
    positions = sorted({*ids, *texts})
    if not positions:
        return []
    out: list[tuple[str, Any]] = [(DOCUMENTS, len(positions))]
    if ids:
        out.append((DOCUMENT_IDS, canonical_json([ids.get(i) for i in positions])))
    if texts:
        out.append((DOCUMENT_HASHES, canonical_json([sha256(texts[i]) if i in texts else None for i in positions])))
    return out
