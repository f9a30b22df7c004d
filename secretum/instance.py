"""The instance folder: everything one installation owns and nothing the repository holds.

An instance lives in the folder named by ``SECRETUM_HOME`` (default ``./var``)::

    secretum.key         key file (owner-only): KEK versions, blind-index key, Django secret
    data/secretum.sqlite3  the embedded database (when no SECRETUM_DATABASE_URL is set), in a
                         folder of its own: the key file never sits in the database's folder
                         (an instance made before keeps ./secretum.sqlite3 until
                         'secretum keys separate' moves it, ``LEGACY_DATABASE``)
    tls/cert.pem         self-signed certificate for 127.0.0.1 and localhost
    tls/key.pem          its private key (owner-only)
    audit/               the audit log's checkpoint signing key and event MAC key (D2)
    witness/             the audit witness: signed checkpoints, append-only (may live elsewhere)

Where the keys come from (E10, G3, O2; docs/keys.md "Key providers"): the key file (the
instance's, or the one ``SECRETUM_KEY_FILE`` names: a container's secret mount), or the key
file's content in ``SECRETUM_KEY``; KEK versions the key file lists in ``token_keks`` live in a
PKCS#11 token and never leave it (``secretum.crypto.token``).

This module reads an instance; ``secretum.init`` makes a new one. It imports neither Django
(``secretum init`` runs before any setting can be read) nor any other module of Secretum: it
stands below everything. Keys are never written to the database or the repository (H3, O2);
the database holds only a keyed fingerprint of the key file that belongs to it
(``secretum.crypto.binding``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import functools
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

KEYFILE_FORMAT = "secretum-keyfile-1"
# 256-bit keys: AES-256-GCM key wrapping (NIST SP 800-38D) and HMAC-SHA256 (RFC 2104).
KEY_BYTES = 32
# Key versions (E10, O2; ``secretum.crypto.rotation``): a key file without ``kek_version`` holds
# version 1 in ``kek``. A rotated one holds the current KEK in ``kek``, its number in
# ``kek_version``, the older versions still in use in ``older_keks`` ({"1": base64, ...}), and
# pins what must not change with the KEK: the ``fingerprint`` that binds it to its database and
# names the instance, and the ``backup_key`` of its backups (both computed from version 1 at the
# first rotation), and ``rotated_at`` (ISO 8601, UTC) the last rotation's start. A finished
# rotation moves the versions it retired to ``retired_keks``: kept one rotation longer, for
# opening only, then removed by the next rotation once no blob names them.
MAX_KEK_VERSION = 0xFFFF  # two bytes in a sealed blob (keyring)
# Search-index generations (E10, O1; ``secretum.crypto.indexkeys``): a key file without
# ``index_generations`` has one, number 1, whose key is ``blind_index_key`` and whose tokens keep
# 128 bits. A rebuilt index is a new generation: ``index_generation`` names the current one and
# ``index_generations`` holds it and those still being replaced ({"2": {"key": base64, "bits":
# {"name": 14, ...}}}): per kind, the bits kept of each HMAC-SHA256 token (a kind not named: 128).
INDEX_BITS_DEFAULT = 128
INDEX_BITS_MAX = 256


@dataclass(frozen=True)
class IndexGeneration:
    """One generation of the search index: its HMAC key and, per kind, the bits a token keeps."""

    number: int
    key: bytes
    bits: Mapping[str, int]

    def bits_of(self, kind: str) -> int:
        return self.bits.get(kind, INDEX_BITS_DEFAULT)


# A weak key refused (a key typed by hand: "AAAA...", a counter): 32 random bytes hold fewer than
# 16 distinct values with a probability below 2^-60, so no key that 'secretum init' made is.
_FEWEST_DISTINCT_BYTES = 16


@dataclass(frozen=True)
class KeyVersions:
    """What a key file holds for the key hierarchy: every KEK version by number, the current
    one, the blind-index key and the pinned identity (None where the file predates rotation)."""

    current: int
    keks: Mapping[int, bytes]  # the versions held in the key file itself
    index_key: bytes
    fingerprint: str | None = None
    backup_key: bytes | None = None
    rotated_at: dt.datetime | None = None
    # The search index's generations, the current one first (``_index_generations``).
    index: tuple[IndexGeneration, ...] = ()
    # Versions a finished rotation retired, kept one rotation longer (``retired_keks``): they
    # still open a blob sealed under them by a write that committed after the rotation's scan.
    retired: frozenset[int] = frozenset()
    in_token: frozenset[int] = frozenset()  # the versions held by the PKCS#11 token

    @property
    def kek(self) -> bytes:
        return self.keks[self.current]

    @property
    def versions(self) -> list[int]:
        return sorted({*self.keks, *self.in_token})

    @property
    def older(self) -> list[int]:
        return [v for v in self.versions if v != self.current and v not in self.retired]


class _Parsed(NamedTuple):
    keys: dict[str, bytes | str]
    versions: KeyVersions


class InstanceError(Exception):
    """A problem with the instance folder, told in one sentence."""


# The environment variables of the key providers (docs/keys.md): a key file elsewhere than the
# instance folder (a container's secret mount), or the key file's content itself.
KEY_FILE_VARIABLE = "SECRETUM_KEY_FILE"
KEY_VARIABLE = "SECRETUM_KEY"
# Where instances made before the database had a folder of its own keep it, beside the key file.
LEGACY_DATABASE = "secretum.sqlite3"


@dataclass(frozen=True)
class Instance:
    home: Path
    key_path: Path | None = None  # SECRETUM_KEY_FILE: a key file outside the instance folder
    key_text: str | None = dataclasses.field(
        default=None, repr=False
    )  # SECRETUM_KEY: the key file's content

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Instance:
        """The instance of ``SECRETUM_HOME``, its keys where the environment says (a key file
        named by ``SECRETUM_KEY_FILE``, the key file's content in ``SECRETUM_KEY``, else the
        instance's own key file)."""
        home = home_from_env(environ)
        text, path = environ.get(KEY_VARIABLE), environ.get(KEY_FILE_VARIABLE, "").strip()
        if text is not None and path:
            raise InstanceError(
                f"Both {KEY_VARIABLE} and {KEY_FILE_VARIABLE} are set: give the key one way only."
            )
        if text is not None:
            return cls(home, key_text=text)
        return cls(home, key_path=Path(path).absolute() if path else None)

    @property
    def provider(self) -> str:
        """Where the key file's content comes from: "file" or "environment"."""
        return "environment" if self.key_text is not None else "file"

    @property
    def key_file(self) -> Path:
        return self.key_path or self.home / "secretum.key"

    @property
    def database(self) -> Path:
        """The SQLite database: ``data/secretum.sqlite3``, or beside the key file where an
        instance made before keeps it (``secretum keys separate`` moves it)."""
        legacy = self.home / LEGACY_DATABASE
        return legacy if legacy.exists() else self.home / "data" / "secretum.sqlite3"

    @property
    def tls_cert(self) -> Path:
        return self.home / "tls" / "cert.pem"

    @property
    def tls_key(self) -> Path:
        return self.home / "tls" / "key.pem"

    def exists(self) -> bool:
        return self.key_text is not None or self.key_file.exists()

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
        return dict(self._parsed().keys)

    def read_key_versions(self) -> KeyVersions:
        """The key file's KEK versions and pinned identity, checked as ``read_keys`` checks."""
        return self._parsed().versions

    def _parsed(self) -> _Parsed:
        if self.key_text is not None:
            return _parsed_text(f"key in {KEY_VARIABLE}", self.key_text)
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
        return _parsed_key_file(path, _identity(st))

    def key_content(self) -> str:
        """The key file's text, wherever it comes from (recovery material, the creation date)."""
        if self.key_text is not None:
            return self.key_text
        return self.key_file.read_text(encoding="utf-8")

    def key_file_identity(self) -> tuple[int, ...]:
        """Changes whenever the key file is replaced (a rotation): the keyring's reload signal.
        A key given in the environment never changes while the process lives."""
        if self.key_text is not None:
            return (0,)
        return _identity(self.key_file.stat())

    def _holds_anything(self) -> bool:
        """Whether the folder holds a part of an instance (then a missing key file is lost)."""
        parts = (self.database, self.tls_cert.parent, self.home / "audit")
        return any(p.exists() for p in parts)


def _identity(st: os.stat_result) -> tuple[int, ...]:
    """What tells one state of the key file from another: another file, size, time or mode."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@functools.lru_cache(maxsize=4)
def _parsed_key_file(path: Path, identity: tuple[int, ...]) -> _Parsed:
    """``Instance.read_keys`` past the file's mode: its contents, one sentence per fault.
    ``identity`` (from the file's stat) is only the cache key."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InstanceError(f"The key file {path} cannot be read ({reason}).") from None
    return _parsed_text(f"key file {path}", text)


@functools.lru_cache(maxsize=4)
def _parsed_text(path: str, text: str) -> _Parsed:
    """A key file's content, ``path`` naming where it comes from ("key file /x", "key in
    SECRETUM_KEY") in each sentence that refuses it."""
    if not text.strip():
        raise InstanceError(f"The {path} is empty: restore it from its copy.")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        # Cut short: the text ends inside a string, or before the object closes.
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise InstanceError(f"The {path} is truncated: restore it from its copy.") from None
        raise InstanceError(
            f"The {path} is not valid JSON (line {exc.lineno}, column {exc.colno}): "
            "restore it from its copy."
        ) from None
    if not isinstance(raw, dict):
        raise InstanceError(f"The {path} is not a Secretum key file (no JSON object).")
    if raw.get("format") != KEYFILE_FORMAT:
        raise InstanceError(
            f"The {path} has an unknown format marker "
            f"({str(raw.get('format', 'none'))[:40]!r}, expected {KEYFILE_FORMAT!r})."
        )
    secret = raw.get("django_secret_key")
    if not isinstance(secret, str) or not secret:
        raise InstanceError(f"The {path} lacks the field 'django_secret_key'.")
    index_key = _binary_key(path, raw, "blind_index_key")
    versions = _versions(path, raw, index_key)
    keys: dict[str, bytes | str] = {"blind_index_key": index_key, "django_secret_key": secret}
    if versions.current in versions.keks:
        keys["kek"] = versions.kek
    return _Parsed(keys, versions)


def _versions(path: str, raw: dict[str, object], index_key: bytes) -> KeyVersions:
    """The key versions of a parsed key file (see ``MAX_KEK_VERSION``), one sentence per fault.
    The current version is ``kek``, or one the PKCS#11 token holds (``token_keks``)."""
    current = raw.get("kek_version", 1)
    if type(current) is not int or not 1 <= current <= MAX_KEK_VERSION:
        raise InstanceError(f"The field 'kek_version' of the {path} is not a version.")
    in_token = _token_versions(path, raw, current)
    keks = {} if current in in_token else {current: _binary_key(path, raw, "kek")}
    retired = frozenset(_older_keks(path, raw, "retired_keks", current, keks, in_token))
    retired -= frozenset(_older_keks(path, raw, "older_keks", current, keks, in_token))
    fingerprint = raw.get("fingerprint")
    if fingerprint is not None and not (
        isinstance(fingerprint, str)
        and len(fingerprint) == 64
        and all(c in "0123456789abcdef" for c in fingerprint)
    ):
        raise InstanceError(f"The field 'fingerprint' of the {path} is malformed.")
    if in_token and (fingerprint is None or "backup_key" not in raw):
        # Both are computed from version 1, which the token never hands out: pinned instead.
        raise InstanceError(
            f"The {path} lists KEK versions in a PKCS#11 token but pins no 'fingerprint' and "
            "'backup_key': restore it from its copy."
        )
    rotated_at = raw.get("rotated_at")
    try:
        when = None if rotated_at is None else dt.datetime.fromisoformat(str(rotated_at))
    except ValueError:
        when = None
    if rotated_at is not None and (when is None or when.tzinfo is None):
        raise InstanceError(f"The field 'rotated_at' of the {path} is not a moment.")
    versions = KeyVersions(
        current=current,
        keks=keks,
        index_key=index_key,
        fingerprint=fingerprint,
        backup_key=_binary_key(path, raw, "backup_key") if "backup_key" in raw else None,
        rotated_at=when,
        index=_index_generations(path, raw, index_key),
        retired=retired,
        in_token=in_token,
    )
    if any(hmac.compare_digest(kek, index_key) for kek in keks.values()):
        raise InstanceError(
            f"The {path} uses one key as both a KEK and the blind-index key: make a new "
            "instance with 'secretum init'."
        )
    return versions


def _older_keks(
    path: str,
    raw: dict[str, object],
    field: str,
    current: int,
    keks: dict[int, bytes],
    in_token: frozenset[int],
) -> list[int]:
    """The KEK versions of one of the key file's fields of older versions, added to ``keks``."""
    older = raw.get(field, {})
    if not isinstance(older, dict):
        raise InstanceError(f"The field {field!r} of the {path} is not an object.")
    for name in older:
        if not (name.isdigit() and 1 <= int(name) < current) or int(name) in in_token:
            raise InstanceError(
                f"The field {field!r} of the {path} names a version {name[:8]!r} "
                f"that is not older than the current one ({current}), or one the token holds."
            )
        keks[int(name)] = _binary_key(path, older, name)
    return [int(name) for name in older]


def _index_generations(
    path: str, raw: dict[str, object], index_key: bytes
) -> tuple[IndexGeneration, ...]:
    """The search index's generations (see ``INDEX_BITS_DEFAULT``), the current one first."""
    current = raw.get("index_generation", 1)
    found = raw.get("index_generations")
    if found is None and current == 1:
        return (IndexGeneration(1, index_key, {}),)
    malformed = InstanceError(f"The field 'index_generations' of the {path} is malformed.")
    if type(current) is not int or not isinstance(found, dict) or str(current) not in found:
        raise malformed
    generations = []
    for name, spec in found.items():
        bits = spec.get("bits") if isinstance(spec, dict) else None
        if not (
            name.isdigit()
            and 1 <= int(name) <= current
            and isinstance(bits, dict)
            and all(type(b) is int and 1 <= b <= INDEX_BITS_MAX for b in bits.values())
        ):
            raise malformed
        generations.append(IndexGeneration(int(name), _binary_key(path, spec, "key"), bits))
    return tuple(sorted(generations, key=lambda g: (g.number != current, -g.number)))


def _token_versions(path: str, raw: dict[str, object], current: int) -> frozenset[int]:
    """The KEK versions the key file says the PKCS#11 token holds (``token_keks``)."""
    listed = raw.get("token_keks", [])
    if not isinstance(listed, list) or not all(
        type(v) is int and 1 <= v <= current for v in listed
    ):
        raise InstanceError(
            f"The field 'token_keks' of the {path} is not a list of versions up to the current "
            f"one ({current})."
        )
    return frozenset(listed)


def _binary_key(path: str, raw: Mapping[str, object], field: str) -> bytes:
    """A 256-bit key of the key file, base64 in the file (one sentence per way it can be bad)."""
    value = raw.get(field)
    if value is None:
        raise InstanceError(f"The {path} lacks the field {field!r}.")
    if not isinstance(value, str):
        raise InstanceError(f"The field {field!r} of the {path} is not a base64 string.")
    try:
        key = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise InstanceError(f"The field {field!r} of the {path} is not valid base64.") from None
    if len(key) != KEY_BYTES:
        raise InstanceError(
            f"The field {field!r} of the {path} holds a {len(key)}-byte key where a "
            f"{KEY_BYTES}-byte (256-bit) key is expected."
        )
    if len(set(key)) < _FEWEST_DISTINCT_BYTES:
        raise InstanceError(
            f"The field {field!r} of the {path} holds a key that is not random ({len(set(key))} "
            "distinct bytes): generate keys with 'secretum init', never by hand."
        )
    return key


def home_from_env(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("SECRETUM_HOME", "var")).resolve()


def write_private(path: Path, data: bytes) -> None:
    """Write a new secret file: never over an existing one, owner-only from the first byte."""
    # O_EXCL: never overwrite; 0600 from the first byte, not chmod afterwards.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def replace_private(path: Path, data: bytes) -> None:
    """Replace a secret file atomically (a key rotation): the new content is written owner-only
    to a temporary file beside it, synced, renamed over the old one, and the folder synced, so
    that a process killed at any point leaves either the old file or the new one, whole."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)  # left by a process of the same id killed before
    write_private(temporary, data)
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
