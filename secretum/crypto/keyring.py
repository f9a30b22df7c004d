"""Envelope encryption and blind indexes (E10, G3, O1, O2).

Each patient has a 256-bit data key (DEK). Every identity and medical field of that patient is
sealed with AES-256-GCM under the DEK (NIST SP 800-38D), with associated data naming the model,
the field and the row, so a ciphertext cannot be moved to another field or row undetected. The
DEK is stored only wrapped by the instance's key-encryption key (KEK), itself only in the key
file, never in the database. Deleting the wrapped DEK crypto-erases the patient.

Search without decryption uses blind indexes: HMAC-SHA256 (RFC 2104) under a separate key of
normalised values, truncated to 128 bits.

The key file's fingerprint (``key_fingerprint``) names the key file without revealing it: the
database records it, and a process refuses to run with a key file of another database
(``secretum.crypto.binding``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata
from functools import cache
from typing import NamedTuple, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from secretum.instance import KEY_BYTES

# Sealed blob layout: version byte | 96-bit nonce (SP 800-38D §8.2.2, random) | ciphertext+tag.
_VERSION = b"\x01"
_NONCE_BYTES = 12
_INDEX_BYTES = 16
# The shortest sealed blob: version, nonce and the 128-bit tag of an empty value. A shorter one
# (cut in the database) is refused as unauthenticated, never passed to the cipher.
_SHORTEST = 1 + _NONCE_BYTES + 16
# HMAC-SHA256 through hmac.digest: the same MAC as hmac.new(key, msg, hashlib.sha256).digest(),
# computed by OpenSSL in one call (seals are checked on every row a page reads).
_SHA256 = "sha256"
# Benchmark baseline only: plaintext with a marker, so the code path stays the same shape.
_PLAIN = b"\x00"


class DecryptionError(Exception):
    """A sealed value failed authentication: tampered, moved, or under another key."""


def _baseline() -> bool:
    return bool(settings.SECRETUM_BENCHMARK_BASELINE)


# The key file's fingerprint (O2, G3, E10, H3): HMAC-SHA256 (RFC 2104) of a fixed label, under a
# key that HKDF-SHA256 (RFC 5869) derives from the KEK and the blind-index key with an ``info``
# used for nothing else. The label and the info are public; the fingerprint is what the database
# stores. It tells one key file from another and nothing more: deriving a key from it means
# inverting HMAC and HKDF over 512 random bits, and the derived key encrypts and indexes nothing,
# so the fingerprint is no oracle for any ciphertext or token either.
FINGERPRINT_SCHEME = "hkdf-sha256+hmac-sha256/v1"
_FINGERPRINT_INFO = b"secretum/key-file-fingerprint/v1"
_FINGERPRINT_LABEL = b"secretum: this key file belongs to this database"


def fingerprint_of(kek: bytes, index_key: bytes) -> str:
    """The fingerprint (64 hex digits) of a key file holding these two 256-bit keys."""
    if len(kek) != KEY_BYTES or len(index_key) != KEY_BYTES:
        raise ValueError("a key file's keys are 256-bit")
    derived = HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_FINGERPRINT_INFO
    ).derive(kek + index_key)
    return hmac.new(derived, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


class _Keys(NamedTuple):
    kek: AESGCM
    index_key: bytes
    fingerprint: str


@cache
def _keys() -> _Keys:
    # Read once per process: the fingerprint is of the very keys this process encrypts with.
    keys = settings.INSTANCE.read_keys()
    # read_keys hands both back as 256-bit bytes or refuses the file (tests/core/test_instance_key).
    kek = cast(bytes, keys["kek"])
    index_key = cast(bytes, keys["blind_index_key"])
    return _Keys(AESGCM(kek), index_key, fingerprint_of(kek, index_key))


def key_fingerprint() -> str:
    """The fingerprint of the key file this process has loaded (``fingerprint_of``)."""
    return _keys().fingerprint


def reset_cache() -> None:
    """Forget loaded keys (tests that switch instances)."""
    _keys.cache_clear()


class DataKey:
    """A patient's data key, unwrapped, able to seal and open that patient's fields."""

    __slots__ = ("_aead",)

    def __init__(self, raw: bytes) -> None:
        self._aead = AESGCM(raw)

    def seal(self, value: str | None, aad: str) -> bytes | None:
        if value is None:
            return None
        return self.seal_bytes(value.encode(), aad)

    def open(self, blob: bytes | memoryview | None, aad: str) -> str | None:
        if blob is None:
            return None
        return self.open_bytes(blob, aad).decode()

    def seal_bytes(self, data: bytes, aad: str) -> bytes:
        """Seal bytes (a document's content, D4) as a field's value is sealed."""
        if _baseline():
            return _PLAIN + data
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, data, aad.encode())

    def open_bytes(self, blob: bytes | memoryview, aad: str) -> bytes:
        blob = bytes(blob)
        if blob[:1] == _PLAIN and _baseline():
            return blob[1:]
        if blob[:1] != _VERSION or len(blob) < _SHORTEST:
            raise DecryptionError("unknown sealed-value format")
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, aad.encode())
        except InvalidTag:
            raise DecryptionError("sealed value failed authentication") from None


def new_data_key(aad: str) -> tuple[DataKey, bytes]:
    """A fresh DEK and its wrapped form (to store); ``aad`` binds it to its owner."""
    raw = AESGCM.generate_key(bit_length=256)
    kek = _keys().kek
    nonce = os.urandom(_NONCE_BYTES)
    wrapped = _VERSION + nonce + kek.encrypt(nonce, raw, b"dek:" + aad.encode())
    return DataKey(raw), wrapped


def unwrap_data_key(wrapped: bytes | memoryview, aad: str) -> DataKey:
    blob = bytes(wrapped)
    if blob[:1] != _VERSION or len(blob) < _SHORTEST:
        raise DecryptionError("unknown wrapped-key format")
    kek = _keys().kek
    try:
        raw = kek.decrypt(
            blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :], b"dek:" + aad.encode()
        )
    except InvalidTag:
        raise DecryptionError("data key failed authentication (wrong key file?)") from None
    return DataKey(raw)


def normalise(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form of a name: 'Van den Bergh-Élodie' ->
    'vandenberghelodie'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if c.isalnum())


def blind_index(kind: str, value: str) -> bytes:
    """Keyed, deterministic token for equality search; ``kind`` separates domains."""
    if _baseline():
        return (kind + ":" + value).encode()[:64]
    index_key = _keys().index_key
    return hmac.digest(index_key, kind.encode() + b"\x00" + value.encode(), _SHA256)[:_INDEX_BYTES]


# --- secrets of the installation itself (TOTP seeds, tokens), never affected by the baseline --


def seal_secret(value: bytes, aad: str) -> bytes:
    """Seal a secret of the installation (a TOTP seed) directly under the KEK (O2)."""
    kek = _keys().kek
    nonce = os.urandom(_NONCE_BYTES)
    return _VERSION + nonce + kek.encrypt(nonce, value, b"secret:" + aad.encode())


def open_secret(blob: bytes | memoryview, aad: str) -> bytes:
    data = bytes(blob)
    if data[:1] != _VERSION or len(data) < _SHORTEST:
        raise DecryptionError("unknown sealed-secret format")
    kek = _keys().kek
    try:
        return kek.decrypt(
            data[1 : 1 + _NONCE_BYTES], data[1 + _NONCE_BYTES :], b"secret:" + aad.encode()
        )
    except InvalidTag:
        raise DecryptionError("secret failed authentication") from None


def secret_digest(kind: str, value: str) -> bytes:
    """Keyed digest (HMAC-SHA256, RFC 2104) of a high-entropy token: stored instead of it."""
    index_key = _keys().index_key
    return hmac.digest(index_key, b"secret:" + kind.encode() + b"\x00" + value.encode(), _SHA256)
