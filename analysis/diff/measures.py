"""How one dimension is measured on two samples: its test, its effect with a bootstrap interval, its
distance and distributions — numeric dimensions (medians, means, p95s, standardized differences)
and categorical ones (rates of categories and of set-valued labels).

Why apart from ``engine.py``: the engine decides (which dimensions, the correction, the score and the
verdict); this module measures. One ``Resampler`` per comparison gives every dimension the same
bootstrap replicates, so the composite score's interval is computed from them too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftline.analysis.diff.dimensions import Dimension, Encoded
from driftline.analysis.stats.effects import jensen_shannon, newcombe
from driftline.analysis.stats.significance import (
    TestResult,
    categorical_test,
    count_test,
    is_discrete,
    numeric_test,
    presence_test,
    tail_test,
)

if TYPE_CHECKING:
    from driftline.analysis.diff.engine import StatSettings


PROFILE_RUNS = 2000  # runs per side kept to tell whether two dimensions moved on the same runs
ORDER_KEYS = ("start_time", "trace_id")  # a side's canonical run order, where its columns carry them


def run_order(columns: Mapping[str, Any]) -> np.ndarray | None:
    """The positions of a side's runs in a canonical order: by start time, then trace id.

    Why: the bootstrap's subsample and the echo profiles pick runs by position, and DuckDB returns a
    side's rows in a different order at each load (a parallel scan, then the hash anti-join that
    leaves out the runs of cut traces). Without this, the same diff of the same data gave intervals
    that differed in their third digit from one run to the next, and a CI gate near its threshold
    could flip. None when the columns carry neither key (simulated samples keep their own order)."""
    keys = [k for k in ORDER_KEYS if k in columns]
    if not keys:
        return None
    table = pa.table({k: _as_arrow(columns[k]) for k in keys})
    return pc.sort_indices(table, sort_keys=[(k, "ascending") for k in keys]).to_numpy()


def _as_arrow(values: Any) -> pa.Array | pa.ChunkedArray:
    return values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(list(values))


class Resampler:
    """Shared bootstrap indices for the two sides, drawn over each side's runs in its canonical order
    (``run_order``) when it has one, so the same runs give the same replicates however they were read."""

    def __init__(
        self,
        n_a: int,
        n_b: int,
        settings: StatSettings,
        order_a: np.ndarray | None = None,
        order_b: np.ndarray | None = None,
    ) -> None:
        rng = np.random.default_rng(settings.seed)
        cap = settings.max_bootstrap_side
        in_order_a = order_a if order_a is not None else np.arange(n_a)
        in_order_b = order_b if order_b is not None else np.arange(n_b)
        self.sub_a = in_order_a[np.sort(rng.choice(n_a, cap, replace=False))] if n_a > cap else in_order_a
        self.sub_b = in_order_b[np.sort(rng.choice(n_b, cap, replace=False))] if n_b > cap else in_order_b
        # the runs whose values a dimension's profile keeps (``_profile``): the same for every dimension
        self.profile_a = in_order_a[:: max(1, n_a // PROFILE_RUNS)]
        self.profile_b = in_order_b[:: max(1, n_b // PROFILE_RUNS)]
        m_a, m_b = len(self.sub_a), len(self.sub_b)
        # positions within each subsample: a replicate gathers from the subsample's values (a few KiB,
        # in cache), not from random places in a side of 100k runs
        self.idx_a = rng.integers(0, m_a, size=(settings.bootstrap, m_a))
        self.idx_b = rng.integers(0, m_b, size=(settings.bootstrap, m_b))
        self.scale = math.sqrt((1 / n_a + 1 / n_b) / (1 / m_a + 1 / m_b))
        self.alpha = settings.alpha
        self.seed, self.cap, self.reps = settings.seed, cap, settings.bootstrap

    def interval(
        self, stat: Any, a: np.ndarray, b: np.ndarray, point: float, level: float = 0.95
    ) -> tuple[np.ndarray, float, float]:
        """Replicates (rescaled to the full sample size) and the percentile interval of ``stat`` at
        ``level`` (above 0.95 when the effect was selected among several: simultaneous coverage)."""
        sub_a, sub_b = a[self.sub_a], b[self.sub_b]
        sub_point = float(stat(sub_a[None, :].copy(), sub_b[None, :].copy())[0])  # stat may reorder its input
        reps = stat(sub_a[self.idx_a], sub_b[self.idx_b])
        reps = point + (reps - sub_point) * self.scale
        finite = reps[np.isfinite(reps)]
        if len(finite) == 0:
            return reps, point, point
        tail = (1 - level) / 2
        low, high = np.quantile(finite, [tail, 1 - tail])
        return reps, float(low), float(high)


def _center(kind: str, nan: bool) -> Any:
    """The center of each row of a replicate matrix. Medians and quantiles partition the rows in
    place: every replicate matrix is a fresh gather that nothing reads again."""
    if kind == "median":
        fn = np.nanmedian if nan else np.median
        return lambda x, axis=None: fn(x, axis=axis, overwrite_input=True)
    if kind == "p95":
        fn = np.nanquantile if nan else np.quantile
        return lambda x, axis=None: fn(x, 0.95, axis=axis, overwrite_input=True)
    return np.nanmean if nan else np.mean


def _quantiles(s: np.ndarray, qs: list[float]) -> list[float]:
    """Linear-interpolated quantiles of an already sorted array (what np.quantile gives, without the
    partition it would redo for every call)."""
    pos = np.asarray(qs) * (len(s) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(s) - 1)
    return [float(x) for x in s[lo] + (pos - lo) * (s[hi] - s[lo])]


def _histogram(s: np.ndarray, edges: np.ndarray) -> list[float]:
    """Shares per bin of a sorted array; values beyond the outer edges count in the outer bins."""
    cuts = np.searchsorted(s, edges[1:-1], "left")
    return [float(c) for c in np.diff(np.concatenate([[0], cuts, [len(s)]])) / len(s)]


def _distribution(sa: np.ndarray, sb: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
    """Means, quantiles and a shared 20-bin histogram of both (sorted, NaN-free) sides, for charts."""
    lo = min(_quantiles(sa, [0.01])[0], _quantiles(sb, [0.01])[0])
    hi = max(_quantiles(sa, [0.99])[0], _quantiles(sb, [0.99])[0])
    edges = np.linspace(lo, hi if hi > lo else lo + 1, 21)
    hist = {"edges": [float(e) for e in edges], "baseline": _histogram(sa, edges), "candidate": _histogram(sb, edges)}
    quantiles = [5, 25, 50, 75, 95]
    qs = [q / 100 for q in quantiles]
    base = {"mean": float(np.mean(sa)), "quantiles": dict(zip(map(str, quantiles), _quantiles(sa, qs), strict=True))}
    cand = {"mean": float(np.mean(sb)), "quantiles": dict(zip(map(str, quantiles), _quantiles(sb, qs), strict=True))}
    return {**base, "histogram": hist}, cand


def _psi(sa: np.ndarray, sb: np.ndarray, bins: int = 10) -> float:
    """Population stability index over the baseline's deciles (reported because users know it; never
    a decision on its own: it has no sampling distribution the report could correct)."""
    edges = np.unique(_quantiles(sa, list(np.linspace(0, 1, bins + 1)[1:-1])))
    pa_ = np.diff(np.concatenate([[0], np.searchsorted(sa, edges, "right"), [len(sa)]])) / len(sa)
    pb_ = np.diff(np.concatenate([[0], np.searchsorted(sb, edges, "right"), [len(sb)]])) / len(sb)
    pa_, pb_ = np.clip(pa_, 1e-4, None), np.clip(pb_, 1e-4, None)
    return float(np.sum((pb_ - pa_) * np.log(pb_ / pa_)))


def _numeric_result(
    test: TestResult,
    ks: TestResult,
    name: str,
    point: float,
    ci: tuple[float, float],
    reps: np.ndarray,
    values: tuple[float, float],
    dist: tuple[dict[str, Any], dict[str, Any]],
) -> dict[str, Any]:
    """A numeric dimension's raw result; its distance is the KS statistic (0 when another test ran)."""
    return {
        "test": test,
        "effect_name": name,
        "effect": point,
        "ci": ci,
        "reps": reps,
        "focus": None,
        "values": values,
        "distance": float(ks.statistic) if ks.method == "kolmogorov_smirnov" else 0.0,
        "dist": dist,
    }


def wasserstein(sa: np.ndarray, sb: np.ndarray, points: int = 2000) -> float:
    """Earth mover's distance of two sorted samples as the mean gap between their quantile functions
    on a fine grid: O(points) on sorted data, where scipy re-sorts and searches both samples (most of
    a million-row diff's time); within 0.1% of the exact value on smooth data (a reported figure)."""
    u = (np.arange(points) + 0.5) / points
    return float(np.mean(np.abs(np.asarray(_quantiles(sa, list(u))) - np.asarray(_quantiles(sb, list(u))))))


def _row_mean_sd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's mean and standard deviation (ddof 1) over its non-NaN values; NaN for a row with too
    few (an all-missing replicate of a mostly missing feature, dropped by the interval) — without
    numpy's warning, whose silencing is not thread-safe."""
    present = ~np.isnan(x)
    if present.all():  # the common case: no missing value, numpy's own reductions
        return x.mean(axis=1), x.std(axis=1, ddof=1)
    count = present.sum(axis=1)
    values = np.where(present, x, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = values.sum(axis=1) / count
        squares = np.where(present, (x - mean[:, None]) ** 2, 0.0).sum(axis=1)
        return mean, np.sqrt(squares / (count - 1))


WASSERSTEIN_POINTS = 200  # quantile-grid points of each bootstrap replicate's Wasserstein distance


def _wasserstein_interval(sa: np.ndarray, sb: np.ndarray, sd: float, rs: Resampler) -> tuple[np.ndarray, float, float]:
    """Bootstrap replicates and 95% interval of the Wasserstein distance in baseline SDs.

    Each side is reduced to at most ``rs.cap`` evenly spaced order statistics (its quantile function),
    resampled with sorted indices (so each replicate is sorted without sorting values), and the
    replicates' spread is rescaled to the full sizes as the other intervals are (m-out-of-n)."""
    point = wasserstein(sa, sb) / sd

    def thin(s: np.ndarray) -> np.ndarray:
        return s[np.linspace(0, len(s) - 1, rs.cap).astype(int)] if len(s) > rs.cap else s

    ta, tb = thin(sa), thin(sb)
    rng = np.random.default_rng(rs.seed + 104_729)
    u = (np.arange(WASSERSTEIN_POINTS) + 0.5) / WASSERSTEIN_POINTS

    def quantile_rows(t: np.ndarray) -> np.ndarray:
        idx = np.sort(rng.integers(0, len(t), size=(rs.reps, len(t))), axis=1)
        pos = u * (len(t) - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, len(t) - 1)
        v_lo, v_hi = t[idx[:, lo]], t[idx[:, hi]]
        return v_lo + (pos - lo) * (v_hi - v_lo)

    reps_sub = np.mean(np.abs(quantile_rows(ta) - quantile_rows(tb)), axis=1) / sd
    sub_point = wasserstein(ta, tb) / sd
    scale = math.sqrt((1 / len(sa) + 1 / len(sb)) / (1 / len(ta) + 1 / len(tb)))
    reps = point + (reps_sub - sub_point) * scale
    low, high = np.quantile(reps, [0.025, 0.975])
    return reps, float(min(low, point)), float(max(high, point))


def _standardized(
    dim: Dimension,
    a: np.ndarray,
    b: np.ndarray,
    sa: np.ndarray,
    sb: np.ndarray,
    ks: TestResult,
    test: TestResult,
    rs: Resampler,
) -> dict[str, Any]:
    """A model feature's shift of mean in baseline standard deviations (what ML teams read), with the
    distances they know beside it: Wasserstein in baseline SDs, PSI, missing rates and the share of
    candidate values outside the baseline's range (reported, not tested: the test is ``test``).

    Why a second effect: a mean shift does not see a change of spread or shape (a sensor that got
    noisier, a bimodal feature whose modes swapped weight), so such a feature — KS significant — would
    be called "detectable but negligible". When the mean's interval stays inside the floor but the
    Wasserstein distance's lies beyond it, the Wasserstein distance (in baseline SDs; a pure shift of
    the mean by d SD is a distance of d) is the effect the status is decided on and reported."""
    sd = float(np.std(sa, ddof=1))
    if sd > 0:
        name, point = "mean_shift_sd", (float(np.mean(sb)) - float(np.mean(sa))) / sd

        def stat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            mx, sx = _row_mean_sd(x)
            my, _ = _row_mean_sd(y)
            with np.errstate(divide="ignore", invalid="ignore"):
                return (my - mx) / sx

    else:  # a constant baseline: no scale to divide by
        name, point = "mean_difference", float(np.mean(sb)) - float(np.mean(sa))

        def stat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return _row_mean_sd(y)[0] - _row_mean_sd(x)[0]

    reps, low, high = rs.interval(stat, a, b, point)
    wasserstein_sd = wasserstein(sa, sb) / sd if sd > 0 else None
    # only where it can matter: the mean stays inside its floor and the test could survive correction
    # (a raw p above alpha never does), so an A/A feature or a plain shift costs no extra bootstrap
    if wasserstein_sd is not None and not (low > dim.floor or high < -dim.floor) and test.p_value <= rs.alpha:
        w_reps, w_low, w_high = _wasserstein_interval(sa, sb, sd, rs)
        if w_low > dim.floor:
            name, point, reps, low, high = "wasserstein_sd", wasserstein_sd, w_reps, w_low, w_high
    base, cand = _distribution(sa, sb)
    cand.update(
        wasserstein_sd=wasserstein_sd,
        psi=_psi(sa, sb),
        missing_baseline=1 - len(sa) / len(a),
        missing_candidate=1 - len(sb) / len(b),
        # sorted: the candidate's values below the baseline's minimum and above its maximum, by search
        outside_baseline_range=float(
            (np.searchsorted(sb, sa[0], "left") + len(sb) - np.searchsorted(sb, sa[-1], "right")) / len(sb)
        ),
    )
    means = (float(np.mean(sa)), float(np.mean(sb)))
    return _numeric_result(test, ks, name, point, (low, high), reps, means, (base, cand))


def numeric(dim: Dimension, a: np.ndarray, b: np.ndarray, rs: Resampler) -> dict[str, Any]:
    # NaN sorts last: sort everything, keep the values before the first NaN (no masked copy)
    sa = np.sort(a)[: len(a) - int(np.count_nonzero(np.isnan(a)))]
    sb = np.sort(b)[: len(b) - int(np.count_nonzero(np.isnan(b)))]
    if len(sa) < 2 or len(sb) < 2:
        return {"status": "no data"}
    ks = numeric_test(sa, sb, presorted=True)
    if dim.center == "p95":
        test = tail_test(sa, sb, 0.95)
    elif is_discrete(sa, sb, presorted=True):
        test = count_test(sa, sb)
    else:
        test = ks
    nan = len(sa) < len(a) or len(sb) < len(b)
    if dim.center == "sd":
        return _standardized(dim, a, b, sa, sb, ks, test, rs)
    center = "mean" if dim.center == "difference" else dim.center
    fn = _center(center, nan)
    if center in ("median", "p95"):
        q = 0.5 if center == "median" else 0.95
        base, cand = _quantiles(sa, [q])[0], _quantiles(sb, [q])[0]
    else:
        base, cand = float(np.mean(sa)), float(np.mean(sb))
    if dim.center == "difference" or base == 0:
        name = "mean_difference" if dim.center == "difference" else f"{center}_difference"

        def stat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return fn(y, axis=1) - fn(x, axis=1)

        point = cand - base
    else:
        name = f"{center}_shift"

        def stat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            bx = fn(x, axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                return (fn(y, axis=1) - bx) / np.abs(bx)

        point = (cand - base) / abs(base)
    reps, low, high = rs.interval(stat, a, b, point)
    out = _numeric_result(test, ks, name, point, (low, high), reps, (base, cand), _distribution(sa, sb))
    return {**out, "profile": _profile(a, b, rs)}


def _profile(a: np.ndarray, b: np.ndarray, rs: Resampler) -> np.ndarray:
    """The per-run values of a dimension (its focus indicator, or its numbers) on an even subsample of
    both sides' runs in their canonical order: the same runs for every dimension (every column of a
    side is in one row order) and for every load of the same runs."""
    return np.concatenate([a[rs.profile_a], b[rs.profile_b]]).astype(float)


def _rate_stat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return y.mean(axis=1) - x.mean(axis=1)


def _top(rates: dict[str, float], k: int = 12) -> dict[str, float]:
    return dict(sorted(rates.items(), key=lambda kv: -kv[1])[:k])


def categorical(dim: Dimension, enc: Encoded, rs: Resampler) -> dict[str, Any]:
    n_a, n_b, k = enc.n_a, enc.n_b, len(enc.labels)
    if k == 0:
        return {"status": "no data"}
    presence = None
    if dim.kind == "category":
        ca, cb = np.bincount(enc.a, minlength=k), np.bincount(enc.b, minlength=k)
        da = {enc.labels[i]: int(c) for i, c in enumerate(ca) if c}
        db = {enc.labels[i]: int(c) for i, c in enumerate(cb) if c}
        test = categorical_test(da, db)
    else:
        ca, cb = np.bincount(enc.a[:, 1], minlength=k), np.bincount(enc.b[:, 1], minlength=k)
        da = {enc.labels[i]: int(c) for i, c in enumerate(ca) if c}
        db = {enc.labels[i]: int(c) for i, c in enumerate(cb) if c}
        presence = presence_test(da, db, n_a, n_b)
        test = TestResult(
            f"presence (Bonferroni over {presence.tested} labels)", float(presence.tested), presence.p_value
        )
    ra, rb = ca / n_a, cb / n_b
    diff = rb - ra
    if presence is not None and presence.label is not None:
        # the label the test rests on (smallest p), not the one that moved most: a dimension never
        # "moves" on a label that was not itself significant
        focus = enc.labels.index(presence.label)
    else:  # on a tie, the rarer category (escalated, not resolved)
        focus = int(np.argmax(np.abs(diff) - 1e-9 * ra))
    # The focus was chosen among k categories/labels: its interval is simultaneous over all k
    # (Bonferroni, level 1 - 0.05/k), so selecting it does not shrink its coverage (no winner's curse).
    if presence is not None:
        k_compared = presence.tested
    else:  # two categories: one difference (the other is its mirror), nothing was selected
        present = int(((ca + cb) > 0).sum())
        k_compared = present if present > 2 else 1
    level = 1 - 0.05 / max(k_compared, 1)
    if dim.kind == "category":
        ia, ib = (enc.a == focus).astype(float), (enc.b == focus).astype(float)
        distance = jensen_shannon(da, db)
    else:
        ia, ib = np.zeros(n_a), np.zeros(n_b)
        ia[enc.a[enc.a[:, 1] == focus, 0]] = 1.0
        ib[enc.b[enc.b[:, 1] == focus, 0]] = 1.0
        distance = float(np.abs(diff).max())
    point = float(diff[focus])
    reps, _, _ = rs.interval(_rate_stat, ia, ib, point, level)  # replicates: for the composite score
    low, high = newcombe(float(ca[focus]), n_a, float(cb[focus]), n_b, level)
    rates_a = {enc.labels[i]: float(r) for i, r in enumerate(ra) if r or rb[i]}
    rates_b = {enc.labels[i]: float(r) for i, r in enumerate(rb) if r or ra[i]}
    return {
        "profile": _profile(ia, ib, rs),
        "test": test,
        "effect_name": "rate_difference",
        "effect": point,
        "ci": (low, high),
        "reps": reps,
        "focus": enc.labels[focus],
        "values": (float(ra[focus]), float(rb[focus])),
        "distance": float(distance),
        # the candidate's share in categories the baseline never had (a new population, a new code)
        "dist": ({"rates": _top(rates_a)}, {"rates": _top(rates_b), "unseen_in_baseline": float(rb[ca == 0].sum())}),
    }
