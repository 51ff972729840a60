"""``driftline keys``: the keys reports are signed with (Ed25519) and the data root is encrypted with."""

from __future__ import annotations

from pathlib import Path

import click


@click.group(epilog="\b\nExample:\n  driftline keys generate --out-dir ~/.driftline")
def keys() -> None:
    """Keys: for signing reports (Ed25519) and for encryption at rest."""


@keys.command(
    "generate",
    epilog="""\b
Example:
  driftline keys generate --out-dir ~/.driftline --name pmm
  # writes pmm.key (private, mode 0600: keep it secret) and pmm.pub (give it to verifiers)""",
)
@click.option("--out-dir", default=".", show_default=True, help="Directory for the two key files.")
@click.option("--name", default="signer", show_default=True, help="File name stem: NAME.key and NAME.pub.")
def keys_generate(out_dir: str, name: str) -> None:
    """Create an Ed25519 key pair for driftline report --sign (never overwrites a key)."""
    from driftline.analysis.report import signing

    private, public = Path(out_dir) / f"{name}.key", Path(out_dir) / f"{name}.pub"
    try:
        key_id = signing.generate_keys(private, public)
    except (FileExistsError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"key {key_id}: private {private.resolve()} (keep it secret), public {public.resolve()}")


@keys.command(
    "encryption",
    epilog="""\b
Examples:
  driftline keys encryption --out /etc/driftline/root.key     # mode 0600; then:
  DRIFTLINE_ENCRYPTION_KEY_FILE=/etc/driftline/root.key driftline serve --data /var/lib/driftline""",
)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the key to this file (0600).")
def keys_encryption(out: str | None) -> None:
    """A new key for encryption at rest (32 random bytes, base64): the data root and the WAL."""
    import os

    from driftline.collector.crypto import RootKey, new_key

    key = new_key()
    if out is None:
        click.echo(key)
        return
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{out} exists: a key is never overwritten") from None
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    import base64

    click.echo(f"key id {RootKey(base64.b64decode(key)).key_id} written to {out} (keep it secret, keep a copy)")
