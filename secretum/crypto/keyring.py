"""Envelope encryption and blind indexes (E10, G3, O1, O2).

Each patient has a 256-bit data key (DEK). Every identity and medical field of that patient is
sealed with AES-256-GCM under the DEK (NIST SP 800-38D), with associated data naming the model,
the field and the row, so a ciphertext cannot be moved to another field or row undetected. The
DEK is stored only wrapped by the instance's key-encryption key (KEK), itself only in the key
file, never in the database. Deleting the wrapped DEK crypto-erases the patient.

Search without decryption uses blind indexes: HMAC-SHA256 (RFC 2104) under a key of its own
(one per generation of the index) of normalised values, truncated to as many bits as the number
of tokens calls for (``secretum.crypto.indexkeys``), so that a token matches several patients.

The key file's fingerprint (``key_fingerprint``) names the key file without revealing it: the
database records it, and a process refuses to run with a key file of another database
(``secretum.crypto.binding``).

Key versions (E10, O2; ``secretum keys rotate``, ``secretum.crypto.rotation``). The KEK is
rotated: the key file holds the current KEK version and the older ones still in use
(``instance.KeyVersions``), and every blob sealed under a KEK names its version:

    0x01 | nonce (12) | ciphertext+tag            version 1 (the format before rotation existed)
    0x02 | version (2, big-endian) | nonce (12) | ciphertext+tag     any version

New blobs are written in the first form while the current version is 1 (nothing changes for an
instance never rotated), in the second otherwise. A blob of a version this process has not loaded
makes it read the key file again (a rotation started by ``secretum keys rotate`` while the server
serves), and every wrap or seal first checks that the key file was not replaced since it was
read, so a server never seals under a version a rotation is retiring. Field values sealed under a
DEK keep the 0x01 form: the DEK itself does not change when the KEK does.

The fingerprint and the backup key do not change with the KEK: the first rotation pins both in
the key file, computed from version 1 (``fingerprint_for``, ``backup_key_for``), so the binding
to the database, the instance id of recovery material and backups, and the key of the backups
made before the rotation stay what they were.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata
from functools import cache
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from secretum.crypto import providers
from secretum.instance import KEY_BYTES, IndexGeneration, KeyVersions

# Sealed blob layout: version byte | 96-bit nonce (SP 800-38D §8.2.2, random) | ciphertext+tag.
_VERSION = b"\x01"
# Under a KEK of a named version: 0x02 | the version (2 bytes) | nonce | ciphertext+tag.
_VERSIONED = b"\x02"
_KEY_VERSION_BYTES = 2
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


def fingerprint_for(versions: KeyVersions) -> str:
    """The fingerprint of a key file: pinned by its first rotation, else of its only KEK."""
    return versions.fingerprint or fingerprint_of(versions.kek, versions.index_key)


# The backup key (I4): HKDF-SHA256 (RFC 5869) of the key file's first KEK and its index key, with
# an info used for nothing else; pinned in the key file by its first rotation (backup.snapshot).
_BACKUP_KEY_INFO = b"secretum/backup-encryption-key/v1"


def backup_key_of(kek: bytes, index_key: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_BACKUP_KEY_INFO
    ).derive(kek + index_key)


def backup_key_for(versions: KeyVersions) -> bytes:
    """The backup key of a key file: pinned by its first rotation, else of its only KEK."""
    return versions.backup_key or backup_key_of(versions.kek, versions.index_key)


class _Keys(NamedTuple):
    keks: dict[int, providers.KekCipher]
    current: int
    index_key: bytes
    fingerprint: str
    identity: tuple[int, ...]


@cache
def _keys() -> _Keys:
    # Read once per process, and again when the key file is replaced (``_sealing_keys``) or a
    # blob names a version not loaded (``_kek``): the fingerprint is of the very keys this
    # process encrypts with. The file's identity is taken first: a file replaced meanwhile is
    # read again at the next seal, never missed.
    try:
        identity = settings.INSTANCE.key_file_identity()
    except OSError:
        identity = ()  # read_key_versions names a missing file; one appearing is read again
    # read_key_versions hands back 256-bit keys or refuses the file (tests/core/test_instance_key).
    versions = settings.INSTANCE.read_key_versions()
    fingerprint = fingerprint_for(versions)
    # The key file's versions in memory, the token's inside it (``providers``, E10, O2).
    keks = providers.ciphers(versions, fingerprint)
    return _Keys(keks, versions.current, versions.index_key, fingerprint, identity)


def _sealing_keys() -> _Keys:
    """The loaded keys, read again first if the key file was replaced since (a rotation): a
    process never seals under a version that a rotation is about to retire."""
    keys = _keys()
    try:
        identity = settings.INSTANCE.key_file_identity()
    except OSError:
        return keys  # the file went away under a running process: its own check names it
    if identity != keys.identity:
        reset_cache()
        keys = _keys()
    return keys


def _kek(version: int) -> providers.KekCipher:
    """The KEK of a version, the key file read again once if it is not loaded (a rotation)."""
    keys = _keys()
    if version not in keys.keks:
        reset_cache()
        keys = _keys()
    if version not in keys.keks:
        raise DecryptionError(
            f"the key file holds no key-encryption key of version {version} (retired, or another "
            "key file)"
        )
    return keys.keks[version]


def key_fingerprint() -> str:
    """The fingerprint of the key file this process has loaded (``fingerprint_for``)."""
    return _keys().fingerprint


def current_kek_version() -> int:
    """The KEK version new blobs are sealed under."""
    return _sealing_keys().current


def reset_cache() -> None:
    """Forget loaded keys (tests that switch instances; a key file replaced by a rotation)."""
    _keys.cache_clear()


def kek_version_of(blob: bytes | memoryview) -> int:
    """The KEK version a wrapped data key or a sealed secret names (``DecryptionError`` if its
    format is unknown or it is cut short)."""
    return _split(bytes(blob), "sealed")[0]


def kek_version_named(head: bytes) -> int | None:
    """The KEK version the first bytes of a blob name (None: no known format); the blob may be
    no longer than those bytes (a rotation's scan reads no more)."""
    if head[:1] == _VERSION:
        return 1
    if head[:1] == _VERSIONED and len(head) > _KEY_VERSION_BYTES:
        return int.from_bytes(head[1 : 1 + _KEY_VERSION_BYTES], "big")
    return None


def _split(blob: bytes, what: str) -> tuple[int, bytes, bytes]:
    """(KEK version, nonce, ciphertext+tag) of a blob sealed under a KEK."""
    if blob[:1] == _VERSION and len(blob) >= _SHORTEST:
        return 1, blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    at = 1 + _KEY_VERSION_BYTES
    if blob[:1] == _VERSIONED and len(blob) >= _SHORTEST + _KEY_VERSION_BYTES:
        version = int.from_bytes(blob[1:at], "big")
        return version, blob[at : at + _NONCE_BYTES], blob[at + _NONCE_BYTES :]
    raise DecryptionError(f"unknown {what} format")


def _seal_under_kek(data: bytes, aad: bytes) -> bytes:
    keys = _sealing_keys()
    nonce = os.urandom(_NONCE_BYTES)
    head = _VERSION
    if keys.current != 1:
        head = _VERSIONED + keys.current.to_bytes(_KEY_VERSION_BYTES, "big")
    return head + nonce + keys.keks[keys.current].encrypt(nonce, data, aad)


def _open_under_kek(blob: bytes | memoryview, aad: bytes, what: str, failed: str) -> bytes:
    version, nonce, body = _split(bytes(blob), what)
    kek = _kek(version)
    try:
        return kek.decrypt(nonce, body, aad)
    except InvalidTag:
        raise DecryptionError(failed) from None


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
    return DataKey(raw), _seal_under_kek(raw, b"dek:" + aad.encode())


def _unwrap_raw(wrapped: bytes | memoryview, aad: str) -> bytes:
    return _open_under_kek(
        wrapped,
        b"dek:" + aad.encode(),
        "wrapped-key",
        "data key failed authentication (wrong key file?)",
    )


def unwrap_data_key(wrapped: bytes | memoryview, aad: str) -> DataKey:
    return DataKey(_unwrap_raw(wrapped, aad))


def rewrap_data_key(wrapped: bytes | memoryview, aad: str) -> bytes:
    """The same DEK wrapped under the current KEK version (a rotation): its field values stay
    as they are."""
    return _seal_under_kek(_unwrap_raw(wrapped, aad), b"dek:" + aad.encode())


def normalise(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form of a name: 'Van den Bergh-Élodie' ->
    'vandenberghelodie'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if c.isalnum())


# --- the search index (blind indexes, E10, O1; docs/keys.md "Search tokens") -------------------


def index_generations() -> tuple[IndexGeneration, ...]:
    """The search index's generations the key file holds, the current one first: new tokens are
    made under the first; a search looks under each (more than one while a rebuild runs)."""
    return settings.INSTANCE.read_key_versions().index


def _truncated(digest: bytes, bits: int) -> bytes:
    """The first ``bits`` bits of a digest, the unused low bits of the last byte zero."""
    whole, rest = divmod(bits, 8)
    if not rest:
        return digest[:whole]
    return digest[:whole] + bytes([digest[whole] & (0xFF << (8 - rest)) & 0xFF])


def blind_index(kind: str, value: str, generation: IndexGeneration | None = None) -> bytes:
    """Keyed, deterministic token for equality search; ``kind`` separates domains. HMAC-SHA256
    (RFC 2104) under the generation's key (the current one by default), truncated to the bits
    the generation keeps for the kind: sized, a token is shared by several values, and a search
    confirms each candidate on its decrypted value."""
    if _baseline():
        return (kind + ":" + value).encode()[:64]
    found = generation or index_generations()[0]
    digest = hmac.digest(found.key, kind.encode() + b"\x00" + value.encode(), _SHA256)
    return _truncated(digest, found.bits_of(kind))


def blind_indexes(kind: str, value: str) -> list[bytes]:
    """The value's token under each generation the key file holds (a search during a rebuild
    finds a patient whichever generation its tokens are of yet)."""
    return [blind_index(kind, value, generation) for generation in index_generations()]


def random_index(kind: str, generation: IndexGeneration) -> bytes:
    """A random token of the length the generation's real ones of that kind have (padding)."""
    return _truncated(os.urandom(_INDEX_BYTES * 2), generation.bits_of(kind))


# --- secrets of the installation itself (TOTP seeds, tokens), never affected by the baseline --


def seal_secret(value: bytes, aad: str) -> bytes:
    """Seal a secret of the installation (a TOTP seed) directly under the KEK (O2)."""
    return _seal_under_kek(value, b"secret:" + aad.encode())


def open_secret(blob: bytes | memoryview, aad: str) -> bytes:
    return _open_under_kek(
        blob, b"secret:" + aad.encode(), "sealed-secret", "secret failed authentication"
    )


def reseal_secret(blob: bytes | memoryview, aad: str) -> bytes:
    """The same secret sealed under the current KEK version (a rotation)."""
    return seal_secret(open_secret(blob, aad), aad)


def secret_digest(kind: str, value: str) -> bytes:
    """Keyed digest (HMAC-SHA256, RFC 2104) of a high-entropy token: stored instead of it."""
    index_key = _keys().index_key
    return hmac.digest(index_key, b"secret:" + kind.encode() + b"\x00" + value.encode(), _SHA256)
