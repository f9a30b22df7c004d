"""The audit log's own keys (D2, O2), in files of the instance and never in the database.

    audit/checkpoint-signing.key   Ed25519 private key (PKCS#8 PEM, owner-only). Read only by
                                   the checkpoint signer (`secretum audit checkpoint`, run by
                                   `secretum serve` as a process of its own), never by the web
                                   workers.
    audit/checkpoint-signing.pub   its public key (SubjectPublicKeyInfo PEM): publish it, so that
                                   anyone can check a checkpoint or an inclusion proof.
    audit/event-mac.key            256-bit BLAKE2s MAC key (owner-only) that authenticates each
                                   event's leaf hash as it is written: whoever can write to the
                                   database but lacks this file cannot forge or renumber an event
                                   undetected, even between two checkpoints.

This module does not import Django: ``secretum init`` creates the keys before any setting exists.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from secretum.instance import InstanceError, write_private

MAC_KEY_FORMAT = "secretum-audit-mac-key-1"


class AuditKeyError(InstanceError):
    """A missing or unsafe audit key file, told in one sentence."""


@dataclass(frozen=True)
class AuditKeyPaths:
    home: Path

    @property
    def folder(self) -> Path:
        return self.home / "audit"

    @property
    def signing_key(self) -> Path:
        return self.folder / "checkpoint-signing.key"

    @property
    def public_key(self) -> Path:
        return self.folder / "checkpoint-signing.pub"

    @property
    def mac_key(self) -> Path:
        return self.folder / "event-mac.key"

    def exist(self) -> bool:
        return self.signing_key.exists() and self.public_key.exists() and self.mac_key.exists()


def create(home: Path) -> AuditKeyPaths:
    """Create the audit keys of an instance; refuse to overwrite any of them."""
    paths = AuditKeyPaths(home)
    existing = [p for p in (paths.signing_key, paths.public_key, paths.mac_key) if p.exists()]
    if existing:
        raise AuditKeyError(
            f"The audit key {existing[0]} exists already; refusing to overwrite it."
        )
    paths.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()  # RFC 8032
    write_private(
        paths.signing_key,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    write_private(
        paths.public_key,
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    mac = base64.b64encode(os.urandom(32)).decode()
    write_private(paths.mac_key, f"{MAC_KEY_FORMAT}\n{mac}\n".encode())
    return paths


def _read_private(path: Path) -> bytes:
    check_private(path)
    return path.read_bytes()


def check_private(path: Path) -> None:
    """The file exists and only its owner may read it (without reading it)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise AuditKeyError(
            f"The audit key {path} is missing: run 'secretum audit keygen' (new instances get it "
            "from 'secretum init')."
        ) from None
    if mode & 0o077:
        raise AuditKeyError(f"The audit key {path} is readable by others; run 'chmod 600' on it.")


def load_signing_key(paths: AuditKeyPaths) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(_read_private(paths.signing_key), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError(f"The audit key {paths.signing_key} is not an Ed25519 key.")
    return key


def load_public_key_pem(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise AuditKeyError("The checkpoint public key is not an Ed25519 key.")
    return key


def load_public_key(paths: AuditKeyPaths) -> Ed25519PublicKey:
    try:
        return load_public_key_pem(paths.public_key.read_bytes())
    except FileNotFoundError:
        raise AuditKeyError(
            f"The audit public key {paths.public_key} is missing: run 'secretum audit keygen'."
        ) from None


def load_mac_key(paths: AuditKeyPaths) -> bytes:
    lines = _read_private(paths.mac_key).decode().split()
    if len(lines) != 2 or lines[0] != MAC_KEY_FORMAT:
        raise AuditKeyError(f"The audit key {paths.mac_key} has an unknown format.")
    key = base64.b64decode(lines[1])
    if len(key) != 32:
        raise AuditKeyError(f"The audit key {paths.mac_key} is not a 256-bit key.")
    return key


def key_id(public: Ed25519PublicKey) -> str:
    """A short name for a public key: the first 8 bytes of SHA-256 of its raw form, in hex."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


FINGERPRINT_PREFIX = "SHA256:"


def fingerprint(public: Ed25519PublicKey) -> str:
    """The checkpoint key's fingerprint (D2): SHA-256 of its raw form, in hex. `secretum init`
    prints it for the practice to keep away from the instance; `secretum audit verify
    --expect-key` and SECRETUM_AUDIT_KEY_FINGERPRINT check checkpoints against it."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return FINGERPRINT_PREFIX + hashlib.sha256(raw).hexdigest()


def normalise_fingerprint(text: str) -> str:
    """A fingerprint as a person may copy it (any case, with or without ``SHA256:``, colons or
    spaces), in the form :func:`fingerprint` gives; ValueError when it is not one."""
    digits = text.strip().lower().removeprefix(FINGERPRINT_PREFIX.lower())
    digits = digits.replace(":", "").replace(" ", "")
    if len(digits) != 64 or any(c not in "0123456789abcdef" for c in digits):
        raise ValueError(
            f"{text!r} is not a checkpoint key fingerprint (SHA256: and 64 hexadecimal digits, "
            "as 'secretum init' printed it)"
        )
    return FINGERPRINT_PREFIX + digits
