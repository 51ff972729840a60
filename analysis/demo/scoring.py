"""A simulated fraud-scoring service for ``driftline demo --ml``: a fraud model v1, then a v2 whose
scores shifted, with chargebacks (labels) arriving minutes to hours after each score.

Why simulated through the real SDK: the demo shows the pipeline a team would run — ``log_inferences``
and ``log_labels`` from ``driftline.instrumentation.ml``, the OTLP exporter, the receiver, Parquet, the
views — with nothing but this file standing in for their model. The numbers are seeded, so two demos
show the same data.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

MODEL = "fraud"
COUNTRIES = ("FR", "DE", "US", "GB", "ES")
CHANNELS = ("web", "app", "pos")


@dataclass(frozen=True)
class ModelVersion:
    version: str
    bias: float  # v2 is mis-calibrated: it scores everything higher
    latency_ms: float  # median scoring latency
    hours_ago: tuple[float, float]  # when this version served (from, to), in hours before now


VERSIONS = (ModelVersion("v1", -3.2, 4.0, (6.0, 1.0)), ModelVersion("v2", -2.6, 6.5, (1.0, 0.0)))


def _features(rng: random.Random) -> dict[str, object]:
    return {
        "amount": round(rng.lognormvariate(3.6, 1.0), 2),
        "country": rng.choices(COUNTRIES, weights=(40, 25, 20, 10, 5))[0],
        "device_age_days": rng.randint(0, 900),
        "tx_last_24h": rng.randint(0, 12),
        "new_device": rng.random() < 0.15,
        "merchant": {"category": rng.choice(("grocery", "travel", "electronics", "fashion")), "risk": rng.random()},
    }


def _fraud_probability(f: dict[str, object], bias: float) -> float:
    merchant = f["merchant"]
    assert isinstance(merchant, dict)
    z = (
        bias
        + 0.6 * math.log1p(float(f["amount"])) / 4  # type: ignore[arg-type]
        + (0.9 if f["new_device"] else 0.0)
        + 0.12 * float(f["tx_last_24h"])  # type: ignore[arg-type]
        + 1.1 * float(merchant["risk"])
        - float(f["device_age_days"]) / 900  # type: ignore[arg-type]
    )
    return 1 / (1 + math.exp(-z))


def score(model_version: ModelVersion, n: int, seed: int = 7, now: float | None = None) -> tuple[int, int]:
    """Log ``n`` inferences of one version (spread over its serving hours) and the labels already known
    by ``now`` (a chargeback 10 minutes to a few hours later; most transactions are never disputed but
    are labelled "not fraud" once settled). Returns (inferences, labels)."""
    from driftline.instrumentation.ml import log_inferences, log_labels

    rng = random.Random(f"{seed}-{model_version.version}")
    now = time.time() if now is None else now
    start, end = (now - h * 3600 for h in model_version.hours_ago)
    features = [_features(rng) for _ in range(n)]
    times = sorted(rng.uniform(start, end) for _ in range(n))
    truth = [rng.random() < _fraud_probability(f, -3.2) for f in features]  # what really happens: v1's model
    probs = [_fraud_probability(f, model_version.bias) for f in features]
    ids = log_inferences(
        MODEL,
        model_version.version,
        features,
        [p > 0.5 for p in probs],
        probabilities=[{"fraud": round(p, 4), "ok": round(1 - p, 4)} for p in probs],
        latency_ms=[rng.lognormvariate(math.log(model_version.latency_ms), 0.35) for _ in range(n)],
        segments=[{"country": f["country"], "channel": rng.choice(CHANNELS)} for f in features],
        ts=times,
    )
    label_times = [t + rng.expovariate(1 / 1800) + 600 for t in times]
    known = [i for i in range(n) if label_times[i] <= now]
    log_labels([ids[i] for i in known], [truth[i] for i in known], ts=[label_times[i] for i in known], model=MODEL)
    return n, len(known)
