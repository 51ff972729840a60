"""The embeddings-only mode's hand-off: answers waiting to be embedded, private and transient like the WAL.

Why a spool: the normalizer (a worker process) sees each answer's text, but embedding it there would
hold up segments behind a model that embeds ~100 texts/s. So a worker only writes the sampled answers
of its segment to one file here — a cheap append, after the segment's Parquet files are in place — and
a separate, low-priority embedding process (``worker.py``) turns them into vectors and deletes the file.

Rules:
- The spool lives in the receiver's WAL directory (``<wal>/embed-spool/``, mode 0700, files 0600), the
  same privacy as the WAL's raw requests: the text is kept only until it is embedded (and scrubbed
  there, off the normalizers' path), never in the data root.
- Files are written under a temporary name and renamed into place, named after their segment, so a
  replayed segment rewrites the same file (no answer is embedded twice into two files).
- A byte budget bounds the backlog: when the embedder falls behind, new answers are dropped (counted,
  never waited for) — the sample gets sparser, ingest never slows down.
- Sampling is by the answer's hash: a share ``rate`` of distinct answers, the same ones on every
  receiver, so N receivers behind a load balancer sample consistently.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

SPOOL_DIR = "embed-spool"
SUFFIX = ".jsonl"
TMP = ".tmp"
BUDGET_BYTES = 64 * 1024 * 1024  # the backlog of answers waiting to be embedded
OPERATIONS = frozenset({"invoke_agent", "chat", "text_completion"})  # spans whose output is an answer


def sampled(output_hash: str, rate: float) -> bool:
    """Whether an answer is in the sample: the first 32 bits of its SHA-256 below ``rate`` of 2³²."""
    return rate >= 1.0 or int(output_hash[:8], 16) < rate * 0x1_0000_0000


def directory(wal_segment: str | Path) -> Path:
    """The spool of the WAL a segment belongs to (``<wal>/embed-spool``)."""
    return Path(wal_segment).parent / SPOOL_DIR


def backlog_bytes(spool: Path) -> int:
    try:
        return sum(p.stat().st_size for p in spool.glob(f"*{SUFFIX}"))
    except OSError:
        return 0


def write(spool: Path, stem: str, answers: dict[str, str], budget: int = BUDGET_BYTES) -> tuple[int, int]:
    """Spool a segment's sampled answers (output hash → text); (spooled, dropped). Never raises: a full
    disk or a full budget drops the answers — they are a sample, and the segment is already written."""
    if not answers:
        return 0, 0
    body = "".join(json.dumps({"h": h, "t": t}, ensure_ascii=False) + "\n" for h, t in answers.items()).encode()
    try:
        spool.mkdir(mode=0o700, parents=True, exist_ok=True)
        if backlog_bytes(spool) + len(body) > budget:
            return 0, len(answers)
        tmp = spool / f"{stem}{SUFFIX}{TMP}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, spool / f"{stem}{SUFFIX}")
    except OSError:
        return 0, len(answers)
    return len(answers), 0


def pending(spool: Path) -> list[Path]:
    """Spooled files, oldest first (finished ones only)."""
    try:
        files = [p for p in spool.glob(f"*{SUFFIX}") if p.is_file()]
    except OSError:
        return []
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


def read(path: Path) -> Iterator[tuple[str, str]]:
    """(output hash, text) of a spooled file; a torn line (impossible after the rename) is skipped."""
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            doc = json.loads(line)
            yield str(doc["h"]), str(doc["t"])
        except (ValueError, KeyError, TypeError):
            continue
