"""Report documents for filing: the standard layout or the EU AI Act Article 72 post-market
monitoring layout, with a checksum and, with a key, an Ed25519 signature that ``driftline verify``
checks.

Why a keyed signature: a post-market monitoring record must show it was not edited after it was
produced, and by whom it was produced. A SHA-256 of the file proves neither — whoever edits the file
recomputes it — so it is kept only as a labelled *checksum* (it catches a truncated or corrupted
copy). The signature is Ed25519 over the whole document with both fields blanked: any change to any
byte fails ``driftline verify --public-key``, and only the holder of the private key
(``driftline keys generate``) can sign.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from driftline.analysis.report import html, markdown
from driftline.analysis.report.format import cost_lines, fmt_effect, score_text, what
from driftline.analysis.report.model import Report

BLANK = "0" * 64
BLANK_SIG = "0" * 16 + ":" + "0" * 128
_FIELD = re.compile(r"driftline-sha256:([0-9a-f]{64})")
_SIG = re.compile(r"driftline-ed25519:[0-9a-f]{16}:[0-9a-f]{128}")
_SIG_VALUE = re.compile(r"driftline-ed25519:([0-9a-f]{16}):([0-9a-f]{128})")


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
            f"<p>Reference: {r.baseline.runs:,} {r.baseline.unit}, {e(r.baseline.start or '—')} to {e(r.baseline.end or '—')}. "
            f"In service: {r.candidate.runs:,} {r.candidate.unit}, {e(r.candidate.start or '—')} to {e(r.candidate.end or '—')}. "
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
            f"<p>Verdict <b>{e(r.verdict.verdict)}</b>, {e(score_text(r.verdict))}.</p><ul>{rows}</ul>",
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
            f"<p>Checksum (SHA-256 of this document with its fields blanked; detects accidental changes, not "
            f"tampering): <code>driftline-sha256:{BLANK}</code>. Signature (Ed25519, when signed): "
            f"<code>driftline-ed25519:{BLANK_SIG}</code>. Check with "
            "<code>driftline verify FILE --public-key signer.pub</code>.</p>",
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
    return markdown.render(r) if markdown_out else html.render(r)


def _with_fields(text: str) -> str:
    if _FIELD.search(text) is None:
        text += f"\n<!-- driftline-sha256:{BLANK} -->\n"
    if _SIG.search(text) is None:
        text += f"\n<!-- driftline-ed25519:{BLANK_SIG} -->\n"
    return text


def _blanked(text: str) -> str:
    """The bytes the checksum and the signature cover: the document with both fields blanked."""
    return _SIG.sub(f"driftline-ed25519:{BLANK_SIG}", _FIELD.sub(f"driftline-sha256:{BLANK}", text))


def _key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keys(private_path: Path, public_path: Path) -> str:
    """A new Ed25519 key pair: the private key PEM (PKCS#8, mode 0600, never overwritten) and the public
    key PEM to hand to whoever verifies. Returns the key id printed in signed documents."""
    for path in (private_path, public_path):
        if path.exists():
            raise FileExistsError(f"{path} exists; not overwriting a key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public = key.public_key()
    public_path.write_bytes(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return _key_id(public)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"cannot read the signing key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key (create one with driftline keys generate)")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the public key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


def checksum(text: str) -> str:
    """Fill the checksum field: the SHA-256 of the document with its fields blanked. Anyone can
    recompute it — it catches accidental changes (a truncated copy), not deliberate ones."""
    text = _with_fields(text)
    digest = hashlib.sha256(_blanked(text).encode()).hexdigest()
    return _FIELD.sub(f"driftline-sha256:{digest}", text)


def sign(text: str, key: Ed25519PrivateKey) -> str:
    """Checksum and Ed25519 signature (over the document with both fields blanked): only the holder of
    the private key can produce a signature that ``verify --public-key`` accepts."""
    text = checksum(text)
    signature = key.sign(_blanked(text).encode()).hex()
    return text.replace(f"driftline-ed25519:{BLANK_SIG}", f"driftline-ed25519:{_key_id(key.public_key())}:{signature}")


def verify(text: str, public_key: Ed25519PublicKey | None = None) -> tuple[bool, str]:
    """With a public key: is the document signed by its private key, unchanged? Without: does the
    checksum match (said as what it is — no proof of who wrote the file)."""
    sums = set(_FIELD.findall(text))
    sigs = {m for m in _SIG_VALUE.findall(text) if m != tuple(BLANK_SIG.split(":"))}
    if public_key is not None:
        if not sigs:
            return False, "the file carries no signature (was it written with --sign --signing-key?)"
        if len(sigs) != 1:
            return False, "the file carries more than one signature"
        key_id, signature = sigs.pop()
        expected_id = _key_id(public_key)
        if key_id != expected_id:
            return False, f"signature FAILED: signed by key {key_id}, not by the given key {expected_id}"
        try:
            public_key.verify(bytes.fromhex(signature), _blanked(text).encode())
        except InvalidSignature:
            return False, "signature FAILED: the file was modified after signing"
        return True, f"signature valid: Ed25519 key {key_id}, document unchanged since signing"
    if not sums or sums == {BLANK}:
        return False, "the file carries no checksum (was it written by driftline report?)"
    if len(sums) != 1:
        return False, "the file carries conflicting checksums"
    claimed = sums.pop()
    actual = hashlib.sha256(_blanked(text).encode()).hexdigest()
    if actual != claimed:
        return False, f"checksum FAILED: the file changed (expected {claimed[:16]}…, got {actual[:16]}…)"
    note = " The file is signed: pass --public-key to check who signed it." if sigs else ""
    return True, (
        f"checksum matches (sha256 {claimed}). A checksum is not a signature: anyone who edits the file "
        f"can recompute it.{note}"
    )
