"""Report documents for filing: the standard layout or the EU AI Act Article 72 post-market
monitoring layout, with an embedded SHA-256 integrity hash that ``driftline verify`` checks.

Why a hash of the document itself: a post-market monitoring record must show it was not edited after
it was produced. The digest covers the whole file with the digest field blanked, so any change to
any byte — a number, a sentence — fails verification.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import re

from driftline.analysis.report import html, markdown
from driftline.analysis.report.format import cost_lines, fmt_effect, what
from driftline.analysis.report.model import Report

BLANK = "0" * 64
_FIELD = re.compile(r"driftline-sha256:([0-9a-f]{64})")


def _eu_sections(r: Report, system: str | None, provider: str | None) -> list[tuple[str, str, str]]:
    """(position, title, html) sections of the Article 72 layout."""
    e = html_lib.escape
    moved = r.moved
    rows = (
        "".join(f"<li>{e(what(d))}: {e(fmt_effect(d))} ({e(d.status)})</li>" for d in moved)
        or "<li>No dimension moved beyond its floor.</li>"
    )
    base = r.baseline_record
    return [
        (
            "top",
            "1. AI system and monitoring plan",
            f"<p>System: <b>{e(system or ', '.join(r.candidate.agents) or 'not named')}</b> · Provider: {e(provider or 'not named')} · "
            f"Versions compared: {e(r.baseline.label)} (reference) and {e(r.candidate.label)} (in service). "
            "This record is produced under the post-market monitoring plan (Regulation (EU) 2024/1689, Article 72) "
            "from telemetry collected during operation.</p>",
        ),
        (
            "top",
            "2. Monitoring period and data",
            f"<p>Reference: {r.baseline.runs:,} runs, {e(r.baseline.start or '—')} to {e(r.baseline.end or '—')}. "
            f"In service: {r.candidate.runs:,} runs, {e(r.candidate.start or '—')} to {e(r.candidate.end or '—')}. "
            f"Environments: {e(', '.join(r.candidate.environments) or '—')}. Data root: <code>{e(r.data_root)}</code>."
            + (
                f" Approved baseline record {e(base['id'])} set by {e(str(base['set_by']))} at {e(base['set_at'])}."
                if base
                else ""
            )
            + "</p>",
        ),
        (
            "top",
            "3. Assessment of performance and behaviour",
            f"<p>Verdict <b>{e(r.verdict.verdict)}</b>, drift score {r.verdict.score:.2f} "
            f"(95% CI {r.verdict.score_low:.2f}–{r.verdict.score_high:.2f}).</p><ul>{rows}</ul>",
        ),
        (
            "bottom",
            "4. Corrective and preventive actions",
            "<ul>"
            + "".join(f"<li>{e(s)}</li>" for s in r.verdict.next_steps)
            + "</ul>"
            + "<p>Hypotheses considered: "
            + (e("; ".join(h.text for h in r.hypotheses[:5])) or "none")
            + "</p>",
        ),
        ("bottom", "5. Cost of operation", "<ul>" + "".join(f"<li>{e(x)}</li>" for x in cost_lines(r.cost)) + "</ul>"),
        (
            "bottom",
            "6. Integrity",
            f"<p>SHA-256 of this document (with this field blanked): <code>driftline-sha256:{BLANK}</code>. "
            "Check with <code>driftline verify FILE</code>.</p>",
        ),
    ]


def document(
    r: Report, *, template: str, markdown_out: bool, system: str | None = None, provider: str | None = None
) -> str:
    if template == "eu-ai-act":
        sections = _eu_sections(r, system, provider)
        if markdown_out:
            plain = "\n\n".join(f"## {t}\n\n{re.sub(r'<[^>]+>', ' ', h)}" for _, t, h in sections)
            return (
                "# Post-market monitoring record (EU AI Act, Article 72)\n\n"
                + plain
                + "\n\n---\n\n"
                + markdown.render(r)
            )
        return html.render(
            r,
            [{"position": p, "title": t, "html": h} for p, t, h in sections],
            title=f"Post-market monitoring record (EU AI Act Art. 72): {r.candidate.label}",
        )
    text = markdown.render(r) if markdown_out else html.render(r)
    return text + f"\n<!-- driftline-sha256:{BLANK} -->\n"


def _with_field(text: str) -> str:
    if _FIELD.search(text) is None:
        text += f"\n<!-- driftline-sha256:{BLANK} -->\n"
    return text


def sign(text: str) -> str:
    """Fill the integrity field with the SHA-256 of the document (field blanked)."""
    text = _with_field(text)
    blanked = _FIELD.sub(f"driftline-sha256:{BLANK}", text)
    digest = hashlib.sha256(blanked.encode()).hexdigest()
    return blanked.replace(f"driftline-sha256:{BLANK}", f"driftline-sha256:{digest}")


def verify(text: str) -> tuple[bool, str]:
    found = set(_FIELD.findall(text))
    if not found or found == {BLANK}:
        return False, "the file carries no integrity hash (was it written with --sign?)"
    if len(found) != 1:
        return False, "the file carries conflicting integrity hashes"
    claimed = found.pop()
    actual = hashlib.sha256(_FIELD.sub(f"driftline-sha256:{BLANK}", text).encode()).hexdigest()
    if actual != claimed:
        return (
            False,
            f"integrity check FAILED: the file was modified after signing (expected {claimed[:16]}…, got {actual[:16]}…)",
        )
    return True, f"integrity verified: sha256 {claimed}"
