"""Making a local file or directory entry survive a power loss: the fsyncs a rename or create needs.

Why one module: the WAL (a new segment file) and the Parquet sink (a file renamed into place, then
the WAL segment deleted) both rely on the same rule — a file's data *and* the directory entry that
names it must be on disk before anything that depends on them happens. ``fsync`` of a file does not
persist its name; only an fsync of the directory does (ext4/xfs ``rename`` is not durable by itself).
Files and directories are created private (0600/0700): they hold what clients sent.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def fsync_dir(path: str | Path) -> None:
    """Persist the entries of directory ``path`` (new, renamed or deleted names in it)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: str | Path) -> None:
    """Persist a file's data and size (the file was written by someone else, e.g. pyarrow)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: str | Path) -> None:
    """``mkdir -p`` with private modes, fsyncing the parent of every directory it creates, so the
    chain of names down to a new file survives a power loss."""
    path = Path(path)
    missing: list[Path] = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)
        except FileExistsError:  # another worker made it meanwhile
            continue
        fsync_dir(d.parent)
