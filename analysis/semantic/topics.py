"""Themes of the answers and the response comparer: *what* moved when the meaning moved.

The semantic dimension says whether the answers' meaning changed and by how much; this module says
where. The pooled embeddings of both sides are clustered (spherical k-means; k from 2 to 8 chosen by
the silhouette on a sample, fixed seed), and each theme gets:

- its share of each side's answers and the difference with an interval that is simultaneous over the
  themes (Newcombe at level 1 - 0.05/k, as for a categorical dimension's focus), so "grew"/"shrank" is
  said only when the whole interval clears 2 points — picking the biggest of k moves does not shrink it;
- a name: its most characteristic words (class-based TF-IDF: frequent in the theme, rare elsewhere) and
  its most representative answers (nearest the theme's centre);
- the comparer: the baseline's and the candidate's answers nearest the centre, side by side.

Plus the candidate answers *unlike anything in the baseline* (lowest cosine to their nearest baseline
answer): new behaviour that no theme of the baseline covers.

Descriptive by design: the test of the change is the semantic dimension's (MMD, corrected with the
rest); themes are not tested again, only given intervals.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

from driftline.analysis.report.model import NovelAnswer, SemanticSummary, Theme
from driftline.analysis.stats.effects import newcombe

MAX_THEMES = 8
FIT_ROWS = 1_500  # rows the clustering is fitted on (then every answer is assigned)
SILHOUETTE_ROWS = 800
SILHOUETTE_SLACK = 0.02  # fewer themes win unless more separate the answers this much better
RESTARTS = 3  # k-means runs per k (the best is kept)
SHARE_FLOOR = 0.02  # a theme grew or shrank when its share's interval clears 2 points
EXAMPLES = 2  # representative answers per theme (and per side in the comparer)
NOVEL = 5
TERMS = 4
_WORD = re.compile(r"[a-z][a-z'-]{2,}")
_STOPWORDS_TEXT = """the and for you your with that this have has are was were will would can could should our ours
    from not but all any been being into out about they them their there here what when which who whom
    how why its it's i'm i've i'll we're we've you're you'll you've let know please thanks thank just also
    more most some such than then too very had did does doing done get got may might must shall over
    under again once only own same few both each other off one two now new via per let's"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def _kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 30) -> np.ndarray:
    """Centres of spherical k-means (cosine) with k-means++ seeding; every step is a matrix product."""
    centres = [x[rng.integers(len(x))]]
    nearest = 1.0 - x @ centres[0]
    for _ in range(1, k):
        d = np.clip(nearest, 0, None) ** 2
        total = d.sum()
        pick = x[rng.choice(len(x), p=d / total)] if total > 0 else x[rng.integers(len(x))]
        centres.append(pick)
        nearest = np.minimum(nearest, 1.0 - x @ pick)
    c = np.asarray(centres)
    rows = np.arange(len(x))
    for _ in range(iterations):
        labels = np.argmax(x @ c.T, axis=1)
        onehot = np.zeros((len(x), k))
        onehot[rows, labels] = 1.0
        sums = onehot.T @ x
        empty = onehot.sum(axis=0) == 0
        sums[empty] = c[empty]  # a centre nobody chose stays where it was
        new = _unit(sums)
        if np.allclose(new, c):
            break
        c = new
    return c


def _silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette with cosine distance (NaN when fewer than two clusters are used); a point alone
    in its cluster scores 0. Vectorised: each point's mean distance to every cluster is one product."""
    present, codes = np.unique(labels, return_inverse=True)
    if len(present) < 2:
        return float("nan")
    onehot = np.zeros((len(x), len(present)))
    onehot[np.arange(len(x)), codes] = 1.0
    sizes = onehot.sum(axis=0)
    sums = (1.0 - x @ x.T) @ onehot  # distance sums per (point, cluster); d(i, i) = 0
    own = sizes[codes]
    a = sums[np.arange(len(x)), codes] / np.maximum(own - 1, 1)
    others = np.where(onehot > 0, np.inf, sums / sizes)
    b = others.min(axis=1)
    score = np.where(own > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(np.mean(score))


def _fit(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The best of RESTARTS k-means runs (lowest within-theme spread): one unlucky seeding must not
    decide the themes."""
    best: tuple[float, np.ndarray] | None = None
    for r in range(RESTARTS):
        centres = _kmeans(x, k, np.random.default_rng(seed + 1_000 * k + r))
        spread = float(np.sum(1.0 - np.max(x @ centres.T, axis=1)))
        if best is None or spread < best[0] - 1e-12:
            best = (spread, centres)
    assert best is not None
    return best[1]


def cluster(x: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(labels, centres): the fewest themes (2..MAX_THEMES) whose silhouette is within SILHOUETTE_SLACK
    of the best — more themes must separate the answers clearly better to be worth naming. Fitted on
    a sample; the caller passes rows in a canonical order, so the themes do not depend on file order."""
    rng = np.random.default_rng(seed + 2_713)
    x = _unit(x)
    fit = x[np.sort(rng.choice(len(x), FIT_ROWS, replace=False))] if len(x) > FIT_ROWS else x
    probe = fit[np.sort(rng.choice(len(fit), SILHOUETTE_ROWS, replace=False))] if len(fit) > SILHOUETTE_ROWS else fit
    scored: list[tuple[int, float, np.ndarray]] = []
    for k in range(2, min(MAX_THEMES, len(fit) - 1) + 1):
        centres = _fit(fit, k, seed)
        score = _silhouette(probe, np.argmax(probe @ centres.T, axis=1))
        if not math.isnan(score):
            scored.append((k, score, centres))
    if scored:
        top = max(score for _, score, _ in scored)
        centres = next(c for _, score, c in scored if score >= top - SILHOUETTE_SLACK)
    else:
        centres = _unit(x.mean(axis=0, keepdims=True))
    labels = np.argmax(x @ centres.T, axis=1)
    used = np.unique(labels)  # drop centres no answer is nearest to
    centres = centres[used]
    return np.searchsorted(used, labels), centres


def _terms(texts: list[str | None], labels: np.ndarray, k: int) -> list[list[str]]:
    """Each theme's most characteristic words (class-based TF-IDF; answers without text add none)."""
    counts: list[Counter[str]] = [Counter() for _ in range(k)]
    for text, label in zip(texts, labels, strict=True):
        if text is None:
            continue
        counts[label].update(w for w in _WORD.findall(text.lower()) if w not in STOPWORDS)
    total = Counter()
    for c in counts:
        total.update(c)
    words_per_theme = sum(total.values()) / max(k, 1)
    out = []
    for c in counts:
        size = sum(c.values()) or 1
        scored = {w: (n / size) * math.log(1 + words_per_theme / total[w]) for w, n in c.items()}
        out.append([w for w, _ in sorted(scored.items(), key=lambda kv: (-kv[1], kv[0]))[:TERMS]])
    return out


def _nearest(x: np.ndarray, centre: np.ndarray, rows: np.ndarray, texts: list[str | None], count: int) -> list[str]:
    if len(rows) == 0:
        return []
    order = rows[np.argsort(-(x[rows] @ centre), kind="stable")]
    seen: list[str] = []
    for i in order:  # distinct texts: the same canned answer twice says nothing more
        text = texts[i]
        if text is not None and text not in seen:
            seen.append(text)
        if len(seen) == count:
            break
    return seen


def _canonical(texts: list[str | None], x: np.ndarray) -> list[int]:
    return sorted(range(len(texts)), key=lambda i: (texts[i] is None, texts[i] or "", x[i].tobytes()))


def summarize(
    texts_a: list[str | None],
    xa: np.ndarray,
    texts_b: list[str | None],
    xb: np.ndarray,
    model: str,
    seed: int = 0,
) -> SemanticSummary:
    """Themes, their shares and the comparer for the embedded answers of both sides."""
    # a canonical order (by text, then vector), so the same answers give the same themes whatever order
    # they came in; an answer may have no text (embeddings-only mode: the receiver kept only its vector)
    xa, xb = np.asarray(xa, float), np.asarray(xb, float)
    oa, ob = _canonical(texts_a, xa), _canonical(texts_b, xb)
    texts_a, texts_b = [texts_a[i] for i in oa], [texts_b[i] for i in ob]
    xa, xb = _unit(xa[oa]), _unit(xb[ob])
    pooled = np.vstack([xa, xb])
    texts = list(texts_a) + list(texts_b)
    labels, centres = cluster(pooled, seed)
    k = len(centres)
    la, lb = labels[: len(xa)], labels[len(xa) :]
    ca, cb = np.bincount(la, minlength=k), np.bincount(lb, minlength=k)
    names = _terms(texts, labels, k)
    level = 1 - 0.05 / max(k, 1)
    themes = []
    for j in range(k):
        low, high = newcombe(float(ca[j]), len(xa), float(cb[j]), len(xb), level)
        change = "grew" if low > SHARE_FLOOR else "shrank" if high < -SHARE_FLOOR else "steady"
        rows = np.flatnonzero(labels == j)
        themes.append(
            Theme(
                theme=j + 1,
                terms=names[j],
                examples=_nearest(pooled, centres[j], rows, texts, EXAMPLES),
                share_baseline=float(ca[j] / len(xa)),
                share_candidate=float(cb[j] / len(xb)),
                ci_low=float(low),
                ci_high=float(high),
                change=change,
                baseline_answers=_nearest(pooled, centres[j], rows[rows < len(xa)], texts, EXAMPLES),
                candidate_answers=_nearest(pooled, centres[j], rows[rows >= len(xa)], texts, EXAMPLES),
            )
        )
    themes.sort(key=lambda t: (-abs(t.share_candidate - t.share_baseline), t.theme))
    # the candidate answers farthest from every baseline answer (in blocks: n_b x n_a can be large)
    nearest = np.concatenate([np.max(xb[i : i + 512] @ xa.T, axis=1) for i in range(0, len(xb), 512)])
    novel, seen = [], set()
    for i in np.argsort(nearest, kind="stable"):
        text = texts_b[i]
        if text is None or text in seen:  # content not stored: the comparer has nothing to show
            continue
        seen.add(text)
        novel.append(NovelAnswer(text=text, similarity=float(nearest[i]), theme=int(lb[i]) + 1))
        if len(novel) == NOVEL:
            break
    return SemanticSummary(model=model, texts_baseline=len(xa), texts_candidate=len(xb), themes=themes, novel=novel)
