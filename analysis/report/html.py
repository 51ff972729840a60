"""Self-contained HTML: one file with inline CSS and SVG charts, viewable with no network at all.

Why SVG generated here rather than a chart library: the report must open from a CI artifact or an
e-mail attachment offline; a few rectangles per chart need no JavaScript.
"""

from __future__ import annotations

import html
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from driftline.analysis.report.format import (
    PERFORMANCE_HEADERS,
    STATUS_TEXT,
    THEME_HEADERS,
    VERDICT_COLORS,
    cost_lines,
    explanation_title,
    fmt_ci,
    fmt_effect,
    fmt_floor,
    fmt_p,
    fmt_value,
    performance_notes,
    performance_rows,
    sampling_note,
    segment_moved,
    status_label,
    theme_rows,
    what,
)
from driftline.analysis.report.model import DimensionResult, Report

TEMPLATES = Path(__file__).parent / "templates"
BASE, CAND = "#6b7c93", "#e4572e"


def _histogram_svg(d: DimensionResult) -> str:
    hist = d.baseline_distribution.get("histogram")
    if not hist:
        return ""
    a, b, edges = hist["baseline"], hist["candidate"], hist["edges"]
    w, h, pad = 420, 140, 24
    peak = max(a + b) or 1.0
    bw = (w - 2 * pad) / len(a)
    parts = [
        f'<svg viewBox="0 0 {w} {h + 30}" width="{w}" height="{h + 30}" role="img" '
        f'aria-label="{html.escape(d.title)} distribution, baseline vs candidate">'
    ]
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        left = pad + i * bw
        parts.append(
            f'<rect x="{left:.1f}" y="{h - x / peak * h:.1f}" width="{bw / 2:.1f}" height="{x / peak * h:.1f}" fill="{BASE}"/>'
        )
        parts.append(
            f'<rect x="{left + bw / 2:.1f}" y="{h - y / peak * h:.1f}" width="{bw / 2:.1f}" height="{y / peak * h:.1f}" fill="{CAND}"/>'
        )
    parts.append(f'<text x="{pad}" y="{h + 16}" font-size="11">{html.escape(fmt_value(edges[0], d))}</text>')
    parts.append(
        f'<text x="{w - pad}" y="{h + 16}" font-size="11" text-anchor="end">{html.escape(fmt_value(edges[-1], d))}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _rates_svg(d: DimensionResult) -> str:
    ra, rb = d.baseline_distribution.get("rates", {}), d.candidate_distribution.get("rates", {})
    labels = sorted(set(ra) | set(rb), key=lambda k: -abs(rb.get(k, 0) - ra.get(k, 0)))[:8]
    if not labels:
        return ""
    row, w, lw = 34, 420, 150
    parts = [
        f'<svg viewBox="0 0 {w} {row * len(labels)}" width="{w}" height="{row * len(labels)}" role="img" '
        f'aria-label="{html.escape(d.title)} rates, baseline vs candidate">'
    ]
    for i, k in enumerate(labels):
        y = i * row
        a, b = ra.get(k, 0.0), rb.get(k, 0.0)
        parts.append(f'<text x="0" y="{y + 13}" font-size="11">{html.escape(k[:24])}</text>')
        parts.append(f'<rect x="{lw}" y="{y + 2}" width="{a * (w - lw - 50):.1f}" height="11" fill="{BASE}"/>')
        parts.append(f'<rect x="{lw}" y="{y + 15}" width="{b * (w - lw - 50):.1f}" height="11" fill="{CAND}"/>')
        parts.append(f'<text x="{w - 45}" y="{y + 12}" font-size="10">{a:.0%}</text>')
        parts.append(f'<text x="{w - 45}" y="{y + 25}" font-size="10">{b:.0%}</text>')
    parts.append("</svg>")
    return "".join(parts)


def chart(d: DimensionResult) -> Markup:
    return Markup(_histogram_svg(d) if d.kind in ("numeric", "semantic") else _rates_svg(d))


def _ticks(text: str) -> Markup:
    """Backticked names in report text (`search_knowledge_base`) as <code>, the rest escaped."""
    parts = str(text).split("`")
    return Markup("".join(f"<code>{escape(p)}</code>" if i % 2 else str(escape(p)) for i, p in enumerate(parts)))


def render(report: Report, extra_sections: list[dict[str, str]] | None = None, title: str | None = None) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    env.filters.update(
        value=fmt_value, effect=fmt_effect, ci=fmt_ci, floor=fmt_floor, p=fmt_p, what=what, chart=chart, ticks=_ticks
    )
    charted = [d for d in report.dimensions if d.status in ("moved", "negligible")]
    tool_dims = [
        d for d in report.dimensions if d.name in ("tools", "tool_bigrams", "tool_sequence") and d.status != "no data"
    ]
    return env.get_template("report.html.j2").render(
        r=report,
        title=title or f"Driftline: {report.baseline.label} → {report.candidate.label}",
        color=VERDICT_COLORS[report.verdict.verdict],
        status_text=STATUS_TEXT,
        status_label=lambda d: status_label(d, report.dimensions),
        segment_moved=lambda seg: segment_moved(seg, report.dimensions),
        sampling=sampling_note(report),
        charted=charted,
        tool_dims=[d for d in tool_dims if d not in charted],
        cost=cost_lines(report.cost),
        shown=[d for d in report.dimensions if d.status != "no data"],
        extra_sections=extra_sections or [],
        colors={"baseline": BASE, "candidate": CAND},
        explanation_title=explanation_title(report.explanation) if report.explanation else "",
        theme_headers=THEME_HEADERS,
        theme_rows=theme_rows(report.semantic),
        performance_headers=PERFORMANCE_HEADERS,
        performance_rows=performance_rows(report.performance),
        performance_notes=performance_notes(report.performance),
    )
