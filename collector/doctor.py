"""``driftline doctor``: check a data root and its receiver, and say what to fix.

Why a command: the failures people hit are environmental — a root the receiver cannot write, a file
a crash left half-written, files from a newer Driftline, a WAL that is not draining, a receiver that
is not listening — and each has a one-line fix worth printing next to the finding.
"""

from __future__ import annotations

import fcntl
import os
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from driftline.collector import crypto, inventory
from driftline.collector.schema import (
    DATASETS,
    SCHEMA_VERSION,
    TMP_MARK,
    filesystem,
    is_finished_parquet,
    schema_version_of,
)
from driftline.collector.wal.log import QUARANTINE_DIR, list_segments, quarantine_reason

STALE_TMP_S = 3600
MANY_FILES = 50  # files in one partition above which compaction is suggested


@dataclass
class Check:
    status: str  # ok | warn | error
    what: str
    detail: str
    fix: str = ""


def _version_tuple(v: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in v.split("."))
    except ValueError:
        return (0,)


def check_reader() -> Check:
    """Which readers of OTLP the receiver runs: the compiled ones read ML events ~10x faster and
    write recurring spans without the Python normalizer."""
    from driftline.collector import native

    if native.logscan is not None and native.spanscan is not None:
        return Check("ok", "ingest reader", native.status())
    return Check(
        "warn",
        "ingest reader",
        native.status(),
        "install gcc and the Python headers, then reinstall driftline (pip install --force-reinstall driftline)"
        if "not built" in native.status()
        else "unset DRIFTLINE_NATIVE to use the compiled reader",
    )


def check_root(root: str) -> list[Check]:
    fs, base = filesystem(root)
    info = fs.get_file_info(base)
    if info.type == pafs.FileType.NotFound:
        return [
            Check(
                "error",
                "data root",
                f"{root} does not exist",
                "start a receiver on it (driftline serve --data …) or fix --data / DRIFTLINE_DATA",
            )
        ]
    if info.type != pafs.FileType.Directory:
        return [Check("error", "data root", f"{root} is not a directory", "point --data at a directory")]
    checks = []
    probe = f"{base}/.doctor-{uuid.uuid4().hex[:8]}{TMP_MARK}probe"
    try:
        with fs.open_output_stream(probe) as f:
            f.write(b"ok")
        fs.delete_file(probe)
        checks.append(Check("ok", "data root", f"{root} exists and is writable"))
    except OSError as exc:
        checks.append(
            Check(
                "error",
                "data root",
                f"{root} is not writable: {exc}",
                "give the receiver's user write access (chown/chmod), or fix the bucket policy",
            )
        )
    encryption, key = check_encryption(fs, base)
    checks.append(encryption)
    if encryption.status == "error":  # without the right key every file would look unreadable
        return checks
    for dataset in DATASETS:
        checks += _check_dataset(fs, f"{base}/{dataset}", dataset, key)
    checks.append(check_conflicts(root))
    return checks


def check_encryption(fs: pafs.FileSystem, base: str) -> tuple[Check, crypto.RootKey | None]:
    """Whether the root is encrypted and the key in the environment is its key."""
    try:
        key = crypto.load_key()
    except crypto.EncryptionKeyError as exc:
        return Check("error", "encryption", str(exc), f"set {crypto.KEY_ENV} to 32 bytes (hex or base64)"), None
    wanted = crypto.root_key_id(fs, base)
    if wanted is None and key is None:
        return Check("ok", "encryption", "off (files are not encrypted)"), None
    if wanted is None:
        return (
            Check(
                "warn",
                "encryption",
                f"a key is set (id {key.key_id}) but the root is not encrypted",
                "a receiver encrypts a new, empty root from its first write; export and import to move data over",
            ),
            None,
        )
    if key is None:
        fix = f"set {crypto.KEY_ENV} or {crypto.KEY_FILE_ENV} to the root's key"
        return Check("error", "encryption", f"the root is encrypted (key id {wanted}) and no key is set", fix), None
    if key.key_id != wanted:
        return (
            Check(
                "error",
                "encryption",
                f"the root's key id is {wanted}, the key set is {key.key_id}",
                "use the root's key",
            ),
            None,
        )
    return Check("ok", "encryption", f"on: Parquet modular encryption and sealed WAL records (key id {wanted})"), key


def check_conflicts(root: str) -> Check:
    """Spans hidden by deduplication because another span reused their ids."""
    from driftline.collector.conflicts import find_conflicts

    try:
        found = find_conflicts(root)
    except (OSError, ValueError) as exc:  # an unreadable file is reported by the dataset check
        return Check("warn", "span ids", f"could not check for reused span ids: {str(exc).splitlines()[0][:120]}")
    if not found.count:
        return Check("ok", "span ids", "no span id is used by two different spans")
    examples = "; ".join(f"trace {e['trace_id']} span {e['span_id']} ({e['service']})" for e in found.examples)
    return Check(
        "warn",
        "span ids",
        f"{found.count} span id(s) used by different spans — only the first of each is analysed: {examples}",
        "the app reuses ids: do not seed Python's global random (seed a random.Random() of your own); "
        'list them with: driftline sql "select * from span_id_conflicts"',
    )


def _check_dataset(fs: pafs.FileSystem, base: str, dataset: str, key: crypto.RootKey | None = None) -> list[Check]:
    if fs.get_file_info(base).type != pafs.FileType.Directory:
        level = "warn" if dataset == "spans" else "ok"
        return [
            Check(level, dataset, "no data yet", "point an OTLP exporter at the receiver" if level == "warn" else "")
        ]
    files = [f for f in fs.get_file_info(pafs.FileSelector(base, recursive=True)) if f.type == pafs.FileType.File]
    parquet = [f for f in files if is_finished_parquet(f.path)]
    now = time.time()
    stale = [f for f in files if TMP_MARK in f.path and f.mtime and now - f.mtime.timestamp() > STALE_TMP_S]
    unreadable, versions = [], {}
    per_partition: dict[str, int] = {}
    for f in parquet:
        per_partition[os.path.dirname(f.path)] = per_partition.get(os.path.dirname(f.path), 0) + 1
        reason = inventory.problem(fs, f.path, dataset, key)
        if reason:
            unreadable.append(f"{f.path} ({reason})")
            continue
        meta = pq.read_metadata(f.path, filesystem=fs, **crypto.read_options(key)).metadata
        version = schema_version_of(meta) or "unknown"
        versions[version] = versions.get(version, 0) + 1
    out = [
        Check(
            "ok" if not unreadable else "error",
            dataset,
            f"{len(parquet)} file(s) in {len(per_partition)} partition(s); schema versions "
            + ", ".join(f"{v} ({n})" for v, n in sorted(versions.items())),
        )
    ]
    for item in unreadable[:10]:
        out.append(
            Check(
                "error",
                dataset,
                f"unreadable file {item}",
                "move it out of the root (its spans are lost unless the WAL still holds them)",
            )
        )
    newer = [v for v in versions if v != "unknown" and _version_tuple(v) > _version_tuple(SCHEMA_VERSION)]
    if newer:
        out.append(
            Check(
                "error",
                dataset,
                f"files written by a newer Driftline (schema {', '.join(newer)} > {SCHEMA_VERSION})",
                "upgrade this installation: pip install -U driftline",
            )
        )
    if "unknown" in versions:
        out.append(
            Check(
                "warn",
                dataset,
                f"{versions['unknown']} file(s) not written by Driftline",
                "files copied in by hand are read, but check their columns; prefer driftline import",
            )
        )
    if stale:
        out.append(
            Check(
                "warn",
                dataset,
                f"{len(stale)} unfinished write(s) older than an hour (…{TMP_MARK}…)",
                "a receiver crashed mid-write; the WAL replayed them: delete these files",
            )
        )
    crowded = [p for p, n in per_partition.items() if n > MANY_FILES]
    if crowded:
        out.append(
            Check(
                "warn",
                dataset,
                f"{len(crowded)} partition(s) with more than {MANY_FILES} files",
                "run driftline compact --data … (queries slow down with many small files)",
            )
        )
    return out


def check_wal(wal_dir: Path) -> list[Check]:
    if not wal_dir.exists():
        return [Check("ok", "WAL", f"{wal_dir} does not exist (no receiver has run with it)")]
    checks = []
    for instance in sorted(p for p in wal_dir.iterdir() if p.is_dir()):
        checks += _check_quarantine(instance, wal_dir)
        segments = list_segments(instance)
        size = sum(s.size for s in segments)
        running = _locked(instance / "LOCK")
        state = "a receiver holds it" if running else "no receiver holds it"
        if segments and not running:
            checks.append(
                Check(
                    "warn",
                    "WAL",
                    f"{instance.name}: {len(segments)} segment(s), {size:,} bytes not yet in Parquet; {state}",
                    f"start the receiver with --instance-id {instance.name} to replay them",
                )
            )
        else:
            checks.append(Check("ok", "WAL", f"{instance.name}: {len(segments)} segment(s), {size:,} bytes; {state}"))
    return checks or [Check("ok", "WAL", f"{wal_dir} holds no instance")]


def _check_quarantine(instance: Path, wal_dir: Path) -> list[Check]:
    out = []
    for segment in list_segments(instance / QUARANTINE_DIR):
        record = quarantine_reason(segment.path)
        out.append(
            Check(
                "error",
                "WAL quarantine",
                f"{instance.name}: {segment.path.name} ({segment.size:,} bytes, acknowledged but not in Parquet) "
                f"failed {record.get('attempts', '?')} times: {record.get('reason', 'no reason recorded')}",
                f"fix the cause, then: driftline replay --wal-dir {wal_dir} --instance-id {instance.name} --data …",
            )
        )
    return out


def _locked(path: Path) -> bool:
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def check_receiver(endpoint: str) -> Check:
    url = endpoint.rstrip("/") + "/healthz"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return Check("ok", "receiver", f"{url} answered {response.status}")
    except urllib.error.HTTPError as exc:
        return Check("error", "receiver", f"{url} answered {exc.code}", "check the receiver's log")
    except (urllib.error.URLError, OSError) as exc:
        return Check(
            "error",
            "receiver",
            f"{url} is not reachable ({getattr(exc, 'reason', exc)})",
            "start it (driftline serve) or pass the right --endpoint (its OTLP/HTTP port)",
        )
