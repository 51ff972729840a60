"""Compiled readers of OTLP requests, and the switch that picks them.

Why a switch: the compiled module (``_logscan``, built from ``logscan.c`` by ``pip install`` where a C
compiler exists) is an accelerator, never the rule. The Python readers (``collector/ml_events.py``,
``collector/normalize/ml_rows.py``) are the specification; the compiled one handles the common case
and hands anything it is not sure of back to them. ``DRIFTLINE_NATIVE=0`` turns it off (the tests run
both ways); a machine without a compiler gets the Python path and ``driftline doctor`` says so.
"""

from __future__ import annotations

import os
from types import ModuleType


def enabled() -> bool:
    """False when ``DRIFTLINE_NATIVE=0`` (or false/no/off): every compiled accelerator (this reader, the
    diff's KS merge) steps aside for its Python specification."""
    return os.environ.get("DRIFTLINE_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def _load() -> ModuleType | None:
    if not enabled():
        return None
    try:
        from driftline.collector.native import _logscan  # type: ignore[attr-defined]
    except ImportError:
        return None
    from driftline.instrumentation.ml import convention as cv

    # the C code spells the convention's limits too: refuse to run if they drifted apart
    limits = (_logscan.MAX_FEATURES, _logscan.MAX_SEGMENT_KEYS, _logscan.MAX_NAME_CHARS)
    if limits != (cv.MAX_FEATURES, cv.MAX_SEGMENT_KEYS, cv.MAX_NAME_CHARS):
        raise ImportError(f"_logscan was built with limits {limits}; rebuild it (pip install -e .)")
    return _logscan


_UNSET = object()
_logscan_module: object = _UNSET


def __getattr__(name: str) -> ModuleType | None:
    """``logscan``: the compiled reader or None, loaded on first use — so what only needs ``enabled()``
    (the diff's KS merge) does not load the reader and the convention it checks against."""
    global _logscan_module
    if name != "logscan":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _logscan_module is _UNSET:
        _logscan_module = _load()
    return _logscan_module  # type: ignore[return-value]


def status() -> str:
    """One line for ``driftline doctor`` and the receiver's start-up log."""
    if __getattr__("logscan") is not None:
        return "compiled (driftline.collector.native._logscan)"
    if not enabled():
        return "Python (DRIFTLINE_NATIVE=0)"
    return "Python (the compiled reader is not built: reinstall with a C compiler)"
