"""The statistics' contracts, measured on simulated runs with fixed seeds.

Prints (with the number of seeds behind each figure):
- the A/A false-alarm rate of the diff (review-or-block verdicts on data with no change), alone and
  with ``--by`` over 5 segments (overall and segments one family), which must stay at or below 5%;
- the power of the diff on each injected shift, next to what the issues require;
- the coverage of 95% intervals (rates, rare rates, a median) at 200 and 20,000 runs per side, which
  must lie in 93-97%;
- scheduled monitoring: 24 hourly looks through ``run_entry`` with ``1h`` windows and with a growing
  version — the share of A/A days with any alarm (<= 5%) and of 5% -> 20% escalations caught.

Run: ``python tests/benchmarks/bench_power.py [--seeds 200] [--coverage-seeds 1000] [--streams 100]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests import simulated_days
from tests.simulated_runs import SCENARIOS, coverage, detected, runs


def _segments_aa(seed: int) -> bool:
    """One A/A diff with --by over 5 segments: does anything (overall or in a segment) move?"""
    from driftline.analysis.diff import segments
    from driftline.analysis.diff.engine import StatSettings, compare, verdict

    settings = StatSettings(bootstrap=200, seed=seed)
    rng = np.random.default_rng(seed)
    a, b = runs(1000, rng), runs(1000, rng)
    overall = compare(a, b, settings)
    seg = segments.compare_segments(a, b, rng.integers(0, 5, 1000), rng.integers(0, 5, 1000), "tenant", settings)
    segments.correct_together(overall, seg, settings)
    _, moved = segments.results(seg, settings)
    return verdict(overall, settings, 1000, 1000).verdict != "stable" or bool(moved)


def _row(name: str, n: object, rate: float, required: str, passed: bool) -> bool:
    print(f"{name:<40} {n!s:>9} {rate:>10.1%} {required:>10}  {'yes' if passed else 'NO'}")
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=200, help="diffs per A/A and power row")
    parser.add_argument("--coverage-seeds", type=int, default=1000, help="diffs per coverage row")
    parser.add_argument("--streams", type=int, default=100, help="A/A days per monitoring row")
    args = parser.parse_args()
    started = time.monotonic()
    ok = True
    print(f"{'diff':<40} {'runs/side':>9} {'rate':>10} {'required':>10}  ok")
    for n in (200, 500, 1000):
        rate = sum(detected(n, {}, seed)[0] != "stable" for seed in range(args.seeds)) / args.seeds
        ok &= _row("A/A false alarms", n, rate, "<= 5%", rate <= 0.05)
    rate = sum(detected(500, {"semantics": True}, seed)[0] != "stable" for seed in range(args.seeds)) / args.seeds
    ok &= _row("A/A false alarms, with agent semantics", 500, rate, "<= 5%", rate <= 0.05)
    rate = sum(_segments_aa(seed) for seed in range(args.seeds)) / args.seeds
    ok &= _row("A/A false alarms, --by over 5 segments", 1000, rate, "<= 5%", rate <= 0.05)
    for name, (n, shift, required) in SCENARIOS.items():
        rate = sum(detected(n, shift, 10_000 + seed)[0] != "stable" for seed in range(args.seeds)) / args.seeds
        ok &= _row(f"power: {name}", n, rate, f">= {required:.0%}", rate >= required)
    print(f"({args.seeds} seeds per row)\n")
    print(f"{'interval coverage (95%)':<40} {'runs/side':>9} {'coverage':>10} {'required':>10}  ok")
    for n in (200, 20_000):
        for case, rate in coverage(n, args.coverage_seeds, seed0=100_000).items():
            ok &= _row(case, n, rate, "93-97%", 0.93 <= rate <= 0.97)
    print(f"({args.coverage_seeds} seeds per row)\n")
    print(f"{'scheduled, 24 hourly looks (run_entry)':<40} {'streams':>9} {'rate':>10} {'required':>10}  ok")
    shifted = max(args.streams // 5, 1)
    with tempfile.TemporaryDirectory(prefix="driftline-bench-power-") as tmp:
        root = simulated_days.write_streams(Path(tmp) / "data", args.streams, shifted, seed=90_000)
        for candidate, label in (("1h", "1h windows"), ("v2", "growing version")):
            false_alarms, caught = simulated_days.monitor(root, Path(tmp), candidate, args.streams, shifted)
            rate = false_alarms / args.streams
            ok &= _row(f"A/A days with an alarm, {label}", args.streams, rate, "<= 5%", rate <= 0.05)
            ok &= _row(
                f"escalation 5% -> 20% caught, {label}", shifted, caught / shifted, ">= 90%", caught >= 0.9 * shifted
            )
    print(f"({args.streams} A/A streams and {shifted} shifted per row; {time.monotonic() - started:.0f} s in all)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
