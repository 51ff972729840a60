"""Sampling for high-volume apps: keep a share of traces, and say on every span which share it was.

Why record the rate: a report that counts runs or sums cost over sampled data is wrong by the inverse
of the rate unless it knows the rate. OTel's parent-based trace-id ratio sampler keeps or drops a
trace whole (children follow their parent's decision), so runs stay complete; the rate travels on
each span as ``driftline.sample_rate`` (the normalizer's ``sample_rate`` column) and the analysis
weighs each run by its inverse. Rates, means and the drift tests need no correction: a uniform sample
of traces leaves them unbiased, with the precision of the runs actually kept.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased

ATTRIBUTE = "driftline.sample_rate"


def sampler(rate: float | None) -> Sampler | None:
    """The sampler for ``rate`` (None: the SDK's default, which honours OTEL_TRACES_SAMPLER)."""
    return None if rate is None else ParentBased(TraceIdRatioBased(rate))


def rate_of(chosen: Any) -> float | None:
    """The share of traces ``chosen`` keeps, when it is a ratio sampler (plain or parent-based)."""
    root = getattr(chosen, "_root", chosen)
    if isinstance(root, TraceIdRatioBased):
        return float(root.rate)
    if chosen is None and os.environ.get("OTEL_TRACES_SAMPLER") in ("traceidratio", "parentbased_traceidratio"):
        try:
            return float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", "1"))
        except ValueError:
            return None
    return None


class SampleRateStamp(SpanProcessor):
    """Writes the rate on every span as it starts (spans of any instrumentation in the process)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        span.set_attribute(ATTRIBUTE, self.rate)

    def on_end(self, span: Any) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
