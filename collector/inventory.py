"""The finished Parquet files of a dataset, and which of them a reader can use.

Why one module: a single garbage or foreign file under the data root (a copy gone wrong, a file of
another tool dropped into ``spans/``) used to make every reader fail — DuckDB refuses the whole glob,
pyarrow's dataset stops at the first unknown column. Every reader (the analysis views, the run cache,
``conventions``, ``export``, compaction, the doctor) now lists a dataset's files here and reads only
those that pass one rule, so a bad file costs its own rows and one warning naming it, never a report.

The rule: the footer parses, the file is not another dataset's (Driftline writes the dataset's name
into the footer), the dataset's key columns are present with their canonical types, and no column the
schema knows has a type of another family. The verdict is kept per (path, size, mtime), so a
long-lived process (the console) reads each footer once.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from driftline.collector import crypto
from driftline.collector.schema import DATASET_KEY, DATASETS, is_finished_parquet, partition_start

# The columns without which a file's rows mean nothing to the readers of its dataset.
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "spans": ("trace_id", "span_id", "start_time"),
    "logs": ("time",),
    "inferences": ("time", "model"),
    "labels": ("time", "request_id"),
}
_FAMILIES = (
    pa.types.is_string,
    pa.types.is_large_string,
    pa.types.is_integer,
    pa.types.is_floating,
    pa.types.is_boolean,
    pa.types.is_timestamp,
    pa.types.is_list,
    pa.types.is_map,
    pa.types.is_struct,
)


@dataclass(frozen=True)
class DataFile:
    path: str
    partition: str  # date=YYYY-MM-DD/hour=HH
    size: int
    mtime_ns: int
    columns: frozenset[str] = frozenset()  # from the footer


@dataclass(frozen=True)
class Unreadable:
    path: str
    reason: str


@dataclass
class Inventory:
    files: list[DataFile] = field(default_factory=list)  # readable, sorted by path
    unreadable: list[Unreadable] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.files]

    def lacks(self, names: Iterable[str]) -> bool:
        """Does some file miss one of ``names`` (a root older than a column, or a file from elsewhere)?"""
        wanted = frozenset(names)
        return any(not wanted <= f.columns for f in self.files)

    def by_partition(self) -> dict[str, list[DataFile]]:
        out: dict[str, list[DataFile]] = {}
        for f in self.files:
            out.setdefault(f.partition, []).append(f)
        return out


# (path, dataset, size, mtime) -> (problem, the file's columns)
_VERDICTS: dict[tuple[str, str, int, int], tuple[str | None, frozenset[str]]] = {}
_WARNED: set[str] = set()
_LOCK = threading.Lock()


def _family(t: pa.DataType) -> int:
    if pa.types.is_large_string(t):
        return 0  # read as a string
    for i, test in enumerate(_FAMILIES):
        if test(t):
            return i
    return -1


def _compatible(found: pa.DataType, expected: pa.DataType) -> bool:
    if pa.types.is_null(found) or found.equals(expected):
        return True
    a, b = _family(found), _family(expected)
    numeric = {_FAMILIES.index(pa.types.is_integer), _FAMILIES.index(pa.types.is_floating)}
    return a == b or (a in numeric and b in numeric)


def problem(fs: pafs.FileSystem, path: str, dataset: str, key: crypto.RootKey | None = None) -> str | None:
    """Why the file at ``path`` cannot be read as ``dataset`` (None when it can); ``key``: the root's
    encryption key (``crypto.key_for``)."""
    return _inspect(fs, path, dataset, key)[0]


def _inspect(
    fs: pafs.FileSystem, path: str, dataset: str, key: crypto.RootKey | None
) -> tuple[str | None, frozenset[str]]:
    """(why the file cannot be read, or None; its column names when it can)."""
    try:
        meta = pq.read_metadata(path, filesystem=fs, **crypto.read_options(key))
        found = meta.schema.to_arrow_schema()
    except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on a bad footer
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return ("not a Parquet file" if "magic" in text.lower() or "size" in text.lower() else text[:80]), frozenset()
    written_as = (meta.metadata or {}).get(DATASET_KEY)
    if written_as and written_as.decode(errors="replace") != dataset:
        return f"a {written_as.decode(errors='replace')} file, not {dataset}", frozenset()
    expected = DATASETS[dataset][0]
    for name in KEY_COLUMNS[dataset]:
        if name not in found.names:
            return f"no {name} column", frozenset()
    for name in found.names:
        if name in expected.names and not _compatible(found.field(name).type, expected.field(name).type):
            return f"column {name} is {found.field(name).type}, expected {expected.field(name).type}", frozenset()
    return None, frozenset(found.names)


def _partition_of(rel: str) -> str | None:
    """The partition of a file's path below the dataset directory (None: not where a sink writes)."""
    name, _, file = rel.rpartition("/")
    return name if file and partition_start(name) is not None else None


def scan(
    fs: pafs.FileSystem, base: str, dataset: str, partitions: Iterable[str] | None = None, inspect: bool = True
) -> Inventory:
    """The files of ``dataset`` under the root path ``base`` (only ``partitions`` when given), each
    checked as ``problem`` says; ``inspect=False``: listed only, footers unread (their columns are
    unknown) — for a reader that knows the files another way (the run cache's derived hours)."""
    directory = f"{base}/{dataset}"
    key = crypto.key_for(fs, base)  # an encrypted root without its key is an error, not unreadable files
    if partitions is None:
        if fs.get_file_info(directory).type != pafs.FileType.Directory:
            return Inventory()
        listing = fs.get_file_info(pafs.FileSelector(directory, recursive=True))
    else:
        listing = []
        for name in partitions:
            sub = f"{directory}/{name}"
            if fs.get_file_info(sub).type == pafs.FileType.Directory:
                listing.extend(fs.get_file_info(pafs.FileSelector(sub)))
    inventory = Inventory()
    for entry in sorted(listing, key=lambda e: e.path):
        if entry.type != pafs.FileType.File or not is_finished_parquet(entry.path):
            continue
        partition = _partition_of(entry.path[len(directory) :].strip("/"))
        if partition is None:
            continue  # not where the sink writes: no reader ever looked there
        size, mtime = entry.size or 0, entry.mtime_ns or 0
        if not inspect:
            inventory.files.append(DataFile(entry.path, partition, size, mtime))
            continue
        seen = (entry.path, dataset, size, mtime)
        with _LOCK:
            verdict = _VERDICTS.get(seen)
        if verdict is None:
            verdict = _inspect(fs, entry.path, dataset, key)
            with _LOCK:
                _VERDICTS[seen] = verdict
        reason, columns = verdict
        if reason:
            inventory.unreadable.append(Unreadable(entry.path, reason))
        else:
            inventory.files.append(DataFile(entry.path, partition, size, mtime, columns))
    return inventory


def warn(unreadable: list[Unreadable], root: str) -> None:
    """One line on stderr naming the unreadable files not yet reported by this process."""
    with _LOCK:
        new = [u for u in unreadable if u.path not in _WARNED]
        _WARNED.update(u.path for u in new)
    if not new:
        return
    named = "; ".join(f"{u.path} ({u.reason})" for u in new[:3])
    more = f" and {len(new) - 3} more" if len(new) > 3 else ""
    print(
        f"driftline: warning: skipped {len(new)} unreadable file(s): {named}{more}"
        f" — see driftline doctor --data {root}",
        file=sys.stderr,
    )
