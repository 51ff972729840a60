"""Semantic drift benchmark: texts embedded per second, a cold and a warm diff's semantic step for
3,000 vs 3,000 answers, the A/A false-alarm rate over 100+ seeds, and power for a 20% topic mix at
300 answers per side.

"Cold" embeds every answer (an empty store), "warm" reads them all from the store (a second diff);
both include the MMD permutation test, the bootstrap interval, the themes and the comparer: what a
diff adds for the semantic dimension. A/A pairs and power are drawn from pools of answers embedded once.

    python tests/benchmarks/bench_semantic.py [--seeds 100] [--side 3000]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[2]))

from driftline.analysis.demo.answers import answers
from driftline.analysis.diff.dimensions import DIMENSIONS
from driftline.analysis.semantic.drift import measure
from driftline.analysis.semantic.topics import summarize
from driftline.collector.embed.model import embedder
from driftline.collector.embed.store import embed_cached

THREE = {"refund": 1 / 3, "shipping": 1 / 3, "billing": 1 / 3}
FLOOR = next(d.floor for d in DIMENSIONS if d.name == "semantic")
MIX = {**{k: 0.8 / 3 for k in THREE}, "account": 0.2}  # 20% of answers on a topic the baseline never had


def wilson(k: int, n: int) -> tuple[float, float]:
    z, p = 1.96, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100, help="A/A pairs and power pairs")
    parser.add_argument("--side", type=int, default=3000, help="answers per side of the timed diff")
    args = parser.parse_args()
    started = time.perf_counter()
    model = embedder()
    print(f"semantic drift benchmark (2 cores); model {model.model_id} loaded in {time.perf_counter() - started:.2f}s")

    texts_a, texts_b = answers(args.side, seed=1, mix=THREE), answers(args.side, seed=2, mix=MIX)
    with tempfile.TemporaryDirectory(prefix="driftline-bench-semantic-") as data:
        t0 = time.perf_counter()
        cold = embed_cached(data, texts_a + texts_b, model)
        embedded = time.perf_counter() - t0
        a, b = cold.vectors[: args.side].astype(float), cold.vectors[args.side :].astype(float)
        out = measure(a, b, reps=400, seed=0)
        summarize(texts_a, a, texts_b, b, model.model_id)
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        warm = embed_cached(data, texts_a + texts_b, model)
        assert warm.new == 0
        wa, wb = warm.vectors[: args.side].astype(float), warm.vectors[args.side :].astype(float)
        measure(wa, wb, reps=400, seed=0)
        summarize(texts_a, wa, texts_b, wb, model.model_id)
        warm_s = time.perf_counter() - t0
    print(f"embedding: {cold.new:,} distinct texts in {embedded:.1f}s = {cold.new / embedded:,.0f} texts/s")
    print(f"diff's semantic step, {args.side:,} vs {args.side:,} answers (20% topic mix):")
    print(f"  cold (embeds every answer)      {cold_s:6.1f} s   (test, interval, themes and comparer included)")
    print(f"  warm (all from the cache)       {warm_s:6.2f} s   (target <= 2 s)")
    print(
        f"  p {out['test'].p_value:.4f}, centroid cosine distance {out['effect']:.4f} "
        f"[{out['ci'][0]:.4f}, {out['ci'][1]:.4f}]"
    )

    # pools embedded once: A/A pairs are two disjoint draws from one pool; power pairs one from each
    rng = np.random.default_rng(0)
    pool_a = model.embed(answers(3000, seed=11, mix=THREE)).astype(float)
    pool_b = model.embed(answers(3000, seed=12, mix=MIX)).astype(float)
    for label, n, other in (("A/A", 300, None), ("20% topic mix", 300, pool_b)):
        flagged = moved = 0
        t0 = time.perf_counter()
        for seed in range(args.seeds):
            order = rng.permutation(len(pool_a))
            x = pool_a[order[:n]]
            y = pool_a[order[n : 2 * n]] if other is None else other[rng.permutation(len(other))[:n]]
            r = measure(x, y, reps=200, seed=seed)
            flagged += r["test"].p_value <= 0.05
            moved += r["test"].p_value <= 0.05 and r["ci"][0] > FLOOR
        low, high = wilson(flagged, args.seeds)
        print(
            f"{label}, {args.seeds} seeds x {n} per side: p <= 0.05 in {flagged / args.seeds:.1%} "
            f"(95% CI {low:.1%}–{high:.1%}); beyond the floor too: {moved / args.seeds:.1%} "
            f"({time.perf_counter() - t0:.0f}s)"
        )


if __name__ == "__main__":
    main()
