"""How an analysis process asks for memory: small pages, from the system allocator.

Why: a cold diff allocates and frees large arrays by the dozen — each side's Arrow columns, bootstrap
replicates, sorted copies, presence matrices — and most come fresh from the kernel. Two defaults made
each of those faults costly, because the kernel zeroes a whole 2 MiB huge page per fault, touched or
not: numpy advises huge pages (``madvise(MADV_HUGEPAGE)``) for every array of 4 MiB or more, and
pyarrow's default pool (mimalloc) reserves a 1 GiB arena advised the same way. On the 2-core VM the
benchmarks run on, a cold diff of 100k vs 100k runs spent 0.6-1.2 s of system time with both, and
0.3-0.45 s with neither, out of about a second of wall time (``tests/benchmarks/bench_diff.py``).

Only the analysis's own connections apply it (``db.connect``, ``connect_hours``, ``connect_ml``), not
``views.new_connection``, which the receiver's run derivation uses too: a receiver alone keeps
pyarrow's default pool. Under ``driftline serve --ui-port`` (receiver and console in one process) the
console's first connection switches that process as well; its normalizer workers are processes of
their own and keep theirs. A user who set ``NUMPY_MADVISE_HUGEPAGE`` or ``ARROW_DEFAULT_MEMORY_POOL``
keeps that choice.
"""

from __future__ import annotations

import os


def for_analysis() -> None:
    """Apply the policy to the allocations that follow (idempotent, process-wide)."""
    if "NUMPY_MADVISE_HUGEPAGE" not in os.environ:  # numpy reads it only at import: apply it now
        from numpy._core import multiarray

        setter = getattr(multiarray, "_set_madvise_hugepage", None)  # numpy's switch behind the variable
        if setter is not None:
            setter(False)
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        import pyarrow as pa

        if pa.default_memory_pool().backend_name != "system":
            pa.set_memory_pool(pa.system_memory_pool())
