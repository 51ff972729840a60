"""The oracle for the compiled readers' Export check (``_logscan.check``, ``_spanscan.check``).

Why shared: both checks make one promise to the receiver — the number of items when every one would
be accepted, else None so the rule decides and words the refusals — and both test suites hold them to
``otlp.count_and_check`` the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from driftline.collector import otlp


def assert_same_verdict(signal: otlp.Signal, check: Callable[[bytes], int | None], payload: bytes) -> int | None:
    """The compiled check never accepts what the rule refuses, and counts the same items."""
    verdict = check(payload)
    try:
        request = otlp.parse(signal, payload)
    except otlp.MalformedRequest:
        return verdict  # refused before either runs; the compiled check only had to survive it
    total, rejected, _ = otlp.count_and_check(signal, request)
    if verdict is not None:
        assert verdict == total and not rejected, (verdict, total, rejected)
    return verdict
