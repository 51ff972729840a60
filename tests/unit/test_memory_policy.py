"""An analysis connection sets the process's memory policy (``analysis/memory_policy.py``): numpy's
new arrays and pyarrow's pool stop asking for huge pages, unless the user chose otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import sys
import numpy, pyarrow as pa
from numpy._core import multiarray
before = (multiarray._get_madvise_hugepage(), pa.default_memory_pool().backend_name)
from driftline.analysis.db import {factory}
{factory}(sys.argv[1])
print(before, (multiarray._get_madvise_hugepage(), pa.default_memory_pool().backend_name))
"""


def _probe(root: Path, factory: str, env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("NUMPY_MADVISE_HUGEPAGE", "ARROW_DEFAULT_MEMORY_POOL")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(factory=factory), str(root)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout.strip()


@pytest.mark.parametrize("factory", ["connect", "connect_ml"])
def test_an_analysis_connection_turns_huge_pages_off_for_numpy_and_arrow(tmp_path: Path, factory: str) -> None:
    _, after = _probe(tmp_path, factory, {}).split(") (")
    assert after == "False, 'system')"  # numpy's default is True, pyarrow's mimalloc on Linux


def test_a_users_own_choice_of_pages_and_pool_is_kept(tmp_path: Path) -> None:
    env = {"NUMPY_MADVISE_HUGEPAGE": "1", "ARROW_DEFAULT_MEMORY_POOL": "jemalloc"}
    assert _probe(tmp_path, "connect", env) == "(True, 'jemalloc') (True, 'jemalloc')"
