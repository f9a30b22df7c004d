"""The backup file: parts, compressed, encrypted in authenticated chunks, and a signed manifest
(I1, I3, I4).

Layout (every integer big-endian)::

    b"SECRETUM-BACKUP\\n"                      16 bytes, the format's marker
    u32 length, header (JSON, in clear)       format, instance id, backup key id, salt, created
    sections, one per part, then the manifest:
        u8 kind (1: part, 2: manifest), u16 length, name (UTF-8, in clear)
        chunks: u32 (bit 31: final chunk; bits 0-30: length), AES-256-GCM ciphertext and tag

Encryption: AES-256-GCM (NIST SP 800-38D) under a key of this file alone, which HKDF-SHA256
(RFC 5869) derives from the instance's backup key and the header's random 256-bit salt, so no
(key, nonce) pair ever repeats across files. Each chunk's 96-bit nonce is the section's index
(32 bits), the chunk's index (56 bits) and the final flag (8 bits); its associated data is the
SHA-256 of the header, the section's kind and name. This is the STREAM construction of
Hoang, Reyhanitabar, Rogaway and Vizár (2015), the one age and Tink's streaming AEAD use: a
chunk moved, dropped, repeated or taken from another section or file fails authentication, a
section cut short lacks its final chunk, a file cut short lacks its manifest, and bytes after
the manifest are refused.

The plaintext of a part is its zlib stream (RFC 1950); the manifest lists each part's name, size
and SHA-256 before compression, the row count of every table, and is signed with the instance's
Ed25519 key (RFC 8032): ``verify`` recomputes every hash.

This module imports neither Django nor any other module of Secretum but ``secretum.instance`` and
``secretum.backup.stored`` (level 0's stored blocks, written without deflate).
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import itertools
import json
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from secretum.backup.stored import StreamError, Unpacker, chunked
from secretum.instance import KEY_BYTES, InstanceError

MAGIC = b"SECRETUM-BACKUP\n"
FORMAT = "secretum-backup-1"
CHUNK = 1 << 20  # 1 MiB of plaintext per chunk
_FINAL = 0x80000000
_PART, _MANIFEST = 1, 2
_TAG = 16
_HEADER_MAX = 1 << 16
_FILE_KEY_INFO = b"secretum/backup-file-key/v1"
_KEY_ID_LABEL = b"secretum: backup key id"


class BackupError(InstanceError):
    """A backup that cannot be written or read, told in one sentence (never a traceback)."""


def _ignore(_n: int) -> None:
    pass


def key_id(backup_key: bytes) -> str:
    """The public name of a backup key (HMAC-SHA256 of a fixed label, 128 bits): tells one key
    from another, reveals nothing of it."""
    return hmac.new(backup_key, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:32]


def _file_key(backup_key: bytes, salt: bytes) -> AESGCM:
    if len(backup_key) != KEY_BYTES:
        raise ValueError("a backup key is 256-bit")
    raw = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=_FILE_KEY_INFO).derive(
        backup_key
    )
    return AESGCM(raw)


def _nonce(section: int, chunk: int, final: bool) -> bytes:
    return struct.pack(">I", section) + chunk.to_bytes(7, "big") + (b"\x01" if final else b"\x00")


def canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _take(held: list[memoryview], n: int) -> bytes | memoryview:
    """The first ``n`` bytes of ``held``, removed from it: a slice when the first piece holds
    them all (the usual case: pieces come about a chunk long), else joined."""
    if held and len(held[0]) >= n:
        first = held[0]
        if len(first) == n:
            held.pop(0)
        else:
            held[0] = first[n:]
        return first[:n]
    taken: list[memoryview] = []
    while n > 0:
        first = held.pop(0)
        if len(first) > n:
            held.insert(0, first[n:])
            first = first[:n]
        taken.append(first)
        n -= len(first)
    return b"".join(taken)


class Hasher:
    """The SHA-256 of a part, computed on a thread of its own while the caller compresses,
    encrypts or writes (hashlib, zlib and AES-GCM release the GIL on large blocks): the same
    digest of the same bytes, in their order, with at most ``AHEAD`` blocks waiting. With
    ``adler``, the zlib stream's Adler-32 of the same bytes too, on the same thread (I1: off
    the thread that packs, encrypts or writes; I4: the reader still checks it)."""

    AHEAD = 4

    def __init__(self, adler: bool = False) -> None:
        self._digest = hashlib.sha256()
        self._adler: int | None = 1 if adler else None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="backup-sha256")
        self._pending: collections.deque[Future[None]] = collections.deque()

    def __enter__(self) -> Hasher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._pool.shutdown(wait=True)

    def _update(self, block: bytes | memoryview) -> None:
        self._digest.update(block)
        if self._adler is not None:
            self._adler = zlib.adler32(block, self._adler)

    def update(self, block: bytes) -> None:
        self.update_all([block])

    def update_all(self, blocks: list[bytes | memoryview]) -> None:
        """``update`` of each of ``blocks`` in turn, one task for them all."""
        while len(self._pending) >= self.AHEAD:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._update_all, blocks))

    def _update_all(self, blocks: list[bytes | memoryview]) -> None:
        for block in blocks:
            self._update(block)

    def _drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def hexdigest(self) -> str:
        self._drain()
        return self._digest.hexdigest()

    def adler32(self) -> int:
        """The Adler-32 of every block so far (RFC 1950; only with ``adler``)."""
        self._drain()
        if self._adler is None:
            raise ValueError("this hasher computes no Adler-32")
        return self._adler


@dataclass(frozen=True)
class Part:
    name: str
    size: int
    sha256: str
    stored: int  # bytes in the file, ciphertext and tags


class Writer:
    """Writes one backup file to an open binary file: header, parts, then the signed manifest."""

    def __init__(
        self, out: BinaryIO, backup_key: bytes, header: dict[str, Any], level: int = 1
    ) -> None:
        self._out = out
        self._salt = os.urandom(32)
        self.header = {
            **header,
            "format": FORMAT,
            "key_id": key_id(backup_key),
            "salt": self._salt.hex(),
            "cipher": "AES-256-GCM, 1 MiB chunks, STREAM nonces",
            "signature": "Ed25519",
        }
        raw = canonical(self.header)
        out.write(MAGIC + struct.pack(">I", len(raw)) + raw)
        self._header_hash = hashlib.sha256(raw).digest()
        self._aead = _file_key(backup_key, self._salt)
        self._section = 0
        self._level = level
        self.parts: list[Part] = []

    def _chunks(
        self, kind: int, name: str, pieces: Iterator[bytes | bytearray | memoryview]
    ) -> int:
        encoded = name.encode()
        self._out.write(struct.pack(">BH", kind, len(encoded)) + encoded)
        aad = self._header_hash + bytes([kind]) + encoded
        stored, index = 0, 0
        held: list[memoryview] = []  # the plaintext not sealed yet, as it came (no copy)
        size = 0
        for piece in pieces:
            if piece:
                held.append(memoryview(piece))
                size += len(piece)
            while size > CHUNK:  # keep one back: the last chunk is the final one
                stored += self._chunk(index, False, _take(held, CHUNK), aad)
                size -= CHUNK
                index += 1
        stored += self._chunk(index, True, _take(held, size), aad)
        self._section += 1
        return stored

    def _chunk(self, index: int, final: bool, data: bytes | memoryview, aad: bytes) -> int:
        sealed = self._aead.encrypt(_nonce(self._section, index, final), data, aad)
        self._out.write(struct.pack(">I", len(sealed) | (_FINAL if final else 0)))
        self._out.write(sealed)
        return 4 + len(sealed)

    def add(
        self,
        name: str,
        source: IO[bytes],
        progress: Callable[[int], None] = _ignore,
        level: int | None = None,
    ) -> Part:
        """Add a part read from ``source`` to its end, compressed (zlib ``level``, 0: stored)
        then encrypted."""
        size = 0
        level = self._level if level is None else level
        packer = zlib.compressobj(level)

        def seen(blocks: list[memoryview], digest: Hasher) -> None:
            nonlocal size
            digest.update_all(list(blocks))
            n = sum(len(b) for b in blocks)
            size += n
            progress(n)

        def pieces(digest: Hasher) -> Iterator[bytes | bytearray | memoryview]:
            if level == 0:
                # Stored blocks laid out in each chunk's own buffer, the source read into it:
                # no copy; their SHA-256 and Adler-32 on the hashing thread (I1).
                yield from chunked(source, CHUNK, lambda b: seen(b, digest), digest.adler32)
                return
            while block := source.read(CHUNK):
                seen([memoryview(block)], digest)
                yield packer.compress(block)
            yield packer.flush()

        with Hasher(adler=level == 0) as digest:
            stored = self._chunks(_PART, name, pieces(digest))
            part = Part(name, size, digest.hexdigest(), stored)
        self.parts.append(part)
        return part

    def finish(self, manifest: dict[str, Any], signer: Ed25519PrivateKey) -> dict[str, Any]:
        """Write the manifest (the parts, the header's fields, ``manifest``), signed, last;
        returns ``{"manifest": ..., "signature": base64}``."""
        body = {
            **manifest,
            "header": self.header,
            "parts": [vars(p) for p in self.parts],
        }
        signature = base64.b64encode(signer.sign(canonical(body))).decode()
        signed = {"manifest": body, "signature": signature}
        self._chunks(_MANIFEST, "manifest", iter([canonical(signed)]))
        return signed


def level_for(source: IO[bytes], size: int) -> int:
    """The zlib level for a seekable part: 0 (stored) when samples of it do not compress, as
    a database of sealed values mostly does not, else 1 (as small as higher levels on
    Secretum's text, several times faster)."""
    sample = b""
    for share in (0.25, 0.5, 0.75):
        source.seek(int(size * share))
        sample += source.read(256 * 1024)
    source.seek(0)
    return 0 if len(zlib.compress(sample, 1)) > 0.9 * len(sample) else 1


@dataclass
class Reading:
    header: dict[str, Any]
    manifest: dict[str, Any]
    files: dict[str, Path]  # part name -> where it was written (when asked to)


def read_header(path: Path) -> dict[str, Any]:
    """The clear header of a backup file (instance, key id, created), or a one-sentence refusal."""
    with open(path, "rb") as f:
        return _header(f, path)[0]


def _header(f: BinaryIO, path: Path) -> tuple[dict[str, Any], bytes]:
    if f.read(len(MAGIC)) != MAGIC:
        raise BackupError(f"{path} is not a Secretum backup (no backup marker at its start).")
    size = f.read(4)
    if len(size) < 4 or (length := struct.unpack(">I", size)[0]) > _HEADER_MAX:
        raise BackupError(f"{path} is damaged: its header is cut short or malformed.")
    raw = f.read(length)
    try:
        header = json.loads(raw)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError
        bytes.fromhex(header["salt"])
    except (ValueError, KeyError, TypeError):
        raise BackupError(f"{path} is damaged: its header is not a backup header.") from None
    return header, raw


def read(
    path: Path,
    backup_key: bytes,
    public_key: Callable[[dict[str, Any]], Ed25519PublicKey],
    into: Path | None = None,
    progress: Callable[[int], None] = _ignore,
) -> Reading:
    """Read a whole backup: decrypt and authenticate every chunk, decompress and hash every part
    (written into ``into`` when given, else only checked), check the manifest's signature under
    ``public_key(manifest)`` and every part against it. Any fault is one ``BackupError``."""
    with open(path, "rb") as f:
        header, raw = _header(f, path)
        if header.get("key_id") != key_id(backup_key):
            raise BackupError(
                f"{path} was encrypted under another backup key (key {header.get('key_id')!s:.12}"
                f"…, this key file's is {key_id(backup_key):.12}…): wrong key file, or a backup "
                "of another instance."
            )
        aead = _file_key(backup_key, bytes.fromhex(header["salt"]))
        header_hash = hashlib.sha256(raw).digest()
        found: dict[str, tuple[int, str]] = {}
        files: dict[str, Path] = {}
        section = 0
        while True:
            kind_name = f.read(3)
            if len(kind_name) < 3:
                raise BackupError(f"{path} is truncated: it ends before its signed manifest.")
            kind, length = struct.unpack(">BH", kind_name)
            encoded = f.read(length)
            if kind not in (_PART, _MANIFEST) or len(encoded) < length:
                raise BackupError(f"{path} is damaged: section {section} is malformed.")
            name = encoded.decode(errors="replace")
            aad = header_hash + bytes([kind]) + encoded
            chunks = _decrypt(f, path, aead, section, aad, progress)
            if kind == _MANIFEST:
                text = b"".join(chunks)
                if f.read(1):
                    raise BackupError(f"{path} is damaged: bytes follow its signed manifest.")
                manifest = _check_manifest(path, text, header, public_key, found)
                return Reading(header, manifest, files)
            if not _safe_name(name) or name in found:
                raise BackupError(f"{path} is damaged: part name {name!r} is not acceptable.")
            target = into / name if into is not None else None
            found[name] = _unpack(path, chunks, target)
            if target is not None:
                files[name] = target
            section += 1


def _safe_name(name: str) -> bool:
    return bool(name) and "/" not in name and name not in (".", "..") and name != "manifest"


def _decrypt(
    f: BinaryIO,
    path: Path,
    aead: AESGCM,
    section: int,
    aad: bytes,
    progress: Callable[[int], None],
) -> Iterator[bytes]:
    index = 0
    while True:
        word = f.read(4)
        if len(word) < 4:
            raise BackupError(f"{path} is truncated: section {section} is cut short.")
        (framed,) = struct.unpack(">I", word)
        final, length = bool(framed & _FINAL), framed & ~_FINAL
        if length < _TAG or length > CHUNK + _TAG + 1024:
            raise BackupError(
                f"{path} is damaged: chunk {index} of section {section} is malformed."
            )
        sealed = f.read(length)
        if len(sealed) < length:
            raise BackupError(f"{path} is truncated: section {section} is cut short.")
        try:
            yield aead.decrypt(_nonce(section, index, final), sealed, aad)
        except InvalidTag:
            raise BackupError(
                f"{path} is damaged or tampered with: chunk {index} of section {section} fails "
                "authentication (AES-256-GCM)."
            ) from None
        progress(4 + length)
        if final:
            return
        index += 1


def _unpack(path: Path, chunks: Iterator[bytes], target: Path | None) -> tuple[int, str]:
    """A part's zlib stream to its bytes, hashed and written in one pass, each byte once:
    stored blocks as slices of the decrypted chunk (``stored.Unpacker``), written with one
    ``writev`` a chunk; their SHA-256 and the stream's Adler-32 on the hashing thread, the
    Adler-32 compared with the stream's trailer here, the SHA-256 with the signed manifest
    after (I4: the checks zlib and ``read`` made before, none left out)."""
    size = 0
    unpacker = Unpacker()
    out = open(target, "xb", buffering=0) if target is not None else None
    try:
        with Hasher(adler=True) as digest:
            for chunk in itertools.chain(chunks, [b""]):
                try:
                    blocks = unpacker.feed(chunk) if chunk else unpacker.flush()
                except (zlib.error, StreamError):
                    raise BackupError(f"{path} is damaged: a part does not decompress.") from None
                if not blocks:
                    continue
                digest.update_all(blocks)
                size += sum(len(b) for b in blocks)
                if out is not None:
                    _write_all(out.fileno(), blocks)
            if not unpacker.eof or len(unpacker.trailer) != 4:
                raise BackupError(f"{path} is damaged: a part's compressed stream is incomplete.")
            if struct.unpack(">I", unpacker.trailer)[0] != digest.adler32():
                raise BackupError(
                    f"{path} is damaged: a part does not decompress (its Adler-32 is wrong)."
                )
            if out is not None:
                os.fsync(out.fileno())
            return size, digest.hexdigest()
    finally:
        if out is not None:
            out.close()


_IOV_MAX = 512  # well under any system's limit on one writev


def _write_all(fd: int, blocks: list[bytes | memoryview]) -> None:
    """``blocks`` written in order, one ``writev`` for as many as it takes at once."""
    views = [memoryview(b) for b in blocks if len(b)]
    while views:
        written = os.writev(fd, views[:_IOV_MAX])
        while written:
            if written >= len(views[0]):
                written -= len(views.pop(0))
            else:
                views[0] = views[0][written:]
                written = 0


def _check_manifest(
    path: Path,
    text: bytes,
    header: dict[str, Any],
    public_key: Callable[[dict[str, Any]], Ed25519PublicKey],
    found: dict[str, tuple[int, str]],
) -> dict[str, Any]:
    try:
        signed = json.loads(text)
        body, signature = signed["manifest"], base64.b64decode(signed["signature"])
    except (ValueError, KeyError, TypeError):
        raise BackupError(f"{path} is damaged: its manifest is not readable.") from None
    try:
        public_key(body).verify(signature, canonical(body))
    except InvalidSignature:
        raise BackupError(
            f"{path}: the manifest's signature does not verify under this instance's public key "
            "(a backup of another instance, or forged)."
        ) from None
    if body.get("header") != header:
        raise BackupError(f"{path} is damaged: its header does not match its signed manifest.")
    listed = {p["name"]: (p["size"], p["sha256"]) for p in body.get("parts", [])}
    if listed != found:
        bad = sorted(n for n in listed.keys() | found.keys() if listed.get(n) != found.get(n))
        raise BackupError(
            f"{path} is damaged: part {', '.join(bad)} does not match its size and SHA-256 in the "
            "signed manifest."
        )
    return dict(body)
