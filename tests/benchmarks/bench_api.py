"""The REST API on real volume: 1M runs (10 versions of 100k, ~10M spans over 20 days of hour partitions).

Measured from a client over loopback against ``driftline ui`` in its own process, with the run cache
in place (as after the first request or a scheduled report): the p95 of filtered pages of runs
(version, status, tool, text search, time window, sort by cost, slow runs, next page by cursor) and
a warm ``diff`` of 100k vs 100k runs. Targets (console issue): page p95 <= 200 ms, warm diff <= 1 s.
Run: ``python tests/benchmarks/bench_api.py [--versions 10] [--runs 100000] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_diff import HOURS, T0, _version

REPEATS = 25


ENDPOINT_REPEATS = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--runs", type=int, default=100_000, help="runs per version")
    parser.add_argument("--keep", default=None, help="write the data here and keep it (reused when present)")
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="driftline-bench-api-"))
    versions = [f"v{i + 1}.0" for i in range(args.versions)]
    if not (root / "spans").exists():
        rng = np.random.default_rng(3)
        t = time.perf_counter()
        spans = sum(_version(root, i, v, args.runs, rng, i % 2 == 1) for i, v in enumerate(versions))
        print(f"generated {spans:,} spans, {args.runs * len(versions):,} runs, in {time.perf_counter() - t:.0f} s")
    t = time.perf_counter()
    from driftline.analysis.db import connect

    con = connect(str(root), cached_runs=True, only_runs=True)
    total = con.execute("SELECT count(*) FROM runs").fetchall()[0][0]
    del con
    print(f"run cache built/checked: {total:,} runs in {time.perf_counter() - t:.0f} s")

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "driftline.analysis.cli", "ui", "--data", str(root), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        with httpx.Client(base_url=base, timeout=120) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.get("/health")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and server.poll() is None, "the API did not start"
                    time.sleep(0.2)
            mid = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 // 10**9 + 5 * HOURS * 3600))
            first = client.get("/runs", params={"version": versions[3], "limit": 50}).json()
            queries = {
                "newest, no filter": {},
                "version": {"version": versions[3]},
                "version + outcome": {"version": versions[1], "outcome": "escalated"},
                "tool": {"tool": "escalate_to_human"},
                "text search": {"q": "0000000000000000abc"},
                "time window": {"started_after": mid},
                "sort by cost": {"sort": "cost", "version": versions[5]},
                "slow runs": {"slow": "true", "version": versions[2]},
                "next page (cursor)": {"version": versions[3], "cursor": first["next_cursor"]},
            }
            all_times: list[float] = []
            for name, params in queries.items():
                times = []
                client.get("/runs", params={**params, "limit": 50})  # connection and OS cache warm-up
                for _ in range(REPEATS):
                    t = time.perf_counter()
                    r = client.get("/runs", params={**params, "limit": 50})
                    times.append(time.perf_counter() - t)
                    r.raise_for_status()
                all_times += times
                print(
                    f"  runs page, {name:<20} p50 {_p(times, 50):6.1f} ms  p95 {_p(times, 95):6.1f} ms  "
                    f"({len(r.json()['runs'])} rows)"
                )
            print(
                f"filtered runs page over {total:,} runs: p95 {_p(all_times, 95):.0f} ms (target <= 200 ms), "
                f"p50 {_p(all_times, 50):.0f} ms, {len(all_times)} requests"
            )
            detail = []
            for run in first["runs"][:10]:
                t = time.perf_counter()
                client.get(f"/runs/{run['run_id']}").raise_for_status()
                detail.append(time.perf_counter() - t)
            print(f"a run's span tree (the Run page): p50 {_p(detail, 50):.0f} ms, max {max(detail) * 1000:.0f} ms")
            t = time.perf_counter()
            client.get("/cost/series", params={"by": "model", "bucket": "day", "since": "3650d"}).raise_for_status()
            print(
                f"cost per day by model over every call ({total * 5:,} calls; the Cost page): "
                f"{time.perf_counter() - t:.1f} s (no target)"
            )
            endpoints = {
                "/health": {},
                "/stats": {},
                "/ingest": {},
                "/versions": {},
                "/history": {},
                "/baselines": {},
                "/cost": {"by": "model"},
                "/cost/series": {"by": "version", "bucket": "day", "since": "3650d"},
                "/diff": {"baseline": versions[0], "candidate": versions[1]},
                "/diff?by=attribute": {"baseline": versions[0], "candidate": versions[1], "by": "tenant.id"},
            }
            print("every endpoint, warm (a request never waits for a rebuild of the run cache or the snapshot):")
            for name, params in endpoints.items():
                path = name.split("?")[0]
                client.get(path, params=params).raise_for_status()
                times = []
                for _ in range(ENDPOINT_REPEATS):
                    t = time.perf_counter()
                    client.get(path, params=params).raise_for_status()
                    times.append(time.perf_counter() - t)
                print(f"  {name:<22} p50 {_p(times, 50):8.1f} ms  p95 {_p(times, 95):8.1f} ms")
            diff_times = []
            for _ in range(4):
                t = time.perf_counter()
                doc = client.get("/diff", params={"baseline": versions[0], "candidate": versions[1]})
                diff_times.append(time.perf_counter() - t)
                doc.raise_for_status()
            d = doc.json()
            print(
                f"warm diff {d['baseline']['runs']:,} vs {d['candidate']['runs']:,} runs over the API: "
                f"first {diff_times[0]:.2f} s, then median {float(np.median(diff_times[1:])):.2f} s "
                f"(target <= 1 s), verdict {d['verdict']['verdict']}"
            )
    finally:
        server.terminate()
        server.wait(30)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
