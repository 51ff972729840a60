"""``driftline report`` and ``driftline verify``: the drift report as a file (HTML or Markdown, the
standard or the EU AI Act post-market monitoring layout), signed with Ed25519 or checksummed, and
the check of such a file.

Why apart from ``diff.py``: the comparison and its options are the diff's (``diff_options``,
``compute``, the gate); what is added here is the document, its signature and its verification.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from driftline.analysis.commands.common import EXIT_GATE
from driftline.analysis.commands.diff import compute, diff_options, gate, write_report


@click.command(
    epilog="""\b
Examples:
  driftline report v1.0 v2.0 --output drift.html
  driftline keys generate --out-dir ~/.driftline        # once: signer.key (private) and signer.pub
  driftline report previous latest --template eu-ai-act --sign --signing-key ~/.driftline/signer.key \\
      --system "Support agent" --output pmm.html
  driftline verify pmm.html --public-key ~/.driftline/signer.pub"""
)
@diff_options
@click.option("--output", "-o", required=True, help="The report file (.html, or .md for Markdown).")
@click.option(
    "--template",
    type=click.Choice(["standard", "eu-ai-act"]),
    default="standard",
    show_default=True,
    help="eu-ai-act: the Article 72 post-market monitoring layout.",
)
@click.option(
    "--sign", is_flag=True, help="Sign the file with Ed25519 (needs --signing-key; check with driftline verify)."
)
@click.option(
    "--signing-key",
    type=click.Path(dir_okay=False),
    envvar="DRIFTLINE_SIGNING_KEY",
    default=None,
    help="Private key PEM from driftline keys generate (env DRIFTLINE_SIGNING_KEY).",
)
@click.option("--system", "system_name", default=None, help="Name of the AI system (eu-ai-act template).")
@click.option("--provider-name", default=None, help="Provider of the AI system (eu-ai-act template).")
@click.option("--fail-on-drift", is_flag=True, help=f"Exit {EXIT_GATE} unless the verdict is stable.")
@click.option(
    "--max-score", type=click.FloatRange(0, 1), default=None, help=f"Exit {EXIT_GATE} if the score exceeds X."
)
def report(
    output: str,
    template: str,
    sign: bool,
    signing_key: str | None,
    system_name: str | None,
    provider_name: str | None,
    fail_on_drift: bool,
    max_score: float | None,
    **args: Any,
) -> None:
    """Write a drift report file (HTML or Markdown), optionally in the EU AI Act layout and signed."""
    from driftline.analysis.report import signing

    key = None
    if sign:
        if not signing_key:
            raise click.UsageError("--sign needs --signing-key FILE (create a key pair with: driftline keys generate)")
        try:
            key = signing.load_private_key(Path(signing_key))
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    result = compute(args)
    markdown_out = output.endswith(".md")
    text = signing.document(
        result, template=template, markdown_out=markdown_out, system=system_name, provider=provider_name
    )
    text = signing.sign(text, key) if key else signing.checksum(text)
    write_report(output, text)
    click.echo(f"{template} report ({result.verdict.verdict}) written to {Path(output).resolve()}")
    gate(result, fail_on_drift, max_score)


@click.command(
    epilog="""\b
Examples:
  driftline verify pmm.html --public-key signer.pub   # who signed it, and is it unchanged?
  driftline verify drift.html                         # checksum only: catches corruption, not edits"""
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--public-key", type=click.Path(exists=True, dir_okay=False), default=None, help="The signer's public key PEM."
)
def verify(file: str, public_key: str | None) -> None:
    """Check a report's Ed25519 signature (--public-key) or its checksum; exit 1 if it fails."""
    from driftline.analysis.report import signing

    try:
        key = signing.load_public_key(Path(public_key)) if public_key else None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    ok, message = signing.verify(Path(file).read_text(encoding="utf-8"), key)
    if not ok:
        raise click.ClickException(message)
    click.echo(message)
