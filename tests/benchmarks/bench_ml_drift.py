"""Model drift benchmark: false alarms, power and speed of ``driftline diff --model`` on simulated tables
with known truth (``tests/ml_tables.py``: 100 features, 80 numeric, 20 categorical, some integer, some
with missing values).

Prints: the A/A rate of reports that raise an alarm (any dimension moved) over ``--seeds`` pairs at
``--rows`` per side, with its 95% interval, and the share of dimensions an uncorrected 5% test would
flag; how many of the seven shifted features (+0.1 SD on five numeric, 5 points on two categorical)
are named and how many others; a sub-population filter (the candidate keeps only rows whose c00 is
below its median); what 500 rows per side cannot resolve; then the cold diff of ``--speed-rows`` vs
``--speed-rows`` inferences from Parquet through the CLI (wall time, peak RSS, time per feature).

    python tests/benchmarks/bench_ml_drift.py                      # 200 seeds, 20,000 per side, 1M vs 1M
    python tests/benchmarks/bench_ml_drift.py --seeds 20 --speed-rows 100000
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parents[2]))

from driftline.analysis.diff.engine import StatSettings, verdict
from driftline.analysis.ml.drift import compare_columns, moved_features, unresolved
from tests.ml_tables import SHIFTED_CATEGORICAL, SHIFTED_NUMERIC, Population


def _compare(a: dict, b: dict):
    n_a, n_b = len(next(iter(a.values()))), len(next(iter(b.values())))
    comparison, _, settings = compare_columns(dict(a), dict(b), n_a, n_b, StatSettings())
    report = type("R", (), {"dimensions": comparison.results})()
    return comparison, verdict(comparison, settings, n_a, n_b), moved_features(report)  # type: ignore[arg-type]


def _wilson(k: int, n: int) -> tuple[float, float]:
    z = 1.96
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def aa(pop: Population, seeds: int, rows: int) -> None:
    alarms = raw = dims = 0
    started = time.perf_counter()
    for seed in range(seeds):
        comparison, v, _ = _compare(pop.sample(rows, 10_000 + seed), pop.sample(rows, 20_000 + seed))
        alarms += v.verdict != "stable"
        raw += sum(r.p_value <= 0.05 for r in comparison.results)
        dims += len(comparison.results)
    low, high = _wilson(alarms, seeds)
    print(f"A/A, {seeds} seeds x {rows:,} per side ({dims // seeds} dimensions, {time.perf_counter() - started:.0f}s)")
    print(f"  reports with an alarm           {alarms / seeds:6.1%}   (95% CI {low:.1%}–{high:.1%}; target <= 5%)")
    print(f"  dimensions p <= 0.05 uncorrected {raw / dims:6.1%}   ({raw / seeds:.1f} per report without correction)")


def shift(pop: Population, seeds: int, rows: int) -> None:
    truth = set(SHIFTED_NUMERIC) | set(SHIFTED_CATEGORICAL)
    found, extra = [], []
    for seed in range(seeds):
        _, _, moved = _compare(pop.sample(rows, 30_000 + seed), pop.sample(rows, 40_000 + seed, shifted=True))
        found.append(len(moved & truth))
        extra.append(len(moved - truth))
    print(f"shift, {seeds} seeds x {rows:,} per side: of 7 shifted features named")
    print(f"  min {min(found)}  mean {np.mean(found):.2f}  max {max(found)}; other features named: max {max(extra)}")


def subpopulation(pop: Population, rows: int) -> None:
    a, b = pop.sample(rows, 50_000), pop.sample(rows * 2, 50_001)
    keep = pc.less(b["feature.c00"], float(np.nanmedian(b["feature.c00"].to_numpy(zero_copy_only=False))))
    b = {k: pc.filter(v, keep) for k, v in b.items()}
    comparison, v, _ = _compare(a, b)
    named = [r.name for r in comparison.results if r.status == "moved"]
    print(f"sub-population (candidate keeps c00 below its median): verdict {v.verdict}; moved {', '.join(named)}")


def small(pop: Population) -> None:
    comparison, v, moved = _compare(pop.sample(500, 60_000), pop.sample(500, 60_001, shifted=True))
    said = unresolved(comparison.results)
    print(f"500 per side, shifted: verdict {v.verdict}; named {sorted(moved) or 'none'}")
    print(f"  {said[0][:160] + '…' if said else 'nothing unresolved'}")


def performance(seeds: int) -> None:
    """CBPE's interval coverage under covariate shift (accuracy 0.90 -> 0.84) and the performance
    family's A/A false-alarm rate, on the simulated binary classifier of tests/ml_tables.py."""
    import pyarrow as pa_

    from driftline.analysis.ml import estimation, metrics
    from driftline.analysis.ml import performance as perf
    from driftline.analysis.ml.metrics import Labelled
    from tests.ml_tables import SHIFTED_SD, classifier_rows

    def labelled(r: dict) -> Labelled:
        return Labelled(r["y"].astype(int), r["pred"].astype(int), r["p"], "binary")

    def rows(n: int, seed: int, start: float) -> perf.Rows:
        r = classifier_rows(n, seed)
        proba = pa_.array([[("fraud", float(p)), ("legit", float(1 - p))] for p in r["p"]],
                          pa_.map_(pa_.string(), pa_.float64()))  # fmt: skip
        label = np.where(r["y"], "fraud", "legit").astype(object)
        predicted = np.where(r["pred"], "fraud", "legit").astype(object)
        nothing = np.full(n, np.nan)
        return perf.Rows(start + np.arange(n) * 20.0, nothing, predicted, proba, nothing, label, np.full(n, 3600.0))

    covered, errors, before, after = 0, [], [], []
    for seed in range(seeds):
        ref, window = (
            labelled(classifier_rows(5000, 100 + seed)),
            labelled(classifier_rows(2000, 200 + seed, sd=SHIFTED_SD)),
        )
        est = estimation.estimate(window, ref, seed=seed)["accuracy"]
        actual = metrics.value("accuracy", window)
        covered += est[1] <= actual <= est[2]
        errors.append(est[0] - actual)
        before.append(metrics.value("accuracy", ref))
        after.append(actual)
    low, high = _wilson(covered, seeds)
    print(f"CBPE, {seeds} seeds (reference 5,000 labelled; window 2,000 under covariate shift)")
    print(f"  accuracy {np.mean(before):.3f} -> {np.mean(after):.3f}; 95% interval covers the realised value "
          f"{covered / seeds:.0%} (CI {low:.0%}–{high:.0%}); mean estimation error {np.mean(errors):+.4f}")  # fmt: skip
    alarms = 0
    for seed in range(seeds):
        result = perf.evaluate(rows(3000, seed, 0.0), rows(3000, 1000 + seed, 3 * 86_400.0), reps=200, positive="fraud")
        alarms += bool(perf.worse(result))
    low, high = _wilson(alarms, seeds)
    print(f"performance A/A, {seeds} seeds x 3,000 labelled per side: a metric 'fell' in {alarms / seeds:.1%} "
          f"(95% CI {low:.1%}–{high:.1%}; target <= 5%)")  # fmt: skip


RUNS = 3  # cold diffs timed (one process each)


def speed(pop: Population, rows: int) -> None:
    with tempfile.TemporaryDirectory(prefix="driftline-bench-drift-") as tmp:
        data = str(Path(tmp) / "data")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
        t0 = time.perf_counter()
        for version, seed, shifted in (("v1", 1, False), ("v2", 2, True)):
            path = Path(tmp) / f"{version}.parquet"
            chunks = [pop.sample(min(rows, 250_000), seed * 100 + i, shifted) for i in range(math.ceil(rows / 250_000))]
            table = pa.concat_tables(pa.table({k.removeprefix("feature."): v for k, v in c.items()}) for c in chunks)
            pq.write_table(table.slice(0, rows), path)
            args = ["models", "import", "fraud", "--version", version, "--file", str(path), "--prediction=prediction"]
            subprocess.run(
                [sys.executable, "-m", "driftline.analysis.cli", *args, "--data", data],
                check=True,
                env=env,
                capture_output=True,
            )
        written = time.perf_counter() - t0
        # the diff in a process of its own that reports its own peak RSS: VmHWM of its address space (the
        # imports before it are children too, and ru_maxrss survives exec: a fork of this large process
        # would report this process's size)
        wrapper = (
            "import runpy, sys\n"
            "sys.argv = ['driftline'] + sys.argv[1:]\n"
            "try:\n    runpy.run_module('driftline.analysis.cli', run_name='__main__')\n"
            "finally:\n"
            "    hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
            "    print('RSS_KB', hwm[0], file=sys.stderr)\n"
        )
        cmd = [sys.executable, "-c", wrapper, "diff", "--model", "fraud", "v1", "v2"]
        os.sync()  # the import's dirty pages are written back before the clock starts, not during the diff
        times, peaks = [], []
        for _ in range(RUNS):  # each a new process (cold imports, cold DuckDB); the median is reported
            started = time.perf_counter()
            out = subprocess.run(
                [*cmd, "--format", "json", "--data", data], env=env, capture_output=True, text=True, check=False
            )
            times.append(time.perf_counter() - started)
            rss = [line for line in out.stderr.splitlines() if line.startswith("RSS_KB ")]
            peaks.append(int(rss[-1].split()[1]) / 1024 if rss else float("nan"))
            if out.returncode != 0:
                print(out.stderr)
        seconds, peak = statistics.median(times), max(peaks)
        spread = ", ".join(f"{t:.1f}" for t in times)
        print(f"speed: diff of {rows:,} vs {rows:,} inferences x 100 features from Parquet (written in {written:.0f}s)")
        print(f"  cold diff (CLI, new process)   {seconds:6.1f} s   (median of {RUNS}: {spread}; target <= 10 s)")
        print(f"  per feature                    {seconds / 100 * 1000:6.0f} ms")
        print(f"  peak RSS                       {peak:6,.0f} MiB  (the diff's process; target <= 2 GiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=200, help="A/A pairs")
    parser.add_argument("--rows", type=int, default=20_000, help="rows per side for A/A and shift")
    parser.add_argument("--shift-seeds", type=int, default=20)
    parser.add_argument("--speed-rows", type=int, default=1_000_000, help="inferences per side for the speed run")
    parser.add_argument("--label-seeds", type=int, default=100, help="seeds of the CBPE and performance A/A runs")
    args = parser.parse_args()
    pop = Population()
    print(f"driftline model drift benchmark ({os.cpu_count()} cores)")
    if args.seeds:  # 0 skips a part (e.g. --seeds 0 --shift-seeds 0 --label-seeds 0 for the speed run alone)
        aa(pop, args.seeds, args.rows)
    if args.shift_seeds:
        shift(pop, args.shift_seeds, args.rows)
        subpopulation(pop, args.rows)
        small(pop)
    if args.label_seeds:
        performance(args.label_seeds)
    if args.speed_rows:
        speed(pop, args.speed_rows)


if __name__ == "__main__":
    main()
