"""Classical ML models: inference and late-label events, sent over OTLP as ``driftline.ml.*`` log records.

    from driftline.instrumentation import setup
    from driftline.instrumentation.ml import log_inference, log_label
    setup(service_name="fraud-scorer")
    rid = log_inference("fraud", "v2", {"amount": 120.5, "country": "FR"}, prediction=True, latency_ms=3.1)
    log_label(rid, False)          # later, from any process

The convention is in ``convention.py``; the functions in ``events.py``.
"""

from driftline.instrumentation.ml.events import (
    log_inference,
    log_inferences,
    log_label,
    log_labels,
    protect,
    stats,
    timed_inference,
    use_logger_provider,
)

__all__ = [
    "log_inference",
    "log_inferences",
    "log_label",
    "log_labels",
    "protect",
    "stats",
    "timed_inference",
    "use_logger_provider",
]
