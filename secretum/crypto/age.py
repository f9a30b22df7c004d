"""The age file format, v1 (https://age-encryption.org/v1, C2SP age.md), for files that leave
Secretum (E7, M3): every export is encrypted for its recipient, by default.

Only pyca ``cryptography`` primitives, as the specification names them: X25519 (RFC 7748),
HKDF-SHA-256 (RFC 5869), HMAC-SHA-256 (RFC 2104), ChaCha20-Poly1305 (RFC 8439) and scrypt
(RFC 7914). The format is age's own, so a recipient opens the file with any age implementation
(``age -d FILE``); ``tests/crypto/test_age.py`` proves it against Debian's ``age`` both ways.

Two recipient types: ``scrypt`` (a passphrase; alone in its header, as the specification
requires) and ``X25519`` (an ``age1…`` public key). The payload is streamed in 64 KiB chunks
(STREAM): neither side ever holds more than one chunk.
"""

from __future__ import annotations

import base64
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.hmac import HMAC
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from secretum.crypto import bech32

VERSION_LINE = b"age-encryption.org/v1"
CHUNK = 64 * 1024  # STREAM chunk of plaintext (age.md, "Payload")
TAG = 16
FILE_KEY = 16
# scrypt work factor: age's own default for passphrases, 2**18 (about a second); decrypting
# refuses more than 2**22 as age does, so a hostile file cannot ask for unbounded memory.
WORK_FACTOR = 18
MAX_WORK_FACTOR = 22
# A header we read: at most this many stanzas and bytes (ours have one stanza of a few lines).
MAX_STANZAS = 32
MAX_HEADER = 64 * 1024
SCRYPT_LABEL = b"age-encryption.org/v1/scrypt"
X25519_LABEL = b"age-encryption.org/v1/X25519"
COLUMNS = 64  # a stanza body is wrapped at 64 columns of base64 (48 bytes)
# A generated passphrase: 24 letters and digits drawn by ``secrets`` from 31 with no look-alikes
# (no 0/o, 1/l/i), about 4.95 bits each, 118 bits in all, in groups of four to be read out over
# the phone. An alphabet, not a password (S105).
PASSPHRASE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # noqa: S105
PASSPHRASE_LENGTH = 24


class AgeError(ValueError):
    """The file is not an age file we can open: damaged, altered, or not for this key."""


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _unb64(text: bytes) -> bytes:
    """Canonical unpadded base64 only (age.md): anything else is refused."""
    if text.endswith(b"=") or not re.fullmatch(rb"[A-Za-z0-9+/]*", text):
        raise AgeError("bad base64")
    try:
        data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except ValueError:
        raise AgeError("bad base64") from None
    if _b64(data) != text:
        raise AgeError("non-canonical base64")
    return data


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


_ZERO_NONCE = bytes(12)


def generate_passphrase() -> str:
    letters = "".join(secrets.choice(PASSPHRASE_ALPHABET) for _ in range(PASSPHRASE_LENGTH))
    return "-".join(letters[i : i + 4] for i in range(0, PASSPHRASE_LENGTH, 4))


@dataclass(frozen=True)
class Stanza:
    type: str
    args: tuple[str, ...]
    body: bytes

    def encode(self) -> bytes:
        text = _b64(self.body)
        lines = [text[i : i + COLUMNS] for i in range(0, len(text), COLUMNS)]
        if not lines or len(lines[-1]) == COLUMNS:
            lines.append(b"")  # the last line is always shorter than 64 columns
        head = b" ".join([b"->", self.type.encode(), *(a.encode() for a in self.args)])
        return head + b"\n" + b"".join(line + b"\n" for line in lines)


@dataclass(frozen=True)
class ScryptRecipient:
    passphrase: str
    work_factor: int = WORK_FACTOR

    def wrap(self, file_key: bytes) -> Stanza:
        salt = os.urandom(16)
        key = _scrypt(self.passphrase, salt, self.work_factor)
        body = ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, file_key, None)
        return Stanza("scrypt", (_b64(salt).decode(), str(self.work_factor)), body)


@dataclass(frozen=True)
class X25519Recipient:
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> X25519Recipient:
        """An ``age1…`` public key (Bech32, age.md "X25519 recipient type")."""
        try:
            hrp, data = bech32.decode(text.strip())
        except bech32.Bech32Error:
            raise AgeError("not an age X25519 public key") from None
        if hrp != "age" or len(data) != 32:
            raise AgeError("not an age X25519 public key")
        return cls(data)

    def encode(self) -> str:
        return bech32.encode("age", self.public_key)

    def wrap(self, file_key: bytes) -> Stanza:
        ephemeral = X25519PrivateKey.generate()
        share = ephemeral.public_key().public_bytes_raw()
        secret = ephemeral.exchange(X25519PublicKey.from_public_bytes(self.public_key))
        key = _hkdf(secret, share + self.public_key, X25519_LABEL)
        body = ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, file_key, None)
        return Stanza("X25519", (_b64(share).decode(),), body)


@dataclass(frozen=True)
class X25519Identity:
    private_key: bytes

    @classmethod
    def generate(cls) -> X25519Identity:
        return cls(X25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def parse(cls, text: str) -> X25519Identity:
        try:
            hrp, data = bech32.decode(text.strip())
        except bech32.Bech32Error:
            raise AgeError("not an age X25519 identity") from None
        if hrp != "age-secret-key-" or len(data) != 32:
            raise AgeError("not an age X25519 identity")
        return cls(data)

    def encode(self) -> str:
        return bech32.encode("age-secret-key-", self.private_key).upper()

    def recipient(self) -> X25519Recipient:
        key = X25519PrivateKey.from_private_bytes(self.private_key)
        return X25519Recipient(key.public_key().public_bytes_raw())

    def unwrap(self, stanza: Stanza) -> bytes | None:
        if stanza.type != "X25519":
            return None
        if len(stanza.args) != 1 or len(stanza.body) != FILE_KEY + TAG:
            raise AgeError("malformed X25519 stanza")
        share = _unb64(stanza.args[0].encode())
        if len(share) != 32:
            raise AgeError("malformed X25519 stanza")
        mine = X25519PrivateKey.from_private_bytes(self.private_key)
        try:
            secret = mine.exchange(X25519PublicKey.from_public_bytes(share))
        except ValueError:  # an all-zero shared secret (a low-order share): refused by age.md
            raise AgeError("malformed X25519 stanza") from None
        key = _hkdf(secret, share + self.recipient().public_key, X25519_LABEL)
        try:
            return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, stanza.body, None)
        except InvalidTag:
            return None  # for another recipient


@dataclass(frozen=True)
class ScryptIdentity:
    passphrase: str

    def unwrap(self, stanza: Stanza) -> bytes | None:
        if stanza.type != "scrypt":
            return None
        if len(stanza.args) != 2 or len(stanza.body) != FILE_KEY + TAG:
            raise AgeError("malformed scrypt stanza")
        salt, factor = _unb64(stanza.args[0].encode()), stanza.args[1]
        if len(salt) != 16 or not re.fullmatch(r"[1-9][0-9]?", factor):
            raise AgeError("malformed scrypt stanza")
        if int(factor) > MAX_WORK_FACTOR:
            raise AgeError("scrypt work factor too large")
        key = _scrypt(self.passphrase, salt, int(factor))
        try:
            return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, stanza.body, None)
        except InvalidTag:
            raise AgeError("wrong passphrase") from None


def _scrypt(passphrase: str, salt: bytes, work_factor: int) -> bytes:
    kdf = Scrypt(salt=SCRYPT_LABEL + salt, length=32, n=2**work_factor, r=8, p=1)
    return kdf.derive(passphrase.encode("utf-8"))


def _header_mac(file_key: bytes, header: bytes) -> bytes:
    mac = HMAC(_hkdf(file_key, b"", b"header"), hashes.SHA256())
    mac.update(header)
    return mac.finalize()


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class Encrypting:
    """An age file for ``recipient`` written to ``out`` piece by piece: ``write`` as often as
    needed, then ``close`` (the bytes written). A chunk is sealed once more bytes follow it, so
    the last one is known at ``close`` (an empty last chunk only for an empty file, age.md):
    at most one chunk and a piece are held. Several files can be written at once (a bulk
    export's one file per resource type)."""

    def __init__(self, out: BinaryIO, recipient: ScryptRecipient | X25519Recipient) -> None:
        file_key = os.urandom(FILE_KEY)
        header = VERSION_LINE + b"\n" + recipient.wrap(file_key).encode() + b"---"
        self._out = out
        self.written = out.write(header + b" " + _b64(_header_mac(file_key, header)) + b"\n")
        nonce = os.urandom(16)
        self._aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
        self.written += out.write(nonce)
        self._buffer = bytearray()
        self._counter = 0

    def _seal(self, chunk: bytes, last: bool) -> None:
        self.written += self._out.write(
            self._aead.encrypt(_nonce(self._counter, last), chunk, None)
        )
        self._counter += 1

    def write(self, piece: bytes) -> None:
        self._buffer += piece
        while len(self._buffer) > CHUNK:
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]

    def close(self) -> int:
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()
        return self.written


def encrypt(
    chunks: Iterable[bytes], out: BinaryIO, recipient: ScryptRecipient | X25519Recipient
) -> int:
    """Write ``chunks`` to ``out`` as an age file for ``recipient``; the bytes written."""
    writer = Encrypting(out, recipient)
    for piece in chunks:
        writer.write(piece)
    return writer.close()


def _line(source: BinaryIO) -> bytes:
    line = source.readline(1024)
    if not line.endswith(b"\n"):
        raise AgeError("truncated or malformed header")
    return line[:-1]


def _read_header(source: BinaryIO) -> tuple[list[Stanza], bytes, bytes]:
    """The stanzas, the header as the MAC covers it, and the MAC. Bounded: at most MAX_STANZAS
    stanzas and MAX_HEADER bytes in all, read in linear time, so a hostile file cannot make the
    reader work or hold memory before its MAC is checked."""
    first = _line(source)
    if first != VERSION_LINE:
        raise AgeError("not an age file (version line)")
    covered = [first]
    stanzas: list[Stanza] = []
    size = len(first) + 1
    line = _line(source)
    while line.startswith(b"-> "):
        if len(stanzas) == MAX_STANZAS:
            raise AgeError("too many recipients in the header")
        words = line[3:].decode("ascii", "replace").split(" ")
        body_lines = [line]  # the stanza's lines as the MAC covers them, its first line first
        while True:
            body = _line(source)
            body_lines.append(body)
            size += len(body_lines[-2]) + 1
            if size > MAX_HEADER:
                raise AgeError("header too large")
            if len(body) < COLUMNS:
                break
        covered += body_lines
        if not words[0] or "" in words:
            raise AgeError("malformed stanza")
        stanzas.append(Stanza(words[0], tuple(words[1:]), _unb64(b"".join(body_lines[1:]))))
        line = _line(source)
    if not line.startswith(b"--- ") or not stanzas:
        raise AgeError("malformed header")
    return stanzas, b"".join(c + b"\n" for c in covered) + b"---", _unb64(line[4:])


def decrypt(source: BinaryIO, identity: ScryptIdentity | X25519Identity) -> Iterator[bytes]:
    """The plaintext of the age file ``source``, chunk by chunk; AgeError when the header or any
    chunk does not authenticate (nothing unauthenticated is ever returned)."""
    stanzas, header, mac = _read_header(source)
    if any(s.type == "scrypt" for s in stanzas) and len(stanzas) != 1:
        raise AgeError("an scrypt stanza must be alone")
    file_key = next((k for k in map(identity.unwrap, stanzas) if k is not None), None)
    if file_key is None:
        raise AgeError("no identity matches this file")
    if not hmac.compare_digest(_header_mac(file_key, header), mac):
        raise AgeError("header MAC does not match")
    nonce = source.read(16)
    if len(nonce) != 16:
        raise AgeError("truncated payload")
    return _payload(source, ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload")))


def _payload(source: BinaryIO, aead: ChaCha20Poly1305) -> Iterator[bytes]:
    counter = 0
    chunk = source.read(CHUNK + TAG)
    while True:
        following = source.read(CHUNK + TAG)
        last = not following
        try:
            plain = aead.decrypt(_nonce(counter, last), chunk, None)
        except InvalidTag:
            raise AgeError("payload does not authenticate (altered or truncated)") from None
        if last and not plain and counter > 0:
            raise AgeError("empty last chunk")
        yield plain
        if last:
            return
        chunk, counter = following, counter + 1
