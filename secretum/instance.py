"""The instance folder: everything one installation owns and nothing the repository holds.

An instance lives in the folder named by ``SECRETUM_HOME`` (default ``./var``)::

    secretum.key         key file (owner-only): key-encryption key, blind-index key, Django secret
    secretum.sqlite3     the embedded database (when no SECRETUM_DATABASE_URL is set)
    tls/cert.pem         self-signed certificate for 127.0.0.1 and localhost
    tls/key.pem          its private key (owner-only)
    audit/               the audit log's checkpoint signing key and event MAC key (D2)
    witness/             the audit witness: signed checkpoints, append-only (may live elsewhere)

This module reads an instance; ``secretum.init`` makes a new one. It imports neither Django
(``secretum init`` runs before any setting can be read) nor any other module of Secretum: it
stands below everything. Keys are never written to the database or the repository (H3, O2);
the database holds only a keyed fingerprint of the key file that belongs to it
(``secretum.crypto.binding``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

KEYFILE_FORMAT = "secretum-keyfile-1"
# 256-bit keys: AES-256-GCM key wrapping (NIST SP 800-38D) and HMAC-SHA256 (RFC 2104).
KEY_BYTES = 32


class InstanceError(Exception):
    """A problem with the instance folder, told in one sentence."""


@dataclass(frozen=True)
class Instance:
    home: Path

    @property
    def key_file(self) -> Path:
        return self.home / "secretum.key"

    @property
    def database(self) -> Path:
        return self.home / "secretum.sqlite3"

    @property
    def tls_cert(self) -> Path:
        return self.home / "tls" / "cert.pem"

    @property
    def tls_key(self) -> Path:
        return self.home / "tls" / "key.pem"

    def exists(self) -> bool:
        return self.key_file.exists()

    def refuse_overwrite(self) -> None:
        """Refuse to create an instance where one is (its key file or its database)."""
        if self.key_file.exists() or self.database.exists():
            raise InstanceError(
                f"An instance already exists in {self.home}; refusing to overwrite it."
            )

    def read_keys(self) -> dict[str, bytes | str]:
        """The key file's contents, checked field by field (O2).

        Refuses, in one sentence naming the file, a key file that is missing, that others may
        read, that cannot be read, is empty, truncated or not JSON, has another format marker,
        lacks a field, or holds a key that is not valid base64 or not 256 bits long.
        """
        path = self.key_file
        try:
            st = path.stat()
        except FileNotFoundError:
            if not self._holds_anything():
                raise InstanceError(
                    f"No instance in {self.home}: run 'secretum init' first."
                ) from None
            raise InstanceError(
                f"The key file {path} is missing: restore it (mode 600) from its copy; without "
                "it no patient data of this instance can be read."
            ) from None
        if st.st_mode & 0o077:
            raise InstanceError(
                f"The key file {path} is readable by others; run 'chmod 600' on it."
            )
        # Settings, the CLI, the keyring and the checks all ask: the file is read and parsed once
        # per process, and again only if it changes (another file, size, time or mode).
        identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        return dict(_parsed_key_file(path, identity))

    def _holds_anything(self) -> bool:
        """Whether the folder holds a part of an instance (then a missing key file is lost)."""
        parts = (self.database, self.tls_cert.parent, self.home / "audit")
        return any(p.exists() for p in parts)


@functools.lru_cache(maxsize=4)
def _parsed_key_file(path: Path, identity: tuple[int, ...]) -> dict[str, bytes | str]:
    """``Instance.read_keys`` past the file's mode: its contents, one sentence per fault.
    ``identity`` (from the file's stat) is only the cache key."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InstanceError(f"The key file {path} cannot be read ({reason}).") from None
    if not text.strip():
        raise InstanceError(f"The key file {path} is empty: restore it from its copy.")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        # Cut short: the text ends inside a string, or before the object closes.
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise InstanceError(
                f"The key file {path} is truncated: restore it from its copy."
            ) from None
        raise InstanceError(
            f"The key file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}): "
            "restore it from its copy."
        ) from None
    if not isinstance(raw, dict):
        raise InstanceError(f"The key file {path} is not a Secretum key file (no JSON object).")
    if raw.get("format") != KEYFILE_FORMAT:
        raise InstanceError(
            f"The key file {path} has an unknown format marker "
            f"({str(raw.get('format', 'none'))[:40]!r}, expected {KEYFILE_FORMAT!r})."
        )
    secret = raw.get("django_secret_key")
    if not isinstance(secret, str) or not secret:
        raise InstanceError(f"The key file {path} lacks the field 'django_secret_key'.")
    return {
        "kek": _binary_key(path, raw, "kek"),
        "blind_index_key": _binary_key(path, raw, "blind_index_key"),
        "django_secret_key": secret,
    }


def _binary_key(path: Path, raw: dict[str, object], field: str) -> bytes:
    """A 256-bit key of the key file, base64 in the file (one sentence per way it can be bad)."""
    value = raw.get(field)
    if value is None:
        raise InstanceError(f"The key file {path} lacks the field {field!r}.")
    if not isinstance(value, str):
        raise InstanceError(f"The field {field!r} of the key file {path} is not a base64 string.")
    try:
        key = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise InstanceError(
            f"The field {field!r} of the key file {path} is not valid base64."
        ) from None
    if len(key) != KEY_BYTES:
        raise InstanceError(
            f"The field {field!r} of the key file {path} holds a {len(key)}-byte key where a "
            f"{KEY_BYTES}-byte (256-bit) key is expected."
        )
    return key


def home_from_env() -> Path:
    return Path(os.environ.get("SECRETUM_HOME", "var")).resolve()


def write_private(path: Path, data: bytes) -> None:
    """Write a new secret file: never over an existing one, owner-only from the first byte."""
    # O_EXCL: never overwrite; 0600 from the first byte, not chmod afterwards.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
