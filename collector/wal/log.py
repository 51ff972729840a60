"""Stage 2: the write-ahead log — framed segments, group-commit fsync, bounded.

Why: an Export is acknowledged only once its request bytes are durable, so a crash can lose nothing
that was acknowledged. One writer thread takes every append queued since its last write, writes them
with one ``write`` and one ``fdatasync`` (group commit), then releases all their waiters: the fsync
cost is shared by every concurrent Export. Segments are sealed by size or age and handed to the
normalizer; a segment file is deleted only after its rows are in Parquet (``release``). The bytes
not yet released are bounded; past the bound ``append`` raises ``Overloaded`` rather than growing.

Frame: ``<u32 payload length><u32 crc32><u8 signal><u64 received ns><payload>``. A torn tail (a
crash mid-write, never acknowledged) fails its length or CRC check and ends replay of that segment.

Segment identity: ``seg-<boot epoch>-<seq>.wal``. The epoch (start time in ms, hex, plus random bits)
is new at every start, so a segment's name — and the Parquet files named after it — never repeats
for an instance id, across clean restarts, crashes and out-of-order release; no counter has to be
persisted. Segments named ``seg-<seq>.wal`` (before epochs) are still replayed under their old name.

Failing safe: a write that fails part-way (ENOSPC) is cut back to the last whole frame before anything
else is written, so nothing acknowledged later sits behind torn bytes; appends are refused with a
retryable status while the disk stays full. An ``fdatasync`` error is fatal (after it Linux may have
dropped the dirty pages, so later fsyncs could succeed without the data): nothing is acknowledged
after it and ``on_fatal`` tells the receiver to stop, as a database does.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from driftline.collector.crypto import RootKey
from driftline.collector.durable import FILE_MODE, fsync_dir
from driftline.collector.errors import DiskFull, Overloaded, Unavailable

log = logging.getLogger(__name__)

HEADER = struct.Struct("<IIBQ")
KEY_MARKER = "ENCRYPTION"  # the key id that seals this WAL's records ("none": not sealed)
_SEGMENT_RE = re.compile(r"^seg-(?:([0-9a-f]{16})-)?(\d{12})\.wal$")
QUARANTINE_DIR = "quarantine"
DISK_FULL_PAUSE_S = 0.5  # after ENOSPC, refuse at once for this long instead of retrying every append
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def new_epoch() -> str:
    """16 hex digits: the start time in ms (sortable) and 16 random bits (two starts in one ms)."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.randbits(16):04x}"


@dataclass
class Segment:
    """A sealed segment: its ``stem`` (epoch and sequence number) names the Parquet files made from it."""

    path: Path
    seq: int
    size: int
    epoch: str = ""  # "" for segments written before boot epochs existed

    @property
    def stem(self) -> str:
        return f"{self.epoch}-{self.seq:012d}" if self.epoch else f"{self.seq:012d}"


@dataclass
class _Append:
    frame: bytes
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


def segment_path(directory: Path, epoch: str, seq: int) -> Path:
    return directory / f"seg-{epoch}-{seq:012d}.wal"


def parse_segment(path: Path) -> Segment | None:
    m = _SEGMENT_RE.match(path.name)
    if not m:
        return None
    return Segment(path, int(m.group(2)), path.stat().st_size, m.group(1) or "")


def list_segments(directory: Path) -> list[Segment]:
    """Segments in ``directory``, oldest first (older naming first, then by epoch and sequence)."""
    out = []
    for p in directory.iterdir() if directory.exists() else ():
        with contextlib.suppress(FileNotFoundError):  # released meanwhile
            segment = parse_segment(p)
            if segment is not None:
                out.append(segment)
    return sorted(out, key=lambda s: (s.epoch, s.seq))


def quarantine_reason(segment_path: Path) -> dict:
    """What ``quarantine`` recorded next to a segment: reason, attempts, time, normalizer options."""
    try:
        return json.loads(segment_path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return {}


def _associated(signal: int, received_ns: int) -> bytes:
    """What a sealed payload is bound to: its record's signal and receive time cannot be swapped."""
    return bytes((signal,)) + received_ns.to_bytes(8, "little")


def read_segment(path: Path, key: RootKey | None = None) -> Iterator[tuple[int, int, bytes]]:
    """(signal code, received ns, payload) for every intact record; stops at a torn tail. With ``key``,
    payloads were sealed by ``encode`` and are opened (another key raises EncryptionKeyError)."""
    with open(path, "rb") as f:
        data = f.read()
    pos, end = 0, len(data)
    while pos + HEADER.size <= end:
        length, crc, signal, received = HEADER.unpack_from(data, pos)
        body_start = pos + HEADER.size
        if body_start + length > end:
            log.warning("WAL %s: torn record at byte %d (never acknowledged), ignored", path.name, pos)
            return
        payload = data[body_start : body_start + length]
        if zlib.crc32(payload, zlib.crc32(bytes((signal,)))) != crc:
            log.warning("WAL %s: checksum mismatch at byte %d, rest of segment ignored", path.name, pos)
            return
        yield signal, received, (key.open(payload, _associated(signal, received)) if key else payload)
        pos = body_start + length


def encode(signal: int, received_ns: int, payload: bytes, key: RootKey | None = None) -> bytes:
    if key is not None:  # the frame, its length and checksum stay as they are: a torn tail is still found
        payload = key.seal(payload, _associated(signal, received_ns))
    crc = zlib.crc32(payload, zlib.crc32(bytes((signal,))))
    return HEADER.pack(len(payload), crc, signal, received_ns) + payload


class WriteAheadLog:
    def __init__(
        self,
        directory: Path,
        *,
        key: RootKey | None = None,
        segment_bytes: int,
        max_pending_bytes: int,
        seal_after: float,
        on_sealed: Callable[[Segment], None],
        fsync: bool = True,
        append_timeout: float = 30.0,
        on_fatal: Callable[[str], None] | None = None,
    ) -> None:
        self.directory = directory
        self.key = key  # records are sealed with it (encryption at rest, collector/crypto.py)
        self.segment_bytes = segment_bytes
        self.max_pending_bytes = max_pending_bytes
        self.seal_after = seal_after
        self.on_sealed = on_sealed
        self.fsync = fsync
        self.append_timeout = append_timeout
        self.on_fatal = on_fatal
        self.epoch = new_epoch()
        self.fatal: str | None = None  # set once an fsync failed: nothing is acknowledged after it
        self._full_until = 0.0
        self._cond = threading.Condition()
        self._queue: list[_Append] = []
        self._pending_bytes = 0  # in the WAL and not yet released (open + sealed segments, queued appends)
        self._running = False
        self._seal_requested = False
        self._thread: threading.Thread | None = None
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._seq = 0
        self._size = 0
        self._opened_at = 0.0

    # --- lifecycle --------------------------------------------------------------------------------

    def open(self) -> list[Segment]:
        """Lock the directory and return the segments a previous run left (to replay, oldest first)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)
        self._lock_fd = os.open(self.directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise RuntimeError(
                f"another receiver is using the WAL directory {self.directory}; give each receiver its own "
                "--instance-id (or --wal-dir)"
            ) from None
        fsync_dir(self.directory.parent)
        leftovers = list_segments(self.directory)
        self._check_key(leftovers)
        self._seq = 1  # names never repeat: the epoch is new at every start
        self._pending_bytes = sum(s.size for s in leftovers)
        self._running = True
        self._thread = threading.Thread(target=self._run, name="driftline-wal", daemon=True)
        self._thread.start()
        return leftovers

    def _check_key(self, leftovers: list[Segment]) -> None:
        """The WAL says which key (if any) sealed it: segments left by a run with another key (or none)
        would not open, so the receiver refuses to start rather than quarantine what it acknowledged."""
        marker = self.directory / KEY_MARKER
        current = self.key.key_id if self.key else "none"
        previous = marker.read_text().strip() if marker.exists() else "none"
        if leftovers and previous != current:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise RuntimeError(
                f"the WAL {self.directory} holds {len(leftovers)} segment(s) written "
                + ("without encryption" if previous == "none" else f"with key id {previous}")
                + ": start once as before to drain it, then change the encryption key"
            )
        if previous != current:
            tmp = marker.with_suffix(".tmp")
            with open(tmp, "w") as f:
                f.write(current)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, marker)
            fsync_dir(self.directory)

    def close(self) -> None:
        """Write what is queued, seal the open segment, stop the writer."""
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    # --- the ack path -----------------------------------------------------------------------------

    def append(self, signal: int, payload: bytes, received_ns: int | None = None) -> None:
        """Return once the record is fsynced; raise Overloaded when the WAL is full."""
        frame = encode(signal, received_ns or time.time_ns(), payload, self.key)
        item = _Append(frame)
        with self._cond:
            if self.fatal is not None:
                raise Unavailable(f"receiver stopped accepting: {self.fatal}")
            if not self._running:
                raise Unavailable("receiver is shutting down")
            if time.monotonic() < self._full_until:
                raise DiskFull("the write-ahead log's disk is full; retry later")
            if self._pending_bytes + len(frame) > self.max_pending_bytes:
                raise Overloaded(f"write-ahead log is full ({self._pending_bytes} bytes not yet in Parquet)")
            self._pending_bytes += len(frame)
            self._queue.append(item)
            self._cond.notify()
        if not item.done.wait(self.append_timeout):
            raise Unavailable("write-ahead log did not confirm the write in time")
        if item.error is not None:
            if isinstance(item.error, OSError) and item.error.errno in _FULL_ERRNOS:
                raise DiskFull(f"the write-ahead log's disk is full ({item.error.strerror}); retry later")
            raise Unavailable(f"write-ahead log write failed: {item.error}")

    def release(self, segment: Segment) -> None:
        """The segment's rows are in Parquet: delete it and give its bytes back to the budget."""
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()
        with self._cond:
            self._pending_bytes -= segment.size

    def quarantine(self, segment: Segment, record: dict) -> Path:
        """Move a segment that keeps failing aside (``quarantine/``, with ``record`` as JSON beside it)
        and give its bytes back to the budget: it no longer blocks ingest, and nothing is deleted.
        ``driftline replay`` retries it."""
        target_dir = self.directory / QUARANTINE_DIR
        target_dir.mkdir(mode=0o700, exist_ok=True)
        target = target_dir / segment.path.name
        sidecar = target.with_suffix(".json")
        sidecar.write_text(json.dumps(record, indent=2, default=str))
        os.chmod(sidecar, FILE_MODE)
        os.replace(segment.path, target)
        fsync_dir(target_dir)
        fsync_dir(self.directory)
        with self._cond:
            self._pending_bytes -= segment.size
        return target

    def seal_now(self) -> None:
        """Seal the open segment at the writer's next turn (flush on demand, used at shutdown and by tests)."""
        with self._cond:
            self._seal_requested = True
            self._cond.notify()

    # --- the writer thread ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._running and not self._queue and not self._seal_due():
                    self._cond.wait(self._wait_time())
                batch, self._queue = self._queue, []
                running = self._running
                seal = self._seal_due() or not running
                self._seal_requested = False
            if batch:
                self._write(batch)
            if (seal or self._size >= self.segment_bytes) and self._fd is not None:
                self._seal()
            if not running:
                with self._cond:
                    if not self._queue:
                        return

    def _seal_due(self) -> bool:
        if self._fd is None:
            return False
        return self._seal_requested or time.monotonic() - self._opened_at >= self.seal_after

    def _wait_time(self) -> float | None:
        if self._fd is None:
            return None
        return max(0.001, self.seal_after - (time.monotonic() - self._opened_at))

    def _write(self, batch: list[_Append]) -> None:
        error: BaseException | None = None
        try:
            if self.fatal is not None:
                raise OSError(errno.EIO, self.fatal)
            self._write_frames(b"".join(a.frame for a in batch))
        except OSError as exc:
            error = exc
            with self._cond:
                self._pending_bytes -= sum(len(a.frame) for a in batch)
        for a in batch:
            a.error = error
            a.done.set()

    def _write_frames(self, data: bytes) -> None:
        """Append and fdatasync ``data``; on failure leave the segment ending at its last whole frame."""
        if self._fd is None:
            path = segment_path(self.directory, self.epoch, self._seq)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
            self._size = 0
            self._opened_at = time.monotonic()
            try:
                fsync_dir(self.directory)  # the new name survives a power loss
            except OSError as exc:
                self._fail(f"fsync of the WAL directory {self.directory} failed: {exc}")
                raise
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:  # disk full or I/O error part-way: cut the torn bytes off
            log.error("WAL write failed (%s); nothing in this write was acknowledged", exc)
            self._cut_back()
            if exc.errno in _FULL_ERRNOS:
                with self._cond:
                    self._full_until = time.monotonic() + DISK_FULL_PAUSE_S
            raise
        if self.fsync:
            try:
                os.fdatasync(self._fd)
            except OSError as exc:
                self._fail(f"fdatasync of the write-ahead log failed ({exc}); nothing was acknowledged after it")
                raise
        self._size += len(data)

    def _cut_back(self) -> None:
        """Truncate the open segment to its last whole frame; if that fails too, abandon the segment
        (sealed at its good size: replay stops at the torn tail, after every acknowledged frame) so
        later appends start in a fresh file and never follow torn bytes."""
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self._size)
        except OSError as exc:
            log.error("could not cut the WAL segment back (%s); starting a new segment", exc)
            self._seal()

    def _fail(self, message: str) -> None:
        """An fsync failed: refuse everything from now on and ask the receiver to stop. The open
        segment is left on disk as it is, for replay at the next start."""
        log.critical("%s: stopping the receiver", message)
        with self._cond:
            self.fatal = message
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
            self._size = 0
        if self.on_fatal is not None:
            self.on_fatal(message)

    def _seal(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        segment = Segment(segment_path(self.directory, self.epoch, self._seq), self._seq, self._size, self.epoch)
        self._seq += 1
        self._size = 0
        if segment.size == 0:  # nothing acknowledged in it (a write failed at once): not a batch
            with contextlib.suppress(OSError):
                segment.path.unlink()
            return
        try:
            self.on_sealed(segment)
        except Exception:  # the segment stays on disk and is replayed at the next start
            log.exception("could not hand sealed segment %s to the normalizer", segment.path.name)
