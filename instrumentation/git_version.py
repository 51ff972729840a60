"""A version name from git, for apps that do not give one.

Why: runs without a version cannot be compared, and most teams already name their releases in git.
``git describe --tags --always --dirty`` gives ``v1.4.0``, ``v1.4.0-3-gabc1234`` (three commits
after the tag) or ``abc1234`` (no tag yet), with ``-dirty`` for uncommitted changes — the same name
``driftline git compare`` computes for a ref, so the two meet in the data.
"""

from __future__ import annotations

import subprocess

TIMEOUT_S = 2.0


def describe(ref: str | None = None, cwd: str | None = None) -> str | None:
    """``git describe`` of ``ref`` (of the work tree, with ``-dirty``, when None); None outside a
    repository, without git, or when git takes longer than TIMEOUT_S."""
    args = ["git", "describe", "--tags", "--always"]
    args += ["--dirty"] if ref is None else [ref]
    try:
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    name = done.stdout.strip()
    return name if done.returncode == 0 and name else None
