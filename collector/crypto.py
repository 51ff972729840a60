"""Encryption at rest: Parquet modular encryption for the data root, AES-GCM for the WAL.

Why this shape: teams that must encrypt telemetry at rest want the files themselves encrypted (a
copied disk or bucket reveals nothing), with a key they hold. The key is 32 bytes given as base64 or
hex in ``DRIFTLINE_ENCRYPTION_KEY``, or in the file ``DRIFTLINE_ENCRYPTION_KEY_FILE`` names.

- Parquet: pyarrow's modular encryption (AES-GCM, footer and columns encrypted). Each file gets its
  own random data key, wrapped with the root key by the small local "KMS" below (AES-GCM again), so
  the root key never sits in a file and every file can be read with it alone.
- WAL: every record's payload is sealed with AES-GCM (a random 96-bit nonce per record, the record's
  signal and receive time as associated data), so the frame, its length and its checksum are as
  before and a torn tail is still found.
- The root says it is encrypted: ``_encryption.json`` holds the key's id (a hash, never the key), so
  a reader without the key, or with another key, gets a one-line error instead of garbage.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs

KEY_ENV = "DRIFTLINE_ENCRYPTION_KEY"
KEY_FILE_ENV = "DRIFTLINE_ENCRYPTION_KEY_FILE"
MARKER = "_encryption.json"
SCHEME = "parquet-modular-encryption/aes-gcm; wal/aes-gcm"
NONCE = 12
_FOOTER_KEY = "driftline-root"


class EncryptionKeyError(ValueError):
    """The key is missing, malformed, or not the root's."""


@dataclass(frozen=True)
class RootKey:
    material: bytes

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"driftline-key-id\0" + self.material).hexdigest()[:16]

    @functools.cached_property
    def _aead(self) -> Any:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM(self.material)

    def seal(self, payload: bytes, associated: bytes = b"") -> bytes:
        nonce = os.urandom(NONCE)
        return nonce + self._aead.encrypt(nonce, payload, associated)

    def open(self, sealed: bytes, associated: bytes = b"") -> bytes:
        from cryptography.exceptions import InvalidTag

        try:
            return self._aead.decrypt(sealed[:NONCE], sealed[NONCE:], associated)
        except InvalidTag as exc:
            raise EncryptionKeyError("a sealed record does not open with this key (another key, or altered)") from exc


def _parse(text: str, where: str) -> RootKey:
    text = text.strip()
    for decode in (bytes.fromhex, base64.b64decode):
        try:
            raw = decode(text)
        except (ValueError, binascii.Error):
            continue
        if len(raw) == 32:
            return RootKey(raw)
    raise EncryptionKeyError(
        f"{where}: expected 32 bytes as 64 hex digits or base64 (make one: driftline keys encryption)"
    )


def load_key() -> RootKey | None:
    """The root key from the environment (None when encryption is off)."""
    if os.environ.get(KEY_ENV):
        return _parse(os.environ[KEY_ENV], KEY_ENV)
    path = os.environ.get(KEY_FILE_ENV)
    if path:
        try:
            text = open(path).read()  # noqa: SIM115 - a key file is read once
        except OSError as exc:
            raise EncryptionKeyError(f"{KEY_FILE_ENV}={path}: {exc.strerror or exc}") from exc
        return _parse(text, path)
    return None


def new_key() -> str:
    """A fresh key, base64 (for ``DRIFTLINE_ENCRYPTION_KEY`` or a key file)."""
    return base64.b64encode(os.urandom(32)).decode()


# --- the root's marker ------------------------------------------------------------------------------


def root_key_id(fs: pafs.FileSystem, base: str) -> str | None:
    """The key id the root was encrypted with (None for a plain root)."""
    path = f"{base}/{MARKER}"
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as f:
        return str(json.loads(f.read())["key_id"])


def check_root(fs: pafs.FileSystem, base: str, key: RootKey | None) -> RootKey | None:
    """The key to read the root with: None for a plain root; an error when the root is encrypted and
    the key is missing or another one."""
    wanted = root_key_id(fs, base)
    if wanted is None:
        return None
    if key is None:
        raise EncryptionKeyError(f"{base} is encrypted (key id {wanted}): set {KEY_ENV} or {KEY_FILE_ENV}")
    if key.key_id != wanted:
        raise EncryptionKeyError(f"{base} is encrypted with key id {wanted}, not this key ({key.key_id})")
    return key


def mark_root(fs: pafs.FileSystem, base: str, key: RootKey) -> None:
    """Record that the root is encrypted with ``key`` (before its first encrypted file); refuse to mix
    keys or to encrypt a root that already holds plain files."""
    existing = root_key_id(fs, base)
    if existing == key.key_id:
        return
    if existing is not None:
        raise EncryptionKeyError(f"{base} is encrypted with key id {existing}, not this key ({key.key_id})")
    if fs.get_file_info(base).type == pafs.FileType.Directory:
        plain = [
            i.path
            for i in fs.get_file_info(pafs.FileSelector(base, recursive=True))
            if i.path.endswith(".parquet") and "/_cache/" not in i.path and "/embeddings/" not in i.path
        ]
        if plain:
            raise EncryptionKeyError(
                f"{base} holds unencrypted files ({plain[0]}…): encrypt a new root "
                "(driftline export, then driftline import into it with the key set)"
            )
    fs.create_dir(base, recursive=True)
    with fs.open_output_stream(f"{base}/{MARKER}") as f:
        f.write(json.dumps({"key_id": key.key_id, "scheme": SCHEME}).encode())


# --- Parquet modular encryption ---------------------------------------------------------------------


def _kms_factory(key: RootKey) -> Any:
    import pyarrow.parquet.encryption as pe

    class LocalKms(pe.KmsClient):
        """Wraps each file's data key with the root key (AES-GCM): a KMS that lives in this process."""

        def __init__(self, _config: Any) -> None:
            pe.KmsClient.__init__(self)

        def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
            return base64.b64encode(key.seal(key_bytes, master_key_identifier.encode())).decode()

        def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
            return key.open(base64.b64decode(wrapped_key), master_key_identifier.encode())

    return LocalKms


@functools.cache
def _factory(key: RootKey) -> Any:
    import pyarrow.parquet.encryption as pe

    return pe.CryptoFactory(_kms_factory(key))


def encryption_properties(key: RootKey) -> Any:
    import pyarrow.parquet.encryption as pe

    config = pe.EncryptionConfiguration(
        footer_key=_FOOTER_KEY, uniform_encryption=True, double_wrapping=False, plaintext_footer=False
    )
    return _factory(key).file_encryption_properties(pe.KmsConnectionConfig(), config)


def decryption_properties(key: RootKey) -> Any:
    import pyarrow.parquet.encryption as pe

    return _factory(key).file_decryption_properties(pe.KmsConnectionConfig(), pe.DecryptionConfiguration())


def scan_options(key: RootKey | None) -> Any:
    """pyarrow dataset scan options that decrypt (None for a plain root)."""
    if key is None:
        return None
    import pyarrow.dataset as ds
    import pyarrow.parquet.encryption as pe

    config = ds.ParquetDecryptionConfig(_factory(key), pe.KmsConnectionConfig(), pe.DecryptionConfiguration())
    return ds.ParquetFragmentScanOptions(decryption_config=config)


def parquet_format(key: RootKey | None) -> Any:
    """The dataset format to read a root's files with: "parquet", or one that decrypts."""
    if key is None:
        return "parquet"
    import pyarrow.dataset as ds

    return ds.ParquetFileFormat(default_fragment_scan_options=scan_options(key))


def read_options(key: RootKey | None) -> dict[str, Any]:
    """Keyword arguments for ``pq.read_table`` / ``pq.read_metadata`` / ``pq.ParquetFile``."""
    return {} if key is None else {"decryption_properties": decryption_properties(key)}


def write_options(key: RootKey | None) -> dict[str, Any]:
    """Keyword arguments for ``pq.write_table``."""
    return {} if key is None else {"encryption_properties": encryption_properties(key)}


def writer_key(fs: pafs.FileSystem, base: str) -> RootKey | None:
    """The key to write the root ``base`` with: the environment's, recorded on the root at its first
    write; an error when the root is encrypted and there is no key, or another one."""
    key = load_key()
    if key is None:
        check_root(fs, base, None)
        return None
    mark_root(fs, base, key)
    return key


def key_for(fs: pafs.FileSystem, base: str) -> RootKey | None:
    """The key to read the root ``base`` with (checked against its marker); None for a plain root."""
    return check_root(fs, base, load_key())
