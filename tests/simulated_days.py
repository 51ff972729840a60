"""Days of scheduled monitoring on disk: agents whose runs arrive hour by hour, looked at 24 times
through ``run_entry`` — exactly what the scheduler does — for tests/unit/test_sequential.py and
tests/benchmarks/bench_power.py.

Per stream (one agent): 300 baseline runs of v1 over the day before T0, then v2 runs hour by hour
(30-45 an hour) for 24 hours. Streams ``[0, streams)`` are A/A; the next ``shifted`` escalate 20%
instead of 5% from noon; the ``shifted`` after those escalate 20% over the whole of v2.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from tests.simulated_runs import run_spans, write_spans

T0 = datetime(2026, 6, 3, tzinfo=UTC)
_APPEND = "import sys; open(sys.argv[1], 'a').write(sys.stdin.read().replace(chr(10), ' ') + chr(10))"


def _ns(t: datetime) -> int:
    return int(t.timestamp()) * 10**9


def write_streams(root: Path, streams: int, shifted: int, seed: int = 7000) -> str:
    spans = []
    for i in range(streams + 2 * shifted):
        rng = np.random.default_rng(seed + i)
        agent = f"s{i}"
        for j in range(300):
            start = T0 - timedelta(hours=24) + timedelta(seconds=float(rng.uniform(0, 24 * 3600)))
            spans += run_spans(rng, agent, "v1", _ns(start) + j)
        for hour in range(24):
            noon = streams <= i < streams + shifted and hour >= 12
            escalation = 0.20 if noon or i >= streams + shifted else 0.05
            for j in range(int(rng.integers(30, 46))):
                start = T0 + timedelta(hours=hour, seconds=float(rng.uniform(0, 3590)))
                spans += run_spans(rng, agent, "v2", _ns(start) + j, escalation=escalation)
    write_spans(root, spans, "sim")
    return str(root)


def day(root: str, tmp: Path, stream: int, candidate: str) -> list[dict]:
    """24 hourly looks of one stream through run_entry; the alert events it sent (only the monitor
    alerts: no verdict alerts, no max_score)."""
    from driftline.analysis.diff.dimensions import DIMENSIONS
    from driftline.analysis.schedule.entries import parse
    from driftline.analysis.schedule.runner import run_entry

    name = f"s{stream}-{candidate}"
    events = tmp / f"{name}.jsonl"
    doc = {
        "stats": {"bootstrap": 50},
        "dimensions": {d.name: {"enabled": False} for d in DIMENSIONS if d.name != "outcome"},
        "alerts": {"log": {"type": "command", "command": [sys.executable, "-c", _APPEND, str(events)]}},
        "report": [
            {
                "name": name,
                "cron": "0 * * * *",
                "agent": f"s{stream}",
                "baseline": "v1",
                "candidate": candidate,
                "sequential": True,
                "formats": ["json"],
                "output_dir": str(tmp / "out"),
                "alert_on": [],
                "alerts": ["log"],
            }
        ],
    }
    entry = parse(doc)[name]
    for hour in range(1, 25):
        if run_entry(root, entry, T0 + timedelta(hours=hour), doc) is None:
            raise RuntimeError(f"{name}: the report for hour {hour} was not built")
    return [json.loads(line) for line in events.read_text().splitlines()] if events.exists() else []


def monitor(root: str, tmp: Path, candidate: str, streams: int, shifted: int, workers: int = 2) -> tuple[int, int]:
    """(A/A streams with any alarm, shifted streams whose escalation was caught) over one day.
    ``1h`` is judged on the streams that shift at noon, a growing version on those shifted throughout."""
    first = streams if candidate == "1h" else streams + shifted
    chosen = [*range(streams), *range(first, first + shifted)]
    n = len(chosen)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
        days = list(pool.map(day, [root] * n, [tmp] * n, chosen, [candidate] * n))
    false_alarms = sum(bool(events) for events in days[:streams])
    caught = sum(
        any("outcome escalated" in e["reason"] or "escalate_to_human" in e["reason"] for e in events)
        for events in days[streams:]
    )
    return false_alarms, caught
