"""Power and false-alarm rate of the drift verdict on simulated runs (fixed seeds).

Prints, for each injected shift, the share of diffs whose verdict is review or block, next to what
the analysis issue requires; and the same share on A/A data (no shift), which must stay at or below
the nominal 5%. Run: ``python tests/benchmarks/bench_power.py [--seeds 200]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.simulated_runs import SCENARIOS, detected


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=200)
    args = parser.parse_args()
    started = time.monotonic()
    print(f"{'scenario':<28} {'runs/side':>9} {'alarm rate':>10} {'required':>9}  ok")
    ok = True
    for n in (200, 500):
        rate = sum(detected(n, {}, seed)[0] != "stable" for seed in range(args.seeds)) / args.seeds
        passed = rate <= 0.05
        ok &= passed
        print(f"{'A/A (no shift)':<28} {n:>9} {rate:>10.1%} {'<= 5.0%':>9}  {'yes' if passed else 'NO'}")
    for name, (n, shift, required) in SCENARIOS.items():
        rate = sum(detected(n, shift, 10_000 + seed)[0] != "stable" for seed in range(args.seeds)) / args.seeds
        passed = rate >= required
        ok &= passed
        print(f"{name:<28} {n:>9} {rate:>10.1%} {'>= ' + format(required, '.0%'):>9}  {'yes' if passed else 'NO'}")
    print(f"({args.seeds} seeds per row, {time.monotonic() - started:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
