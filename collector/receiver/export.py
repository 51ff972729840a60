"""Stage 1: the one Export both transports call — decode, validate, append to the WAL, answer.

Why nothing more happens here: this is the acknowledgement path. Hashing, scrubbing, normalizing
and batching all run behind the WAL in worker processes; here the request is parsed once (to refuse
bad data with INVALID_ARGUMENT and to count refused spans for ``partial_success``) and its original
bytes are made durable. Each request is also checked by a compiled reader where it is built
(``collector/native``: ``logscan``, ``spanscan``): it answers only when every record or span is
acceptable, so a refusal is always decided and worded by ``otlp.count_and_check``.
"""

from __future__ import annotations

import hmac
import time

from google.protobuf.message import Message

from driftline.collector import otlp
from driftline.collector.errors import ExportError, Malformed, Unauthenticated
from driftline.collector.native import logscan, spanscan
from driftline.collector.receiver.budget import Budget
from driftline.collector.telemetry import Telemetry
from driftline.collector.wal.log import WriteAheadLog


class Exporter:
    def __init__(self, wal: WriteAheadLog, telemetry: Telemetry, auth_token: str | None, budget: Budget) -> None:
        self.wal = wal
        self.telemetry = telemetry
        self.budget = budget  # request bytes in memory at once, both transports
        self._expected = f"Bearer {auth_token}".encode() if auth_token else None

    def check_auth(self, authorization: str | None) -> None:
        if self._expected is None:
            return
        if not authorization or not hmac.compare_digest(authorization.encode(), self._expected):
            raise Unauthenticated("missing or wrong bearer token (Authorization: Bearer <token>)")

    def export(self, protocol: str, signal: otlp.Signal, payload: bytes) -> Message:
        """Acknowledge ``payload`` once durable; raise ExportError otherwise. Counts every outcome."""
        started = time.perf_counter()
        try:
            try:
                request = otlp.parse(signal, payload)
            except otlp.MalformedRequest as exc:
                raise Malformed(str(exc)) from exc
            checker = logscan if signal == "logs" else spanscan
            accepted = checker.check(payload) if checker is not None else None
            if accepted is not None:  # the compiled reader accepts every record: nothing to refuse
                total, by_reason, reason = accepted, {}, ""
            else:  # the rule itself (also when the compiled reader is unsure)
                total, by_reason, reason = otlp.count_and_check(signal, request)
            rejected = sum(by_reason.values())
            self.telemetry.received.labels(signal).inc(total)
            for code, count in by_reason.items():
                self.telemetry.rejected.labels(signal, code).inc(count)
            if total and rejected == total:
                raise Malformed(f"every item was refused: {reason}")
            if total:
                self.wal.append(otlp.SIGNAL_CODES[signal], payload)
                self.telemetry.accepted.labels(signal).inc(total - rejected)
            self.telemetry.requests.labels(protocol, signal, "ok" if not rejected else "partial").inc()
            return otlp.response(signal, rejected, reason)
        except ExportError as exc:
            self.refused(protocol, signal, exc)
            raise
        finally:
            self.telemetry.export_latency.labels(protocol).observe(time.perf_counter() - started)

    def refused(self, protocol: str, signal: str, exc: ExportError) -> None:
        """Count a refused request (also called by transports for errors found before ``export``)."""
        self.telemetry.requests.labels(protocol, signal, exc.reason).inc()
