"""Number formatting shared by every renderer and the hypothesis texts (one spelling of a figure)."""

from __future__ import annotations

import math

from driftline.analysis.report.model import (
    SEMANTIC_EFFECT,
    CostSummary,
    DimensionResult,
    Explanation,
    ModelPerformance,
    Report,
    SegmentResult,
    SemanticSummary,
    Theme,
    Verdict,
)

VERDICT_COLORS = {"stable": "green", "review": "yellow", "block": "red", "insufficient": "blue"}
STATUS_TEXT = {
    "moved": "moved",
    "negligible": "detectable but negligible",
    "unchanged": "no significant change",
    "no data": "no data",
}


def sampling_note(report: Report) -> str | None:
    """Say when a side's runs were sampled, and what the counts stand for; None when neither was."""
    parts = []
    for name, side in (("baseline", report.baseline), ("candidate", report.candidate)):
        if side.sample_rates:
            rates = "/".join(f"{r:.0%}" for r in side.sample_rates)
            parts.append(f"{name} {side.runs:,} {side.unit} kept at {rates} of traces ≈ {side.runs_estimated:,.0f}")
    if not parts:
        return None
    return (
        "Sampled data: " + "; ".join(parts) + ". Rates, means and the tests are those of the kept runs (a "
        "uniform sample of traces leaves them unbiased); counts and totals are scaled back by 1 / rate."
    )


def score_text(v: Verdict) -> str:
    """The composite score with its interval — or, for an insufficient verdict, why there is none: a
    score from too few runs would be a number nobody should act on."""
    if v.verdict == "insufficient":
        return "no score (too few runs)"
    return f"drift score {v.score:.2f} (95% CI {v.score_low:.2f}–{v.score_high:.2f})"


def segment_moved(segment: SegmentResult, dims: list[DimensionResult]) -> str:
    """What moved in a segment, by the dimensions' titles (not their internal names), else its note."""
    titles = {d.name: d.title for d in dims}
    return ", ".join(titles.get(name, name) for name in segment.moved) or segment.note or "—"


def titled(results: list[DimensionResult]) -> list[str]:
    """The dimensions' titles, an echo (``echo_of``: moved on the same runs, see diff/echoes.py)
    folded into its leader's when both are listed."""
    listed = {r.name for r in results}
    out = []
    for r in results:
        if r.echo_of in listed:
            continue
        echoes = [e.title for e in results if e.echo_of == r.name]
        out.append(r.title + (f" (with {', '.join(echoes)}: the same runs)" if echoes else ""))
    return out


def status_label(d: DimensionResult, dims: list[DimensionResult]) -> str:
    """The status in words; an echo names the dimension it moved with."""
    text = STATUS_TEXT[d.status]
    if d.echo_of:
        lead = next((x.title for x in dims if x.name == d.echo_of and x.segment is None), d.echo_of)
        text += f" (same runs as {lead})"
    return text


def fmt_value(value: float | None, dim: DimensionResult) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if dim.effect_name == "rate_difference":
        return f"{value:.1%}"
    if dim.effect_name == SEMANTIC_EFFECT:  # mean cosine similarity to the baseline's typical answer
        return f"cos {value:.3f}"
    if dim.unit == "USD":
        return f"${value:,.4f}"
    if dim.unit == "ms":
        return f"{value / 1000:,.2f} s" if abs(value) >= 1000 else f"{value:,.0f} ms"
    if dim.effect_name.endswith("_sd"):  # a model feature's means, in its own units (the effect is in SDs)
        return f"{value:,.4g}"
    unit = f" {dim.unit}" if dim.unit else ""
    return f"{value:,.2f}{unit}" if abs(value) < 10 else f"{value:,.0f}{unit}"


def fmt_effect(dim: DimensionResult) -> str:
    if dim.effect_name == "rate_difference":
        return f"{dim.effect * 100:+.1f} pp"
    if dim.effect_name.endswith("_shift"):
        return f"{dim.effect:+.0%}"
    if dim.effect_name == "wasserstein_sd":
        return f"Wasserstein {dim.effect:.3g} SD"
    if dim.effect_name == "mean_shift_sd":
        return f"{dim.effect:+.3g} SD"
    if dim.effect_name == SEMANTIC_EFFECT:
        return f"cosine distance {dim.effect:.3f}"
    return f"{dim.effect:+,.3g}"


def fmt_ci(dim: DimensionResult) -> str:
    if dim.effect_name == "rate_difference":
        return f"[{dim.ci_low * 100:+.1f}, {dim.ci_high * 100:+.1f}] pp"
    if dim.effect_name.endswith("_shift"):
        return f"[{dim.ci_low:+.0%}, {dim.ci_high:+.0%}]"
    if dim.effect_name.endswith("_sd"):
        return f"[{dim.ci_low:+.3g}, {dim.ci_high:+.3g}] SD"
    if dim.effect_name == SEMANTIC_EFFECT:
        return f"[{dim.ci_low:.3f}, {dim.ci_high:.3f}]"
    return f"[{dim.ci_low:+,.3g}, {dim.ci_high:+,.3g}]"


def fmt_floor(dim: DimensionResult) -> str:
    if dim.effect_name == "rate_difference":
        return f"±{dim.floor * 100:g} pp"
    if dim.effect_name.endswith("_shift"):
        return f"±{dim.floor:.0%}"
    if dim.effect_name.endswith("_sd"):
        return f"±{dim.floor:g} SD"
    return f"±{dim.floor:g}"


def fmt_p(p: float) -> str:
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def what(dim: DimensionResult) -> str:
    """The dimension with its focus category, e.g. ``Outcome: escalated``."""
    return f"{dim.title}: {dim.focus}" if dim.focus else dim.title


def money(value: float | None, currency: str, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    symbol = "$" if currency == "USD" else f"{currency} "
    sign = ("+" if value >= 0 else "−") if signed else ("−" if value < 0 else "")
    return f"{sign}{symbol}{abs(value):,.2f}" if abs(value) >= 0.01 or value == 0 else f"{sign}{symbol}{abs(value):.6f}"


def cost_lines(cost: CostSummary | None) -> list[str]:
    if cost is None:
        return []
    lines = [
        f"Mean cost per run: {money(cost.baseline_mean, cost.currency)} → {money(cost.candidate_mean, cost.currency)}",
        f"Delta per 10,000 runs: {money(cost.delta_per_10k_runs, cost.currency, signed=True)}",
        "Cost sources (LLM calls): baseline "
        + ", ".join(f"{k} {v}" for k, v in cost.baseline_sources.items())
        + "; candidate "
        + ", ".join(f"{k} {v}" for k, v in cost.candidate_sources.items()),
        f"Pricing table: {cost.pricing_version}",
    ]
    if cost.unpriced_models:
        lines.append("Unpriced models (not counted, add them to your pricing file): " + ", ".join(cost.unpriced_models))
    return lines


PERFORMANCE_HEADERS = (
    "window",
    "labels in",
    "metric",
    "value (95% CI)",
    "baseline",
    "difference (95% CI)",
    "estimated (95% CI)",
    "status",
)
PERFORMANCE_STATUS = {
    "worse": "fell",
    "better": "improved",
    "negligible": "detectable but negligible",
    "unchanged": "no change",
    "provisional": "provisional (labels not all in)",
    "insufficient": "too few labels",
    "baseline": "reference",
}


def _num(x: float | None, signed: bool = False) -> str:
    return "—" if x is None else (f"{x:+.3f}" if signed else f"{x:.3f}")


def _range(value: float | None, low: float | None, high: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    ci = f" [{_num(low, signed)}, {_num(high, signed)}]" if low is not None and high is not None else ""
    return _num(value, signed) + ci


def performance_rows(perf: ModelPerformance | None) -> list[list[str]]:
    """One row per (window, metric) of a model's performance table, the baseline's first — the same
    cells in the terminal, Markdown and HTML."""
    if perf is None:
        return []
    rows = []
    for w in [perf.baseline, *perf.windows, *perf.segments]:  # a segment's "baseline" is that segment's
        labels = f"{w.labelled:,}/{w.inferences:,} ({w.coverage:.0%})"
        if w.delay_median_s is not None:
            labels += f", delay p50 {w.delay_median_s / 3600:.1f} h"
        for m in w.metrics:
            rows.append(
                [
                    w.label,
                    labels,
                    m.title,
                    _range(m.value, m.ci_low, m.ci_high),
                    _num(m.baseline) if w is not perf.baseline else "",
                    _range(m.difference, m.diff_low, m.diff_high, signed=True),
                    _range(m.estimated, m.est_low, m.est_high)
                    + (f", error {m.estimation_error:+.3f}" if m.estimation_error is not None else ""),
                    PERFORMANCE_STATUS.get(m.status, m.status),
                ]
            )
    return rows


def performance_notes(perf: ModelPerformance | None) -> list[str]:
    if perf is None:
        return []
    what = {"binary": f"binary classifier (positive class {perf.positive!r})", "multiclass": "multiclass classifier"}
    notes = [
        f"Task: {what.get(perf.task, 'regression')}; windows: {perf.window}; a window with under "
        f"{perf.coverage_threshold:.0%} of its labels is provisional (shown, never judged)."
    ]
    if perf.estimation:
        notes.append(perf.estimation + ".")
    return notes + perf.warnings


THEME_HEADERS = ("theme", "baseline", "candidate", "change (pp, 95% simultaneous)", "example")


def theme_name(theme: Theme) -> str:
    return " · ".join(theme.terms) or f"theme {theme.theme}"


def clip(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters (answers are shown briefly in terminals and Markdown)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def theme_rows(summary: SemanticSummary | None, example_chars: int = 80) -> list[list[str]]:
    """One row per theme: name, shares, change with its interval, a representative answer."""
    if summary is None:
        return []
    rows = []
    for t in summary.themes:
        delta = (t.share_candidate - t.share_baseline) * 100
        change = f"{t.change} {delta:+.1f} [{t.ci_low * 100:+.1f}, {t.ci_high * 100:+.1f}]"
        example = clip(t.examples[0], example_chars) if t.examples else "—"
        rows.append([theme_name(t), f"{t.share_baseline:.1%}", f"{t.share_candidate:.1%}", change, example])
    return rows


def novel_lines(summary: SemanticSummary | None, chars: int = 120) -> list[str]:
    """The candidate answers least like any baseline answer, with that similarity."""
    if summary is None:
        return []
    return [f"cos {n.similarity:.2f} · {clip(n.text, chars)}" for n in summary.novel]


def explanation_title(e: Explanation) -> str:
    if e.source == "llm":
        return f"Explanation by {e.model} (severity {e.severity})"
    return f"Explanation from the rules (severity {e.severity}); no LLM explanation: {e.fallback_reason}"


def explanation_lines(e: Explanation | None) -> list[str]:
    """Summary, causes with the facts they cite, next steps: one line each."""
    if e is None:
        return []
    lines = [e.summary]
    lines += [f"Cause: {c.cause} [{', '.join(c.evidence)}]" for c in e.causes]
    lines += [f"Next: {s}" for s in e.next_steps]
    return lines
