"""One scheduled report run: build the report for its slot, write its files, alert, record history."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime
from html import escape as html_escape
from pathlib import Path
from typing import Any

from driftline.analysis.schedule import alerts, history
from driftline.analysis.schedule.entries import ReportEntry

log = logging.getLogger("driftline.schedule")


def _settings(doc: dict[str, Any], entry: ReportEntry) -> Any:
    from driftline.analysis.diff.dimensions import configured
    from driftline.analysis.diff.engine import StatSettings

    stats = dict(doc.get("stats", {}))
    if entry.min_runs is not None:
        stats["min_runs"] = entry.min_runs
    return replace(StatSettings(**stats), dimensions=configured(doc.get("dimensions")))


def persistence_note(state: str, k: int, deploy: str) -> str:
    """One sentence for the report: a sustained step change or a one-off spike, and since which deploy."""
    if not state:
        return ""
    text = {
        "sustained": f"sustained: not stable in each of the last {k} runs (a step change, not a spike)",
        "spike": "first non-stable run after a stable one: a spike until the next runs confirm it",
        "developing": f"not stable for a second run: sustained once it lasts {k} runs",
    }[state]
    return text + (f"; candidate {deploy}" if deploy else "")


def trend_section(rows: list[dict[str, Any]], note: str = "") -> dict[str, str]:
    """An inline SVG of the report's score over time, verdicts as colored dots (for the HTML report)."""
    colors = {"stable": "#2e7d32", "review": "#f9a825", "block": "#c62828", "insufficient": "#1565c0"}
    w, h, pad = 640, 120, 20
    if not rows:
        return {"position": "bottom", "title": "Trend", "html": "<p>First run of this report.</p>"}
    n = len(rows)
    xs = [pad + (w - 2 * pad) * (i / max(n - 1, 1)) for i in range(n)]
    ys = [h - pad - (h - 2 * pad) * float(r["score"]) for r in rows]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colors.get(r["verdict"], "#888")}"><title>{r["slot"]}: '
        f"{r['verdict']} {float(r['score']):.2f}</title></circle>"
        for x, y, r in zip(xs, ys, rows, strict=True)
    )
    svg = (
        f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="drift score over time">'
        f'<polyline points="{line}" fill="none" stroke="#6b7c93" stroke-width="1.5"/>{dots}'
        f'<text x="{pad}" y="{h - 4}" font-size="10">{rows[0]["slot"]}</text>'
        f'<text x="{w - pad}" y="{h - 4}" font-size="10" text-anchor="end">{rows[-1]["slot"]}</text></svg>'
    )
    caption = f"<p><b>Persistence:</b> {html_escape(note)}</p>" if note else ""
    return {"position": "bottom", "title": "Trend (drift score per run)", "html": caption + svg}


def decide(entry: ReportEntry, verdict: str, score: float, previous: dict[str, Any] | None) -> list[str]:
    """Why this run alerts (empty: it does not): a verdict change into ``alert_on``, or the score
    crossing ``max_score`` upwards. Not every run: a verdict that stays the same stays quiet."""
    reasons = []
    before = previous["verdict"] if previous else None
    if verdict != before and verdict in entry.alert_on and not (before is None and verdict == "stable"):
        reasons.append(f"verdict changed from {before or 'nothing'} to {verdict}")
    if (
        entry.max_score is not None
        and score > entry.max_score
        and (previous is None or previous["score"] <= entry.max_score)
    ):
        reasons.append(f"drift score {score:.2f} crossed max_score {entry.max_score}")
    return reasons


def persistence(verdict: str, past: list[str], k: int) -> str:
    """Sustained step change or one-off spike: *sustained* when this and the k - 1 runs before it are
    all not stable, *spike* when the run before was stable, *developing* in between; "" when stable."""
    if verdict == "stable":
        return ""
    recent = [*past[-(k - 1) :], verdict] if k > 1 else [verdict]
    if len(recent) >= k and all(x != "stable" for x in recent):
        return "sustained"
    if not past or past[-1] == "stable":
        return "spike"
    return "developing"


def first_deploy(con: Any, versions: list[str]) -> str:
    """The candidate's version(s) and when each was first seen: since which deploy a change is there."""
    if not versions:
        return ""
    rows = con.execute(
        "SELECT version, min(start_time) FROM runs WHERE version IN (SELECT unnest(?)) GROUP BY 1 ORDER BY 2",
        [versions],
    ).fetchall()
    return "; ".join(f"{v} first seen {t.astimezone(UTC):%Y-%m-%dT%H:%MZ}" for v, t in rows)


def _sequential(
    con: Any,
    entry: ReportEntry,
    slot: datetime,
    report: Any,
    previous: dict[str, Any] | None,
    alpha: float,
    loaded: dict[str, Any],
    root: str,
) -> tuple[dict[str, Any], list[str]]:
    """This look's monitoring state and the metrics that newly alarm.

    A growing candidate against a fixed baseline (versions, ``latest``, a window with a fixed start):
    the mSPRT's always-valid p-values, carried from the previous look only while (baseline,
    candidate) is the same — a new ``latest`` version starts afresh. A rolling window on either side:
    the CUSUM with alpha spent over a horizon of looks, fed only the candidate runs since the
    previous look (see ``stats.sequential``)."""
    from driftline.analysis.baselines import resolve_side
    from driftline.analysis.diff.sides import monitored_columns
    from driftline.analysis.stats import sequential

    baseline, candidate = (resolve_side(root, side)[0] for side in entry.sides(slot))
    before = (previous or {}).get("sequential") or {}
    if entry.rolling(entry.baseline) or entry.rolling(entry.candidate):
        fixed_baseline = "" if entry.rolling(entry.baseline) else report.baseline.label
        key = f"cusum|{entry.baseline}|{fixed_baseline}|{entry.candidate}"
        carried = before if before.get("method") == "cusum" and before.get("key") == key else None
        if carried and carried.get("slot"):  # only what arrived since the previous look
            since = datetime.fromisoformat(carried["slot"].replace("Z", "+00:00"))
            if candidate.since is None or since > candidate.since:
                candidate = replace(candidate, since=since)
        state, newly = sequential.rolling_update(
            monitored_columns(con, baseline, loaded.get("baseline")),
            monitored_columns(con, candidate, loaded.get("candidate")),
            carried,
            key,
            alpha=alpha,
            horizon=entry.horizon,
        )
        state["slot"] = slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return state, newly
    key = f"msprt|{report.baseline.label}|{report.candidate.label}"
    carried_p = before.get("p") if before.get("method") == "msprt" and before.get("key") == key else None
    pvalues = sequential.update(
        monitored_columns(con, baseline, loaded.get("baseline")),
        monitored_columns(con, candidate, loaded.get("candidate")),
        carried_p,
    )
    was = set(sequential.rejected(carried_p or {}, alpha))
    newly = [m for m in sequential.rejected(pvalues, alpha) if m not in was]
    return {"method": "msprt", "key": key, "p": pvalues}, newly


def performance_summary(perf: Any) -> list[dict[str, Any]]:
    """Per window of a model report: its label coverage, whether it was provisional, and each metric's
    value and status — so the history keeps a window's provisional reading and its later final one."""
    if perf is None:
        return []
    return [
        {
            "window": w.label,
            "coverage": w.coverage,
            "provisional": w.provisional,
            "metrics": {m.name: {"value": m.value, "status": m.status, "estimated": m.estimated} for m in w.metrics},
        }
        for w in perf.windows
    ]


def semantic_summary(report: Any) -> dict[str, Any]:
    """The semantic dimension of a report for the stability trend: its effect (centroid cosine distance)
    with its interval and status, and the themes whose share moved most. Empty when answers were not
    compared."""
    dim = next((d for d in report.dimensions if d.name == "semantic" and d.status != "no data"), None)
    if dim is None:
        return {}
    themes = report.semantic.themes[:3] if report.semantic is not None else []
    return {
        "effect": dim.effect,
        "ci_low": dim.ci_low,
        "ci_high": dim.ci_high,
        "p_adjusted": dim.p_adjusted,
        "status": dim.status,
        "themes": [
            {
                "terms": t.terms,
                "share_baseline": t.share_baseline,
                "share_candidate": t.share_candidate,
                "change": t.change,
            }
            for t in themes
        ],
    }


def explanation_summary(report: Any) -> dict[str, Any]:
    e = report.explanation
    if e is None:
        return {}
    return {"source": e.source, "severity": e.severity, "summary": e.summary, "fallback_reason": e.fallback_reason}


def run_entry(
    root: str, entry: ReportEntry, slot: datetime, doc: dict[str, Any], pricing: str | None = None
) -> history.HistoryRow | None:
    """Run ``entry`` for ``slot``; None when the report could not be built (logged, nothing recorded)."""
    from driftline.analysis.cost import load_prices
    from driftline.analysis.db import connect, connect_ml
    from driftline.analysis.diff import hypotheses
    from driftline.analysis.diff.build import SEGMENT_COLUMNS, build_report
    from driftline.analysis.diff.sides import SelectionError
    from driftline.analysis.explain.config import config_from as rca_config
    from driftline.analysis.explain.llm import explain
    from driftline.analysis.ml.drift import PerformanceOptions, build_model_report
    from driftline.analysis.report import html, json_render, markdown
    from driftline.analysis.run_cache import release
    from driftline.collector.embed.model import config_from as semantic_config

    slot_text = slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    con = None
    try:
        prices = load_prices(pricing)
        # runs are all a report reads, unless it segments by a span attribute
        baseline, candidate = entry.sides(slot)
        loaded: dict[str, Any] = {}
        if entry.model is not None:
            con = connect_ml(root)
            options = PerformanceOptions(entry.chunk, entry.label_coverage, entry.positive)
            report = build_model_report(
                con,
                entry.model,
                baseline,
                candidate,
                settings=_settings(doc, entry),
                data_root=root,
                by=entry.by,
                performance=options,
                rules=doc.get("model_hypothesis"),
                weights=entry.weights or None,
            )
        else:
            con = connect(root, pricing=pricing, cached_runs=True, only_runs=entry.by in (None, *SEGMENT_COLUMNS))
            report = build_report(
                con,
                baseline,
                candidate,
                settings=_settings(doc, entry),
                prices=prices,
                data_root=root,
                rules=hypotheses.load_rules(doc.get("hypothesis")),
                by=entry.by,
                loaded=loaded,
                semantic=semantic_config(doc.get("semantic")),
            )
        if entry.explain:
            report.explanation = explain(report, rca_config(doc.get("rca")))
    except (SelectionError, ValueError, OSError) as exc:
        log.error("report %s (slot %s) not built: %s", entry.name, slot_text, exc)
        if con is not None:
            release(con)
        return None
    past = history.read(root, entry.name)
    previous = past[-1] if past else None
    trend_rows = [
        *past,
        {"slot": slot_text, "verdict": report.verdict.verdict, "score": report.verdict.score},
    ]
    out_dir = Path(entry.output_dir) / entry.name
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = slot.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    state = persistence(report.verdict.verdict, [r["verdict"] for r in past], entry.persist_k)
    deploy = "" if entry.model is not None else first_deploy(con, report.candidate.versions)
    note = persistence_note(state, entry.persist_k, deploy)
    renderers = {
        "html": ("html", lambda r: html.render(r, [trend_section(trend_rows, note)])),
        "markdown": ("md", lambda r: markdown.render(r) + (f"\n**Persistence:** {note}\n" if note else "")),
        "json": ("json", json_render.render),
    }
    paths = []
    for fmt in entry.formats:
        suffix, render = renderers[fmt]
        text = render(report)
        path = out_dir / f"{stamp}.{suffix}"
        path.write_text(text, encoding="utf-8")
        (out_dir / f"latest.{suffix}").write_text(text, encoding="utf-8")
        paths.append(path)
    main_path = str((paths[0]).resolve())
    v = report.verdict
    reasons = decide(entry, v.verdict, v.score, previous)
    monitor: dict[str, Any] = {}
    if entry.sequential:
        monitor, newly = _sequential(con, entry, slot, report, previous, float(report.settings["alpha"]), loaded, root)
        monitor["alarm"] = newly
        if newly:
            how = "CUSUM over rolling windows" if monitor["method"] == "cusum" else "always-valid p-values"
            reasons.append(f"sequential test ({how}): " + ", ".join(newly) + " moved")
    delivered = False
    if reasons:
        event = {
            "event": "driftline.alert",
            "report": entry.name,
            "slot": slot_text,
            "reason": "; ".join(reasons),
            "verdict": v.verdict,
            "previous_verdict": previous["verdict"] if previous else None,
            "score": v.score,
            "score_low": v.score_low,
            "score_high": v.score_high,
            "baseline": report.baseline.label,
            "candidate": report.candidate.label,
            "hypotheses": [h.text for h in report.hypotheses[:3]],
            "report_path": main_path,
            "generated_at": report.generated_at,
            "persistence": state,
            "deploy": deploy,
        }
        sinks = doc.get("alerts", {})
        for name in entry.alerts:
            delivered |= alerts.send(name, sinks[name], event)
    row = history.HistoryRow(
        report=entry.name,
        slot=slot_text,
        run_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        verdict=v.verdict,
        score=v.score,
        score_low=v.score_low,
        score_high=v.score_high,
        baseline=report.baseline.label,
        candidate=report.candidate.label,
        baseline_runs=report.baseline.runs,
        candidate_runs=report.candidate.runs,
        hypotheses=json.dumps([h.text for h in report.hypotheses[:3]]),
        report_path=main_path,
        alerted=bool(reasons) and delivered,
        persistence=state,
        deploy=deploy,
        sequential=json.dumps(monitor),
        performance=json.dumps(performance_summary(report.performance)),
        semantic=json.dumps(semantic_summary(report)),
        explanation=json.dumps(explanation_summary(report)),
    )
    history.append(root, row)
    log.info(
        "report %s slot %s: %s, score %.2f%s",
        entry.name,
        slot_text,
        v.verdict,
        v.score,
        f"; alert: {'; '.join(reasons)}" if reasons else "",
    )
    release(con)
    return row
