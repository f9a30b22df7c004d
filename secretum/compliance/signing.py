"""Detached Ed25519 signatures of the register's reports (L3), and their verification.

The key lives in the instance, apart from the database and from the audit log's keys:

    compliance/report-signing.key   Ed25519 private key (PKCS#8 PEM, owner-only), created the
                                    first time a report is issued
    compliance/report-signing.pub   its public key (SubjectPublicKeyInfo PEM): give it to the
                                    auditor, or publish it

A signature file (``report.pdf.sig``) is text::

    secretum-compliance-report-signature-1
    key-id: <first 8 bytes of SHA-256 of the raw public key, hex>
    sha256: <SHA-256 of the signed file, hex>
    signed-at: <UTC, ISO 8601>
    signature: <base64 Ed25519 signature (RFC 8032) of the signed file's bytes>

Anyone checks it with the public key: ``secretum compliance verify-report FILE SIGFILE
--public-key report-signing.pub`` (or any Ed25519 tool, over the file's bytes).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from secretum.instance import write_private

FORMAT = "secretum-compliance-report-signature-1"


class SigningError(Exception):
    """A missing, unsafe or unreadable signing key, told in one sentence."""


def folder() -> Path:
    return Path(settings.INSTANCE.home) / "compliance"


def key_path() -> Path:
    return folder() / "report-signing.key"


def public_path() -> Path:
    return folder() / "report-signing.pub"


def key_problem() -> str:
    """Why the signing key cannot be used ("" when it can, or when it is not created yet)."""
    path = key_path()
    if not path.exists():
        return ""
    if path.stat().st_mode & 0o077:
        return f"The report signing key {path} is readable by others."
    return ""


def _create() -> None:
    """A new key, written whole or not at all: to a private temporary file, then linked to its
    name, which fails if another process created it first (O2)."""
    folder().mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temporary = folder() / f".report-signing.key.{os.getpid()}.{os.urandom(4).hex()}"
    try:
        write_private(temporary, pem)
        try:
            os.link(temporary, key_path())
        except FileExistsError:
            return  # another worker made it first: use theirs
    finally:
        temporary.unlink(missing_ok=True)


def signing_key() -> Ed25519PrivateKey:
    if not key_path().exists():
        _create()
    problem = key_problem()
    if problem:
        raise SigningError(problem)
    key = serialization.load_pem_private_key(key_path().read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"The report signing key {key_path()} is not an Ed25519 key.")
    pub = public_key_pem(key.public_key())
    if not public_path().exists() or public_path().read_bytes() != pub:
        public_path().write_bytes(pub)
    return key


def public_key_pem(public: Ed25519PublicKey | None = None) -> bytes:
    public = public or signing_key().public_key()
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(data: bytes, at: dt.datetime) -> str:
    """The signature file's text for ``data``."""
    key = signing_key()
    signature = base64.b64encode(key.sign(data)).decode()
    return (
        f"{FORMAT}\n"
        f"key-id: {key_id(key.public_key())}\n"
        f"sha256: {hashlib.sha256(data).hexdigest()}\n"
        f"signed-at: {at.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}\n"
        f"signature: {signature}\n"
    )


@dataclass(frozen=True)
class Verification:
    ok: bool
    message: str
    key_id: str = ""
    signed_at: str = ""


def _fields(text: str) -> dict[str, str]:
    lines = text.strip().splitlines()
    if not lines or lines[0].strip() != FORMAT:
        raise ValueError("not a Secretum report signature")
    out = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip()] = value.strip()
    return out


def verify(data: bytes, signature_text: str, public_pem: bytes) -> Verification:
    try:
        fields = _fields(signature_text)
        public = serialization.load_pem_public_key(public_pem)
    except ValueError as exc:
        return Verification(False, f"unreadable signature or public key ({exc})")
    if not isinstance(public, Ed25519PublicKey):
        return Verification(False, "the public key is not an Ed25519 key")
    if fields.get("key-id") != key_id(public):
        return Verification(
            False,
            f"the signature names key {fields.get('key-id', '?')}, the public key given is "
            f"{key_id(public)}",
        )
    if fields.get("sha256") != hashlib.sha256(data).hexdigest():
        return Verification(False, "the file is not the one that was signed (SHA-256 differs)")
    try:
        public.verify(base64.b64decode(fields.get("signature", ""), validate=True), data)
    except (InvalidSignature, binascii.Error, ValueError):
        return Verification(False, "the signature does not match the file")
    return Verification(True, "signature valid", fields["key-id"], fields.get("signed-at", ""))
