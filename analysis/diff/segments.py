"""Segments of a diff (``--by``): the same comparison inside each value of a column or attribute.

Why one family with the overall dimensions: a report that tests its overall dimensions at alpha and,
separately, its segments at alpha again can raise a false alarm with probability near 2 x alpha. Here
every hypothesis of the report — each overall dimension, and each dimension inside each segment — is
corrected together by one weighted Holm (or BH) procedure. The segments together hold as much weight
as the overall dimensions (each of S segments gets 1/S of every dimension's weight), so the overall
verdict keeps half of the error budget at the first step and the report's family-wise error stays at
most alpha, however many segments there are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from driftline.analysis.diff.engine import Comparison, StatSettings, compare, correct, verdict
from driftline.analysis.report.model import DimensionResult, SegmentResult

MAX_SEGMENTS = 20


@dataclass
class Segmented:
    key: str
    compared: list[tuple[str, Comparison, int, int]] = field(default_factory=list)  # value, comparison, n_a, n_b
    skipped: list[SegmentResult] = field(default_factory=list)

    @property
    def dimensions(self) -> list[DimensionResult]:
        return [r for _, c, _, _ in self.compared for r in c.results]


def _take(columns: Mapping[str, Any], idx: np.ndarray) -> dict[str, Any]:
    out = {}
    for name, col in columns.items():
        if isinstance(col, pa.Array | pa.ChunkedArray):
            out[name] = col.take(pa.array(idx))
        elif isinstance(col, np.ndarray):
            out[name] = col[idx]
        else:  # a Python sequence (of lists, perhaps): never let numpy turn it into a matrix
            out[name] = [col[i] for i in idx]
    return out


def compare_segments(
    a_columns: Mapping[str, Any],
    b_columns: Mapping[str, Any],
    a_values: Sequence[Any] | np.ndarray,
    b_values: Sequence[Any] | np.ndarray,
    key: str,
    settings: StatSettings,
) -> Segmented:
    """Compare both sides within each segment value (largest first, at most MAX_SEGMENTS, each with at
    least ``min_runs`` per side); uncorrected — ``correct_together`` corrects them."""
    va, vb = np.asarray(a_values, dtype=object), np.asarray(b_values, dtype=object)
    values = sorted(set(va) | set(vb), key=lambda v: (-((va == v).sum() + (vb == v).sum()), str(v)))
    out = Segmented(key)
    for value in values:
        ia, ib = np.nonzero(va == value)[0], np.nonzero(vb == value)[0]
        if len(ia) < settings.min_runs or len(ib) < settings.min_runs or len(out.compared) >= MAX_SEGMENTS:
            need = max(settings.min_runs - len(ia), settings.min_runs - len(ib), 0)
            note = f"too few runs ({need} more needed per side)" if need else "not compared (segment limit)"
            out.skipped.append(SegmentResult(key, str(value), len(ia), len(ib), "insufficient", [], note))
            continue
        comparison = compare(_take(a_columns, ia), _take(b_columns, ib), settings, segment=f"{key}={value}")
        out.compared.append((str(value), comparison, len(ia), len(ib)))
    return out


def correct_together(overall: Comparison, segmented: Segmented | None, settings: StatSettings) -> None:
    """One correction over the overall dimensions and (if any) all segments' dimensions."""
    family = list(overall.results)
    if segmented and segmented.compared:
        share = 1 / len(segmented.compared)
        for r in segmented.dimensions:
            r.weight = r.weight * share  # the segments together weigh what the overall dimensions weigh
        family += segmented.dimensions
    correct(family, settings)


def results(segmented: Segmented, settings: StatSettings) -> tuple[list[SegmentResult], list[DimensionResult]]:
    """Per segment its verdict and moved dimensions (after ``correct_together``), then the skipped."""
    rows = []
    for value, comp, n_a, n_b in segmented.compared:
        v = verdict(comp, settings, n_a, n_b)
        rows.append(
            SegmentResult(
                segmented.key, value, n_a, n_b, v.verdict, [r.name for r in comp.results if r.status == "moved"]
            )
        )
    return rows + segmented.skipped, [r for r in segmented.dimensions if r.status == "moved"]
