"""The write-ahead log: framing, torn tails, group commit, bounds, segment sealing and release."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from driftline.collector.errors import Overloaded, Unavailable
from driftline.collector.wal.log import Segment, WriteAheadLog, encode, list_segments, read_segment


def _wal(tmp_path: Path, sealed: list[Segment], **kw: object) -> WriteAheadLog:
    opts = {"segment_bytes": 1 << 20, "max_pending_bytes": 1 << 20, "seal_after": 60.0}
    opts.update(kw)
    return WriteAheadLog(tmp_path / "wal", on_sealed=sealed.append, **opts)  # type: ignore[arg-type]


def test_torn_tail_and_bad_checksum_end_replay(tmp_path: Path) -> None:
    path = tmp_path / "seg-000000000001.wal"
    good = encode(1, 5, b"hello") + encode(2, 6, b"world")
    path.write_bytes(good + encode(1, 7, b"torn-record")[:-3])
    assert list(read_segment(path)) == [(1, 5, b"hello"), (2, 6, b"world")]
    corrupted = bytearray(good)
    corrupted[-1] ^= 0xFF
    path.write_bytes(bytes(corrupted))
    assert list(read_segment(path)) == [(1, 5, b"hello")]


def test_concurrent_appends_share_fsyncs_and_seal(tmp_path: Path) -> None:
    sealed: list[Segment] = []
    wal = _wal(tmp_path, sealed)
    assert wal.open() == []
    threads = [threading.Thread(target=wal.append, args=(1, f"r{i}".encode())) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wal.seal_now()
    deadline = time.monotonic() + 5
    while not sealed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(sealed) == 1
    records = list(read_segment(sealed[0].path))
    assert sorted(p for _, _, p in records) == sorted(f"r{i}".encode() for i in range(50))
    assert os.stat(sealed[0].path).st_mode & 0o777 == 0o600
    assert wal.pending_bytes == sealed[0].size
    wal.release(sealed[0])
    assert wal.pending_bytes == 0 and not sealed[0].path.exists()
    wal.close()


def test_bounded_then_overloaded(tmp_path: Path) -> None:
    wal = _wal(tmp_path, [], max_pending_bytes=100)
    wal.open()
    wal.append(1, b"x" * 50)
    with pytest.raises(Overloaded):
        wal.append(1, b"x" * 50)
    wal.close()
    with pytest.raises(Unavailable):
        wal.append(1, b"x")


def test_size_and_age_seal_and_leftovers_are_returned(tmp_path: Path) -> None:
    sealed: list[Segment] = []
    wal = _wal(tmp_path, sealed, segment_bytes=100, seal_after=0.1)
    wal.open()
    wal.append(1, b"a" * 200)  # over segment_bytes: sealed right after the write
    wal.append(1, b"b")  # sealed by age
    time.sleep(0.4)
    assert [s.seq for s in sealed] == [1, 2]
    wal.close()
    again = _wal(tmp_path, [])
    leftovers = again.open()
    assert [s.seq for s in leftovers] == [1, 2] and again.pending_bytes == sum(s.size for s in leftovers)
    again.append(1, b"c")
    again.close()
    after = list_segments(tmp_path / "wal")
    # a restart starts a new epoch: sequence numbers start again, names never repeat, replay order holds
    assert [s.seq for s in after] == [1, 2, 1] and after[-1].epoch == again.epoch != wal.epoch
    assert len({s.stem for s in after}) == 3 and after[:2] == leftovers


def test_second_writer_is_refused(tmp_path: Path) -> None:
    first = _wal(tmp_path, [])
    first.open()
    with pytest.raises(RuntimeError, match="another receiver"):
        _wal(tmp_path, []).open()
    first.close()
