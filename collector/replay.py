"""``driftline replay``: write quarantined WAL segments to Parquet once their cause is fixed.

Why a command and not a restart: a quarantined segment was acknowledged, so it must reach Parquet,
but it failed repeatedly inside a running receiver (a bug, a request that crashed a worker). After
the fix (an upgrade, a repaired mount) the operator replays it here, in the foreground, and sees
the outcome. It writes the very file names the receiver would have (instance id and segment stem),
so replaying twice, or next to a running receiver, never duplicates a span; the normalizer options
recorded at quarantine time are used, so content settings stay what the receiver had.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from driftline.collector.durable import fsync_dir
from driftline.collector.normalize.normalizer import NormalizeOptions
from driftline.collector.normalize.segment import process_segment
from driftline.collector.wal.log import QUARANTINE_DIR, list_segments, quarantine_reason


@dataclass
class Replayed:
    instance_id: str
    segment: str
    rows: int = 0
    error: str | None = None


def quarantined(wal_dir: Path, instance_id: str | None = None) -> list[tuple[str, Path]]:
    """(instance id, segment path) of every quarantined segment under ``wal_dir``."""
    if not wal_dir.is_dir():
        return []
    instances = [wal_dir / instance_id] if instance_id else sorted(p for p in wal_dir.iterdir() if p.is_dir())
    return [(i.name, s.path) for i in instances for s in list_segments(i / QUARANTINE_DIR)]


def replay(data: str, wal_dir: Path, instance_id: str | None = None) -> list[Replayed]:
    out = []
    for instance, path in quarantined(wal_dir, instance_id):
        record = quarantine_reason(path)
        known = NormalizeOptions.__dataclass_fields__
        options = NormalizeOptions(**{k: v for k, v in record.get("options", {}).items() if k in known})
        segment = next(s for s in list_segments(path.parent) if s.path == path)
        item = Replayed(instance, path.name)
        try:
            result = process_segment(str(path), segment.stem, data, instance, options)
        except Exception as exc:  # the cause is not fixed yet: it stays where it is
            item.error = f"{type(exc).__name__}: {exc}"
        else:
            item.rows = sum(result.written.values())
            path.unlink()
            with contextlib.suppress(FileNotFoundError):
                path.with_suffix(".json").unlink()
            fsync_dir(path.parent)
        out.append(item)
    return out
