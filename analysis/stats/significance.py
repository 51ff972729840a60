"""Is there a difference at all? One test per dimension type, and corrections across dimensions.

Why these tests: a categorical dimension (outcome, error type, model, tool presence...) is compared
as a contingency table — chi-square when every expected count is large enough after pooling rare
categories into one, Fisher's exact test when the table is 2x2 with small counts; a numeric one
(latency, tokens, cost...) with the two-sample Kolmogorov-Smirnov test, which sees any change of
shape, not only of the mean. Many dimensions are tested at once, so p-values are corrected (Holm
controls the family-wise error; Benjamini-Hochberg the false discovery rate).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from driftline.analysis.stats.distributions import chi2_sf, kolmogorov_sf

MIN_EXPECTED = 5.0
LARGE_SAMPLE = 2_000  # per side, above which the KS p-value is asymptotic (within 0.3% of exact, slightly larger)
POOLED = "(other)"
# scipy's KS switches from its exact to its asymptotic p-value on large samples and says so each time
warnings.filterwarnings("ignore", message=".*[Ee]xact calculation unsuccessful.*", category=RuntimeWarning)


@dataclass(frozen=True)
class TestResult:
    method: str
    statistic: float
    p_value: float
    categories: tuple[str, ...] = ()  # for categorical tests: the categories after pooling


def _counts(values: Iterable[str] | Mapping[str, int]) -> Counter[str]:
    return Counter(values) if not isinstance(values, Mapping) else Counter(dict(values))


def contingency(
    baseline: Iterable[str] | Mapping[str, int],
    candidate: Iterable[str] | Mapping[str, int],
    min_expected: float = MIN_EXPECTED,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """A 2 x k table; categories whose expected count is below ``min_expected`` on either side are
    pooled into one, so that chi-square's approximation holds."""
    a, b = _counts(baseline), _counts(candidate)
    cats = sorted(set(a) | set(b))
    na, nb = sum(a.values()), sum(b.values())
    total = na + nb
    keep, pooled = [], []
    for c in cats:
        col = a[c] + b[c]
        expected = min(na, nb) * col / total if total else 0.0
        (keep if expected >= min_expected or len(cats) <= 2 else pooled).append(c)
    if pooled and len(keep) < 1:  # never pool everything: keep the most frequent category apart
        top = max(pooled, key=lambda c: a[c] + b[c])
        pooled.remove(top)
        keep.append(top)
    if len(pooled) == 1:  # a "pool" of one category is that category
        keep += pooled
        pooled = []
    rows = [[a[c] for c in keep], [b[c] for c in keep]]
    names = list(keep)
    if pooled:
        rows[0].append(sum(a[c] for c in pooled))
        rows[1].append(sum(b[c] for c in pooled))
        names.append(POOLED)
    return np.asarray(rows, dtype=float), tuple(names)


def categorical_test(
    baseline: Iterable[str] | Mapping[str, int],
    candidate: Iterable[str] | Mapping[str, int],
    min_expected: float = MIN_EXPECTED,
) -> TestResult:
    table, names = contingency(baseline, candidate, min_expected)
    if table.shape[1] < 2 or table.sum(axis=1).min() == 0:
        return TestResult("none (one category)", 0.0, 1.0, names)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    if table.shape == (2, 2) and expected.min() < MIN_EXPECTED:
        from scipy.stats import fisher_exact  # scipy.stats takes a second to import: only when needed

        res = fisher_exact(table.astype(int))
        return TestResult("fisher_exact", float(res.statistic), float(res.pvalue), names)
    # Pearson's statistic without Yates' continuity correction: Fisher covers the small tables, and Yates
    # would make every 2 x 2 test conservative (lower power) for no gain in validity.
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = (table.shape[0] - 1) * (table.shape[1] - 1)
    return TestResult("chi_square", statistic, chi2_sf(statistic, dof), names)


def numeric_test(
    baseline: Sequence[float] | np.ndarray, candidate: Sequence[float] | np.ndarray, presorted: bool = False
) -> TestResult:
    """Two-sample KS; ``presorted`` says both are sorted and free of NaN (the diff sorts once)."""
    a = np.asarray(baseline, dtype=float)
    b = np.asarray(candidate, dtype=float)
    if not presorted:
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) == 0 or len(b) == 0:
        return TestResult("none (no values)", 0.0, 1.0)
    if min(len(a), len(b)) > LARGE_SAMPLE:
        # Kolmogorov's limiting distribution: what scipy's "asymp" mode converges to, without its slow
        # finite-n series (a tenth of a second per test at 100k runs per side).
        sa, sb = (a, b) if presorted else (np.sort(a), np.sort(b))
        d = ks_statistic(sa, sb)
        en = len(a) * len(b) / (len(a) + len(b))
        return TestResult("kolmogorov_smirnov", d, kolmogorov_sf(math.sqrt(en) * d))
    from scipy.stats import ks_2samp

    res = ks_2samp(a, b, method="auto")
    return TestResult("kolmogorov_smirnov", float(res.statistic), float(res.pvalue))


def _compiled_ks() -> Callable[[np.ndarray, np.ndarray], float] | None:
    """The compiled merge (``ks.c``), unless DRIFTLINE_NATIVE=0 or it was not built (no C compiler)."""
    from driftline.collector.native import enabled

    if not enabled():
        return None
    try:
        from driftline.analysis.stats._ks import ks_sorted  # type: ignore[import-not-found]
    except ImportError:
        return None
    return ks_sorted  # type: ignore[no-any-return]


_KS_SORTED = _compiled_ks()


def ks_statistic(sa: np.ndarray, sb: np.ndarray) -> float:
    """KS statistic of two sorted, NaN-free samples: the compiled merge when built, else ``ks_merge``."""
    if _KS_SORTED is not None:
        return float(_KS_SORTED(np.ascontiguousarray(sa, dtype=np.float64), np.ascontiguousarray(sb, dtype=np.float64)))
    return ks_merge(sa, sb)


def ks_merge(sa: np.ndarray, sb: np.ndarray) -> float:
    """The largest gap between the empirical CDFs of two sorted, NaN-free samples, from one merge.

    Why a merge: a stable sort of two sorted runs is a linear merge (timsort finds the runs), and the
    gap is a running count over the merged order, read at the last of each run of equal values (where
    both CDFs have taken every tie). Searching each sample for every value of both took four times as
    long: most of a million-row model diff."""
    na, nb = len(sa), len(sb)
    merged = np.concatenate([sa, sb])
    order = np.argsort(merged, kind="stable")
    from_a = np.cumsum(order < na)  # values of ``a`` among the first i + 1 of the merged order
    gap = from_a * nb - (np.arange(1, na + nb + 1) - from_a) * na  # (F_a - F_b) * na * nb, exact in int64
    merged = merged[order]
    last = np.empty(na + nb, dtype=bool)
    last[-1] = True
    np.not_equal(merged[1:], merged[:-1], out=last[:-1])
    return float(np.max(np.abs(gap[last]))) / (na * nb)


MAX_DISCRETE_VALUES = 20  # integer data with at most this many distinct values is compared as counts


def is_discrete(a: np.ndarray, b: np.ndarray, presorted: bool = False) -> bool:
    """Integer counts with few distinct values (retries, calls, rounds): the KS test, built for
    continuous data, is conservative on their ties — such data is compared as a table of counts.
    ``presorted`` (both sorted, NaN-free) counts distinct values without a pass over every value's
    remainder: continuous data stops at the 21st distinct value."""
    if len(a) + len(b) == 0:
        return False
    if presorted:
        distinct = set()
        for s in (a, b):
            probe = s[np.linspace(0, len(s) - 1, min(len(s), 200)).astype(int)] if len(s) else s
            if len(np.unique(probe)) > MAX_DISCRETE_VALUES:  # continuous data: decided from 200 values
                return False
            if len(s):
                starts = np.flatnonzero(s[1:] != s[:-1])
                if len(starts) >= MAX_DISCRETE_VALUES:
                    return False
                distinct.update(s[np.concatenate([[0], starts + 1])].tolist())
        values = np.asarray(sorted(distinct))
    else:
        values = np.unique(np.concatenate([a, b]))
    return len(values) <= MAX_DISCRETE_VALUES and bool(np.all(np.mod(values, 1) == 0))


def count_test(a: np.ndarray, b: np.ndarray) -> TestResult:
    """Chi-square (Fisher on a small 2 x 2) over the counts of each value, rare values pooled: its
    size is right for discrete data, where KS's p-values are too large (many ties)."""
    va, ca = np.unique(a, return_counts=True)
    vb, cb = np.unique(b, return_counts=True)
    res = categorical_test(
        {f"{v:g}": int(c) for v, c in zip(va, ca, strict=True)}, {f"{v:g}": int(c) for v, c in zip(vb, cb, strict=True)}
    )
    return TestResult(f"{res.method} (counts)", res.statistic, res.p_value, res.categories)


def tail_test(a: np.ndarray, b: np.ndarray, q: float = 0.95) -> TestResult:
    """Is one side's tail heavier? The share of each side's runs above the pooled ``q`` quantile,
    compared by a 2 x 2 test (Mood's median test, at the tail). Exact in size under no change (the
    pooled threshold does not depend on which side a run came from), and it looks only at the
    slowest runs, where a median or KS sees little."""
    if len(a) == 0 or len(b) == 0:
        return TestResult("none (no values)", 0.0, 1.0)
    threshold = float(np.quantile(np.concatenate([a, b]), q))
    above_a, above_b = int((a > threshold).sum()), int((b > threshold).sum())
    res = categorical_test({"above": above_a, "below": len(a) - above_a}, {"above": above_b, "below": len(b) - above_b})
    return TestResult(f"tail exceedance above pooled p{round(q * 100)} ({res.method})", res.statistic, res.p_value)


def adjust(p_values: Sequence[float], method: Literal["holm", "bh"] = "holm") -> list[float]:
    """Corrected p-values, in the order given."""
    p = np.asarray(p_values, dtype=float)
    if len(p) == 0:
        return []
    if method == "bh":
        from scipy.stats import false_discovery_control

        return [float(x) for x in false_discovery_control(p, method="bh")]
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        adjusted[idx] = running
    return [float(x) for x in adjusted]


def weighted_holm(p_values: Sequence[float], weights: Sequence[float]) -> list[float]:
    """Holm's weighted step-down procedure (Holm 1979): adjusted p-values, in the order given.

    Why weights: the dimensions that matter most (outcome, tools, model, errors, tokens) get a larger
    share of the 5% error budget, which raises their power without raising the family-wise error rate
    — at every step the remaining weights share alpha, exactly as in plain Holm (equal weights).
    """
    p = np.asarray(p_values, dtype=float)
    w = np.asarray(weights, dtype=float)
    if len(p) == 0:
        return []
    if np.any(w <= 0):
        raise ValueError("weights must be positive")
    order = np.argsort(p / w, kind="stable")
    remaining = float(w.sum())
    adjusted = np.empty(len(p))
    running = 0.0
    for idx in order:
        running = max(running, min(1.0, p[idx] * remaining / w[idx]))
        adjusted[idx] = running
        remaining -= w[idx]
    return [float(x) for x in adjusted]


@dataclass(frozen=True)
class PresenceResult:
    p_value: float  # the dimension's: Bonferroni over the labels tested
    label: str | None  # the label with the smallest p (the one the dimension's verdict rests on)
    tested: int  # labels that vary (a label in every run or in none cannot give p < 1)
    label_p: dict[str, float]  # each tested label's own Bonferroni-adjusted p-value


def presence_test(
    baseline: Mapping[str, int], candidate: Mapping[str, int], n_baseline: int, n_candidate: int
) -> PresenceResult:
    """One test for a set-valued dimension (tools called, models, error types): each label's presence
    rate is compared by a 2 x 2 test, and the dimension's p-value is Bonferroni over the labels that
    vary. A label present in every run or in none cannot give any p-value below 1, so it is not
    counted (Tarone's argument). The effect reported is the smallest-p label's — the one that was
    tested and found — never a larger but insignificant move of another label."""
    raw: dict[str, float] = {}
    for label in sorted(set(baseline) | set(candidate)):
        a, b = baseline.get(label, 0), candidate.get(label, 0)
        if a + b in (0, n_baseline + n_candidate):
            continue
        raw[label] = categorical_test({"yes": a, "no": n_baseline - a}, {"yes": b, "no": n_candidate - b}).p_value
    tested = len(raw)
    if not tested:
        return PresenceResult(1.0, None, 0, {})
    best = min(sorted(raw), key=lambda k: raw[k])
    return PresenceResult(min(1.0, raw[best] * tested), best, tested, {k: min(1.0, p * tested) for k, p in raw.items()})
