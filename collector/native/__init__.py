"""Compiled readers of OTLP requests, and the switch that picks them.

Why a switch: the compiled modules (``_logscan`` from ``logscan.c``, ``_spanscan`` from ``spanscan.c``,
built by ``pip install`` where a C compiler exists) are accelerators, never the rule. The Python
readers (``collector/ml_events.py``, ``collector/normalize/ml_rows.py``, the span normalizer) are the
specification; the compiled ones handle the common case and hand anything they are not sure of back
to them. ``DRIFTLINE_NATIVE=0`` turns it off (the tests run
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


def _load_spanscan() -> ModuleType | None:
    if not enabled():
        return None
    try:
        from driftline.collector.native import _spanscan  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _spanscan


_UNSET = object()
_LOADERS = {"logscan": _load, "spanscan": _load_spanscan}
_loaded: dict[str, ModuleType | None] = {}


def __getattr__(name: str) -> ModuleType | None:
    """``logscan`` / ``spanscan``: the compiled reader or None, loaded on first use — so what only
    needs ``enabled()`` (the diff's KS merge) does not load the reader and the convention it checks
    against."""
    loader = _LOADERS.get(name)
    if loader is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _loaded:
        _loaded[name] = loader()
    return _loaded[name]


def status() -> str:
    """One line for ``driftline doctor`` and the receiver's start-up log."""
    built = [f"driftline.collector.native._{name}" for name in _LOADERS if __getattr__(name) is not None]
    if len(built) == len(_LOADERS):
        return f"compiled ({', '.join(built)})"
    if not enabled():
        return "Python (DRIFTLINE_NATIVE=0)"
    if built:
        return f"partly compiled ({', '.join(built)}; the rest is not built: reinstall with a C compiler)"
    return "Python (the compiled readers are not built: reinstall with a C compiler)"
