"""Key custody: the key file kept apart from the data, recoverable without the server (O2, I2).

Losing the key file loses every record: each patient's data key is wrapped by its KEK. So the
key file is backed up as *recovery material*, in one of two ways:

- **a passphrase** the practice chooses: the key file sealed with AES-256-GCM (NIST SP 800-38D)
  under a key that Argon2id (RFC 9106, argon2-cffi's ``hash_secret_raw``) derives from the
  passphrase and a random salt;
- **shares** for two or three trusted people (2 of 2, 2 of 3, 3 of 3): the key file sealed with
  AES-256-GCM under a random 256-bit key, that key split with Shamir's threshold scheme
  (pycryptodome's ``Crypto.Protocol.SecretSharing.Shamir``, over GF(2^128), on 16-byte secrets:
  each half of the key is split on its own). Fewer shares than the threshold tell nothing of
  the key; every share carries the sealed key file, so any ``k`` of them rebuild it.

One piece of material (a recovery file or a share) is a byte string, ``Material``:

    common   "SRK" 0x01 (format version 1) | kind (1 = passphrase, 2 = share)
             | instance id (16 bytes: the start of the key file's fingerprint, keyring)
             | material id (8 random bytes) | made (unix seconds, 8 bytes)
             | passphrase: Argon2id time cost (1), memory KiB (4), lanes (1), salt (16)
               share: threshold k (1), count n (1)
    share    index (1) | share of the key (32)          (shares only)
    sealed   nonce (12) | AES-256-GCM(key file) + tag

``common`` is the associated data: the instance id, the format version, the scheme and its
parameters are authenticated with the key file, so none can be changed undetected, and the
shares of one set share it (shares of another instance or another set are refused by name).
After opening, the key file's own fingerprint must start with the instance id.

As text (a file, a printed sheet, a QR code) the bytes are base32 (RFC 4648, no padding): in
the QR code after ``SECRETUM-R1:``; on paper in numbered lines of six groups of five, each
line ending with a two-character checksum (SHA-256 of its number and text), so a mistyped line
is named before anything is decrypted. This module imports no Django: ``secretum keys recover``
runs on a machine with no instance at all.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import os
import struct
import unicodedata
from dataclasses import dataclass
from enum import IntEnum

from argon2.low_level import Type, hash_secret_raw
from Crypto.Protocol.SecretSharing import Shamir  # pycryptodome: threshold secret sharing only
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from secretum.crypto.keyring import fingerprint_of
from secretum.instance import KEY_BYTES, KEYFILE_FORMAT, InstanceError

MAGIC = b"SRK\x01"  # recovery material, format version 1
QR_PREFIX = "SECRETUM-R1:"
INSTANCE_ID_BYTES = 16
MATERIAL_ID_BYTES = 8
SALT_BYTES = 16  # RFC 9106 §3.1: 128-bit salt
NONCE_BYTES = 12  # SP 800-38D §8.2.2: random 96-bit nonce (one message per key)
HALF = 16  # Shamir (pycryptodome) shares 16-byte secrets
SCHEMES = {(2, 2), (2, 3), (3, 3)}  # threshold k of n people
MIN_PASSPHRASE = 16  # characters
MIN_DISTINCT = 8  # different characters in it
GROUP, GROUPS_PER_LINE, CHECK = 5, 6, 2
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# Characters typed by mistake for base32 ones that look alike: 0 -> O, 1 -> I, 8 -> B.
_LOOKALIKE = str.maketrans("018", "OIB")


class Kind(IntEnum):
    PASSPHRASE = 1
    SHARE = 2


@dataclass(frozen=True)
class Cost:
    """Argon2id's parameters (RFC 9106 §3.1): passes, memory in KiB, lanes."""

    time: int
    memory_kib: int
    lanes: int


# Recovery is rare and offline: far above the login hash. 3 passes over 256 MiB, 4 lanes
# (RFC 9106 §4's second recommended option is 3 passes over 64 MiB); about a second here.
STRONG = Cost(time=3, memory_kib=256 * 1024, lanes=4)
# What a file may ask of the machine that opens it (a forged file must not exhaust it).
_MAX_COST = Cost(time=16, memory_kib=4 * 1024 * 1024, lanes=16)


class RecoveryError(InstanceError):
    """Recovery material refused or unusable: one sentence saying why (never a traceback)."""


def id_text(data: bytes) -> str:
    """An instance or material id as people read it: hex in groups of four."""
    text = data.hex()
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


@dataclass(frozen=True)
class Material:
    """One recovery file or one share (the layout is in the module's docstring)."""

    kind: Kind
    instance: bytes
    material: bytes
    made: int
    params: bytes  # passphrase: cost and salt; share: k and n
    nonce: bytes
    sealed: bytes
    index: int = 0  # share only: its x-coordinate, 1..n
    share: bytes = b""  # share only: the two 16-byte shares of the key

    def common(self) -> bytes:
        head = MAGIC + bytes([self.kind]) + self.instance + self.material
        return head + struct.pack(">Q", self.made) + self.params

    def to_bytes(self) -> bytes:
        own = bytes([self.index]) + self.share if self.kind == Kind.SHARE else b""
        return self.common() + own + self.nonce + self.sealed

    @property
    def instance_id(self) -> str:
        return id_text(self.instance)

    @property
    def material_id(self) -> str:
        return self.material.hex()

    @property
    def made_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.made, dt.UTC)

    @property
    def threshold(self) -> tuple[int, int]:
        """(k, n) of a share; (1, 1) for a passphrase file."""
        return (self.params[0], self.params[1]) if self.kind == Kind.SHARE else (1, 1)

    def cost(self) -> tuple[Cost, bytes]:
        t, m, p = struct.unpack(">BIB", self.params[:6])
        return Cost(t, m, p), self.params[6:]

    def describe(self) -> str:
        if self.kind == Kind.PASSPHRASE:
            return f"passphrase recovery file {self.material_id} of instance {self.instance_id}"
        k, n = self.threshold
        return (
            f"share {self.index} of {n} ({k} needed) of set {self.material_id} "
            f"of instance {self.instance_id}"
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Material:
        if data[:4] != MAGIC:
            raise RecoveryError("this is not Secretum recovery material (format 1).")
        kinds = {k.value for k in Kind}
        if len(data) < 5 or data[4] not in kinds:
            raise RecoveryError("this recovery material is of an unknown kind.")
        kind = Kind(data[4])
        at = 5 + INSTANCE_ID_BYTES + MATERIAL_ID_BYTES + 8
        params_len = 6 + SALT_BYTES if kind == Kind.PASSPHRASE else 2
        own_len = 1 + 2 * HALF if kind == Kind.SHARE else 0
        if len(data) < at + params_len + own_len + NONCE_BYTES + 16:
            raise RecoveryError("this recovery material is truncated.")
        instance = data[5 : 5 + INSTANCE_ID_BYTES]
        material = data[5 + INSTANCE_ID_BYTES : at - 8]
        (made,) = struct.unpack(">Q", data[at - 8 : at])
        params = data[at : at + params_len]
        own = data[at + params_len : at + params_len + own_len]
        rest = data[at + params_len + own_len :]
        found = cls(kind, instance, material, made, params, rest[:NONCE_BYTES], rest[NONCE_BYTES:])
        if kind == Kind.SHARE:
            found = dataclasses.replace(found, index=own[0], share=own[1:])
            k, n = found.threshold
            if (k, n) not in SCHEMES or not 1 <= found.index <= n:
                raise RecoveryError(f"the {found.describe()} is malformed.")
        return found


# --- the key file, packed -----------------------------------------------------------------


def _fingerprint(kek: bytes, index_key: bytes, fields: dict[str, object]) -> bytes:
    """A key file's fingerprint: the one its first KEK rotation pinned, else of its keys."""
    pinned = fields.get("fingerprint")
    return bytes.fromhex(pinned if isinstance(pinned, str) else fingerprint_of(kek, index_key))


_IN_TOKEN = bytes(KEY_BYTES)


def pack_key_file(text: str) -> tuple[bytes, bytes]:
    """(instance id, packed bytes) of a key file's text: its two 256-bit keys raw, then its
    other fields as compact JSON (a shorter sheet to type; a rotated key file's older KEK
    versions and pinned fingerprint among them)."""
    fields = json.loads(text)
    # A key file whose current KEK the PKCS#11 token keeps has none: zeros hold its place (no
    # key file's KEK is all zeros, ``instance`` refuses one), the token backs up its own keys.
    kek = base64.b64decode(fields.pop("kek"), validate=True) if "kek" in fields else _IN_TOKEN
    index_key = base64.b64decode(fields.pop("blind_index_key"), validate=True)
    instance = _fingerprint(kek, index_key, fields)[:INSTANCE_ID_BYTES]
    rest = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    return instance, kek + index_key + rest


def unpack_key_file(packed: bytes, instance: bytes) -> str:
    """The key file's text (as ``secretum init`` writes it), from ``pack_key_file``'s bytes;
    refused unless its fingerprint starts with ``instance``."""
    kek, index_key = packed[:KEY_BYTES], packed[KEY_BYTES : 2 * KEY_BYTES]
    try:
        rest = json.loads(packed[2 * KEY_BYTES :])
        if not isinstance(rest, dict) or rest.get("format") != KEYFILE_FORMAT:
            raise ValueError("not a key file")
        fingerprint = _fingerprint(kek, index_key, rest)
    except ValueError:
        raise RecoveryError("the recovered key file is malformed.") from None
    if fingerprint[:INSTANCE_ID_BYTES] != instance:
        raise RecoveryError("the recovered key file is not the one of the instance named.")
    fields = {"format": rest.pop("format")}
    if kek != _IN_TOKEN:
        fields["kek"] = base64.b64encode(kek).decode()
    fields["blind_index_key"] = base64.b64encode(index_key).decode()
    return json.dumps({**fields, **rest}, indent=2)


# --- passphrases --------------------------------------------------------------------------


def normalise_passphrase(passphrase: str) -> bytes:
    """NFKC and outer spaces trimmed (RFC 8265's spirit): typed on another keyboard, it still
    derives the same key."""
    return unicodedata.normalize("NFKC", passphrase).strip().encode()


def refuse_weak_passphrase(passphrase: str, common: frozenset[str] = frozenset()) -> None:
    """Refuse a passphrase that is short, repetitive, or a known password (``common``)."""
    text = unicodedata.normalize("NFKC", passphrase).strip()
    if len(text) < MIN_PASSPHRASE:
        raise RecoveryError(
            f"the passphrase is too short ({len(text)} characters; at least {MIN_PASSPHRASE}): "
            "choose four or more unrelated words, e.g. 'lamp orbit cellar tulip'."
        )
    if len(set(text.casefold())) < MIN_DISTINCT or text.casefold() in common:
        raise RecoveryError(
            "the passphrase is too easy to guess (repeated characters or a known password): "
            "choose four or more unrelated words."
        )


def derive(passphrase: str, salt: bytes, cost: Cost) -> bytes:
    """The 256-bit key Argon2id (RFC 9106) derives from the passphrase and salt."""
    if not (
        1 <= cost.time <= _MAX_COST.time
        and 8 * cost.lanes <= cost.memory_kib <= _MAX_COST.memory_kib
        and 1 <= cost.lanes <= _MAX_COST.lanes
    ):
        raise RecoveryError("the recovery file asks for Argon2id parameters out of bounds.")
    return hash_secret_raw(
        normalise_passphrase(passphrase),
        salt,
        time_cost=cost.time,
        memory_cost=cost.memory_kib,
        parallelism=cost.lanes,
        hash_len=KEY_BYTES,
        type=Type.ID,
    )


def _now(now: dt.datetime | None) -> int:
    return int((now or dt.datetime.now(dt.UTC)).timestamp())


def seal_with_passphrase(
    key_file_text: str, passphrase: str, cost: Cost | None = None, now: dt.datetime | None = None
) -> Material:
    """The key file as a passphrase recovery file (the caller has refused weak passphrases);
    ``cost`` is ``STRONG`` unless given."""
    cost = cost or STRONG
    instance, packed = pack_key_file(key_file_text)
    salt = os.urandom(SALT_BYTES)
    params = struct.pack(">BIB", cost.time, cost.memory_kib, cost.lanes) + salt
    head = Material(
        Kind.PASSPHRASE, instance, os.urandom(MATERIAL_ID_BYTES), _now(now), params, b"", b""
    )
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(derive(passphrase, salt, cost)).encrypt(nonce, packed, head.common())
    return dataclasses.replace(head, nonce=nonce, sealed=sealed)


def seal_with_shares(
    key_file_text: str, k: int, n: int, now: dt.datetime | None = None
) -> list[Material]:
    """The key file as ``n`` shares, any ``k`` of which rebuild it (2 of 2, 2 of 3, 3 of 3)."""
    if (k, n) not in SCHEMES:
        raise RecoveryError(
            f"{k} of {n} is not offered: choose 2-of-2, 2-of-3 or 3-of-3 (two or three people)."
        )
    instance, packed = pack_key_file(key_file_text)
    key = AESGCM.generate_key(bit_length=256)
    head = Material(
        Kind.SHARE, instance, os.urandom(MATERIAL_ID_BYTES), _now(now), bytes([k, n]), b"", b""
    )
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, packed, head.common())
    low, high = Shamir.split(k, n, key[:HALF]), Shamir.split(k, n, key[HALF:])
    # Both splits give the shares of x = 1..n in order: person i holds both halves at x = i.
    return [
        dataclasses.replace(head, nonce=nonce, sealed=sealed, index=i, share=a + b)
        for (i, a), (_same_i, b) in zip(low, high, strict=True)
    ]


def open_material(pieces: list[Material], passphrase: str | None = None) -> str:
    """The key file's text, rebuilt from a passphrase file (and its passphrase) or from enough
    shares of one set; every refusal is one sentence."""
    if not pieces:
        raise RecoveryError("no recovery material given.")
    first = pieces[0]
    for other in pieces[1:]:
        if other.instance != first.instance:
            raise RecoveryError(
                f"the {other.describe()} belongs to another instance than the {first.describe()}."
            )
        if other.common() != first.common():
            raise RecoveryError(f"the {other.describe()} is not of the set {first.material_id}.")
    if first.kind == Kind.PASSPHRASE:
        if len(pieces) > 1:
            raise RecoveryError("give one passphrase recovery file, not several.")
        if passphrase is None:
            raise RecoveryError("this recovery file needs its passphrase.")
        cost, salt = first.cost()
        key = derive(passphrase, salt, cost)
        refusal = "wrong passphrase, or the recovery file was altered"
    else:
        key = _combine(pieces)
        refusal = "these shares do not rebuild the key (one was altered or mistyped)"
    try:
        packed = AESGCM(key).decrypt(first.nonce, first.sealed, first.common())
    except InvalidTag:
        raise RecoveryError(f"{refusal}: nothing was recovered.") from None
    return unpack_key_file(packed, first.instance)


def _combine(shares: list[Material]) -> bytes:
    k, n = shares[0].threshold
    indexes = {s.index for s in shares}
    if len(indexes) != len(shares):
        raise RecoveryError("the same share was given twice: give shares of different people.")
    if len(shares) < k:
        raise RecoveryError(
            f"{len(shares)} share given, {k} needed: this set is {k} of {n}; bring another "
            "person's share."
        )
    chosen = sorted(shares, key=lambda s: s.index)[:k]
    low = Shamir.combine([(s.index, s.share[:HALF]) for s in chosen])
    high = Shamir.combine([(s.index, s.share[HALF:]) for s in chosen])
    return low + high


# --- as text: files, sheets, QR codes -----------------------------------------------------


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=")


def _line_check(number: int, text: str) -> str:
    digest = hashlib.sha256(f"{number}:{text}".encode()).digest()
    return _b32(digest)[:CHECK]


def qr_text(material: Material) -> str:
    """What the QR code holds: base32 in QR's alphanumeric mode."""
    return QR_PREFIX + _b32(material.to_bytes())


def lines(material: Material) -> list[str]:
    """The numbered lines of a sheet: 'NN/TT ABCDE ... XY' (XY: that line's checksum)."""
    text = _b32(material.to_bytes())
    per_line = GROUP * GROUPS_PER_LINE
    chunks = [text[i : i + per_line] for i in range(0, len(text), per_line)]
    total = len(chunks)
    out = []
    for number, chunk in enumerate(chunks, 1):
        groups = " ".join(chunk[i : i + GROUP] for i in range(0, len(chunk), GROUP))
        out.append(f"{number:02d}/{total:02d} {groups} {_line_check(number, chunk)}")
    return out


def to_text(material: Material, comments: list[str]) -> str:
    """A recovery file: comment lines ('# ...'), the numbered lines, the QR form."""
    body = [f"# {c}" if c else "#" for c in comments]
    return "\n".join([*body, *lines(material), qr_text(material)]) + "\n"


def check_line(raw: str) -> tuple[int, int, str] | None:
    """One numbered line typed off a sheet: (its number, the number of lines, its base32);
    None for a blank line, a comment or the QR form. A line whose checksum does not match is
    refused, by its number."""
    line = raw.strip()
    if not line or line.startswith("#") or line.upper().startswith(QR_PREFIX):
        return None
    words = line.upper().split()
    head = words[0].split("/")
    if len(words) < 3 or len(head) != 2 or not all(h.isdigit() for h in head):
        raise RecoveryError(
            f"this line is not a recovery line ('NN/TT ABCDE ... XY'): {line[:20]!r}…"
        )
    number, of = int(head[0]), int(head[1])
    body = "".join(words[1:-1]).translate(_LOOKALIKE)
    if _line_check(number, body) != words[-1].translate(_LOOKALIKE):
        raise RecoveryError(
            f"line {number:02d} has a typing mistake (its checksum {words[-1]} does not "
            "match): read it again on the sheet."
        )
    return number, of, body


def from_text(text: str) -> Material:
    """Recovery material from a file or from lines typed off a sheet: the QR form when
    present, otherwise the numbered lines, each checked (a mistyped line is named)."""
    found: dict[int, str] = {}
    total = None
    for raw in text.splitlines():
        if raw.strip().upper().startswith(QR_PREFIX):
            return Material.from_bytes(_b32_decode(raw.strip()[len(QR_PREFIX) :].strip()))
        checked = check_line(raw)
        if checked is None:
            continue
        number, of, body = checked
        if total not in (None, of):
            raise RecoveryError(f"line {number:02d} says {of} lines, an earlier one {total}.")
        total, found[number] = of, body
    if total is None:
        raise RecoveryError("no recovery lines found.")
    missing = [f"{n:02d}" for n in range(1, total + 1) if n not in found]
    if missing:
        raise RecoveryError(f"lines missing: {', '.join(missing)} (of {total}).")
    return Material.from_bytes(_b32_decode("".join(found[n] for n in range(1, total + 1))))


def _b32_decode(text: str) -> bytes:
    text = text.upper().translate(_LOOKALIKE)
    if any(c not in _B32 for c in text):
        raise RecoveryError("the recovery text holds characters that are not base32.")
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8))
    except ValueError:
        raise RecoveryError("the recovery text is truncated.") from None
