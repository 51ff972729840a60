"""The receiver's health as the console shows it: its Prometheus ``/metrics`` text, summarised.

Why parse the exposition text rather than share objects: ``driftline ui`` usually runs apart from the
receivers (another process, another host), and the ``/metrics`` text is the one interface both have —
the same one Prometheus scrapes. In one process (``driftline serve --ui-port``) the receiver hands its
registry's text over directly, so the page never depends on a network hop to itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

TIMEOUT_S = 3.0


@dataclass
class ReceiverSource:
    """Where the receiver's metrics come from: an in-process reader, or a base URL to scrape."""

    url: str | None = None  # e.g. http://127.0.0.1:4318 (its /metrics and /healthz are read)
    read_metrics: Callable[[], str] | None = None
    read_health: Callable[[], dict[str, Any]] | None = None
    otlp_grpc: str | None = None
    otlp_http: str | None = None

    @property
    def label(self) -> str:
        return self.url or "this process's receiver"

    def fetch(self) -> tuple[str, dict[str, Any] | None]:
        """(metrics text, health document); raises OSError when the receiver cannot be reached."""
        if self.read_metrics is not None:
            return self.read_metrics(), self.read_health() if self.read_health else None
        import httpx

        base = (self.url or "").rstrip("/")
        try:
            metrics = httpx.get(f"{base}/metrics", timeout=TIMEOUT_S)
            metrics.raise_for_status()
            health = httpx.get(f"{base}/healthz", timeout=TIMEOUT_S)
        except httpx.HTTPError as exc:
            raise OSError(f"cannot read {base}/metrics: {exc}") from exc
        return metrics.text, (health.json() if health.status_code == 200 else None)


def _quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Quantile from cumulative histogram buckets, linear inside a bucket (as PromQL's histogram_quantile)."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def summarise(text: str) -> dict[str, Any]:
    """The console's view of one receiver's metrics (counters are totals since it started)."""
    out: dict[str, Any] = {
        "received": {},
        "accepted": {},
        "written": {},
        "rejected": [],
        "requests": [],
        "queue_depth": None,
        "wal_bytes": None,
        "segment_failures": 0.0,
        "export_p50_s": None,
        "export_p99_s": None,
    }
    export_buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels, value = s.labels, s.value
            if s.name == "driftline_received_items_total":
                out["received"][labels["signal"]] = value
            elif s.name == "driftline_accepted_items_total":
                out["accepted"][labels["signal"]] = value
            elif s.name == "driftline_written_items_total":
                out["written"][labels["dataset"]] = value
            elif s.name == "driftline_rejected_items_total":
                out["rejected"].append({"signal": labels["signal"], "reason": labels["reason"], "count": value})
            elif s.name == "driftline_export_requests_total":
                out["requests"].append({k: labels[k] for k in ("protocol", "signal", "outcome")} | {"count": value})
            elif s.name == "driftline_queue_depth":
                out["queue_depth"] = value
            elif s.name == "driftline_wal_bytes":
                out["wal_bytes"] = value
            elif s.name == "driftline_segment_failures_total":
                out["segment_failures"] = value
            elif s.name == "driftline_export_seconds_bucket":  # summed over protocols
                bound = float(labels["le"])
                export_buckets[bound] = export_buckets.get(bound, 0.0) + value
    pairs = list(export_buckets.items())
    out["export_p50_s"], out["export_p99_s"] = _quantile(pairs, 0.5), _quantile(pairs, 0.99)
    out["rejected"].sort(key=lambda r: -r["count"])
    return out


def read(source: ReceiverSource | None) -> dict[str, Any]:
    """The ``/api/v1/ingest`` document: never an error status — an unreachable receiver is a state."""
    if source is None:
        return {"configured": False, "reachable": False, "source": None, "error": None, "health": None, "metrics": None}
    try:
        text, health = source.fetch()
    except OSError as exc:
        return {
            "configured": True,
            "reachable": False,
            "source": source.label,
            "error": str(exc),
            "health": None,
            "metrics": None,
        }
    return {
        "configured": True,
        "reachable": True,
        "source": source.label,
        "error": None,
        "health": health,
        "metrics": summarise(text),
    }
