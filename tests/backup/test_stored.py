"""Level 0's zlib streams written without deflate, and pieces sealed in chunks without copies
(I1): zlib streams as zlib's own, whatever the sizes they are fed in, read back whole by zlib
and by the backup's reader (I4)."""

from __future__ import annotations

import hashlib
import io
import os
import random
import struct
import zlib
from pathlib import Path
from typing import IO, Any, cast

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secretum.backup import archive
from secretum.backup.archive import Writer
from secretum.backup.stored import Packer, StreamError, Unpacker, chunked

KEY = bytes(range(32))
SIGNER = Ed25519PrivateKey.generate()


def _pieces(data: bytes, rng: random.Random, most: int) -> list[bytes]:
    out, at = [], 0
    while at < len(data):
        step = rng.randint(1, most)
        out.append(data[at : at + step])
        at += step
    return out


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 3 * 65535 + 7, 3 << 20])
def test_stored_streams_are_zlib_streams(size: int) -> None:
    data = os.urandom(size)
    packer = Packer()
    pieces = _pieces(data, random.Random(size), 200_000)
    stream = b"".join(packer.compress(p) for p in pieces) + packer.flush()
    assert zlib.decompress(stream) == data
    unpacker = zlib.decompressobj()
    assert unpacker.decompress(stream) == data and unpacker.eof and not unpacker.unused_data
    # Stored: the data, 5 bytes a block, 2 of header, 9 of final block and trailer.
    blocks = sum(-(-len(p) // 0xFFFF) for p in pieces)
    assert len(stream) == size + 5 * blocks + 11
    assert stream[:2] == zlib.compress(b"", 0)[:2]


class _Pipe(io.RawIOBase):
    """A source that gives at most ``most`` bytes a read, as a pipe does."""

    def __init__(self, data: bytes, most: int) -> None:
        self._data, self._at, self._most = data, 0, most

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._most, len(self._data) - self._at)
        buffer[:n] = self._data[self._at : self._at + n]
        self._at += n
        return n


@pytest.mark.parametrize(
    ("size", "chunk", "most"),
    [(0, 1 << 20, 1 << 20), (5, 1 << 20, 1), (3 << 20, 1 << 20, 1 << 30), (200_001, 70_000, 999)],
)
def test_chunked_lays_out_zlib_streams_in_whole_chunks(size: int, chunk: int, most: int) -> None:
    """I1: the source read into each chunk's own buffer between the blocks' headers: every
    piece but the stream's end exactly ``chunk`` bytes, the whole a zlib stream of the data;
    what ``seen`` gets is the data, in order; a pipe's short reads change nothing."""
    data = os.urandom(size)
    seen: list[bytes] = []
    source = cast(IO[bytes], _Pipe(data, most))  # a raw stream: readinto, as a file gives
    pieces = [
        bytes(p)
        for p in chunked(
            source, chunk, lambda views: seen.extend(bytes(v) for v in views),
            lambda: zlib.adler32(b"".join(seen)),
        )
    ]  # fmt: skip
    assert b"".join(seen) == data
    assert all(len(p) == chunk for p in pieces[:-2]) and len(pieces[-1]) == 9
    assert zlib.decompress(b"".join(pieces)) == data


def test_a_damaged_stored_stream_does_not_decompress() -> None:
    data = os.urandom(70_000)
    packer = Packer()
    stream = bytearray(packer.compress(data) + packer.flush())
    stream[-1] ^= 1  # the Adler-32
    with pytest.raises(zlib.error):
        zlib.decompress(bytes(stream))


@pytest.mark.parametrize("most", [1, 7000, archive.CHUNK + 100, 3 * archive.CHUNK])
def test_pieces_of_any_size_are_sealed_in_whole_chunks(tmp_path: Path, most: int) -> None:
    data = os.urandom(archive.CHUNK * 3 + 5000) if most > 1 else os.urandom(20_000)
    stream = zlib.compress(data, 0)
    with open(tmp_path / "b", "wb") as out:
        writer = Writer(out, KEY, {"instance": "test"})
        stored = writer._chunks(1, "db", iter(_pieces(stream, random.Random(most), most)))
        writer.parts.append(archive.Part("db", len(data), hashlib.sha256(data).hexdigest(), stored))
        writer.finish({}, SIGNER)
    (tmp_path / "out").mkdir()
    archive.read(tmp_path / "b", KEY, lambda _m: SIGNER.public_key(), tmp_path / "out")
    assert (tmp_path / "out" / "db").read_bytes() == data
    chunks = -(-len(stream) // archive.CHUNK)
    assert stored == len(stream) + chunks * (4 + 16)  # full chunks, then the final one


def test_the_hashing_thread_hashes_every_block_in_order() -> None:
    blocks = [os.urandom(random.Random(n).randint(0, 300_000)) for n in range(40)]
    with archive.Hasher() as digest:
        for block in blocks:
            digest.update(block)
        assert digest.hexdigest() == hashlib.sha256(b"".join(blocks)).hexdigest()


def _unpacked(stream: bytes, pieces: list[bytes]) -> tuple[bytes, Unpacker]:
    unpacker = Unpacker()
    out = [bytes(b) for p in pieces for b in unpacker.feed(p)]
    out += [bytes(b) for b in unpacker.flush()]
    return b"".join(out), unpacker


def _mixed(size: int) -> bytes:
    """Random bytes (stored by zlib's level 1), then copies of them (compressed, reaching back
    into the stored ones), then random again."""
    rng = random.Random(size)
    head = rng.randbytes(size)
    return head + head[-20_000:] * 3 + rng.randbytes(size // 3)


@pytest.mark.parametrize("most", [1, 5, 6, 70_000, archive.CHUNK])
@pytest.mark.parametrize("kind", ["stored", "zlib0", "zlib1", "zlib6", "mixed", "sync"])
def test_the_unpacker_gives_back_what_zlib_gives_back(kind: str, most: int) -> None:
    """I4: whatever zlib stream (Packer's, zlib's at any level, stored blocks then compressed
    ones reaching back into them, empty stored blocks of a sync flush), cut anywhere, the same
    bytes as zlib and the Adler-32 trailer as it is."""
    data = _mixed(150_000) if kind in ("mixed", "sync") else os.urandom(200_000)
    if kind == "stored":
        packer = Packer()
        stream = packer.compress(data) + packer.flush()
    elif kind == "sync":
        z = zlib.compressobj(1)
        stream = z.compress(data[:1000]) + z.flush(zlib.Z_SYNC_FLUSH) + z.compress(data[1000:])
        stream += z.flush()
    else:
        stream = zlib.compress(data, int(kind[-1]) if kind != "mixed" else 1)
    if most == 1 and kind != "stored":
        pytest.skip("byte by byte: the stored stream is enough")
    out, unpacker = _unpacked(stream, _pieces(stream, random.Random(most), most))
    assert out == zlib.decompress(stream)
    assert unpacker.eof and unpacker.trailer == stream[-4:]
    assert struct.unpack(">I", unpacker.trailer)[0] == zlib.adler32(out)


def test_stored_blocks_come_out_as_slices_of_the_pieces() -> None:
    """I1: a restore copies no stored byte: the output are views of the pieces fed in."""
    packer = Packer()
    stream = packer.compress(os.urandom(300_000)) + packer.flush()
    unpacker = Unpacker()
    blocks = unpacker.feed(stream)
    assert blocks and all(isinstance(b, memoryview) and b.obj is stream for b in blocks)


def test_a_compressed_stream_after_stored_blocks_goes_to_zlib() -> None:
    stream = zlib.compress(_mixed(150_000), 1)
    assert (stream[2] >> 1) & 3 == 0  # it starts with a stored block
    unpacker = Unpacker()
    unpacker.feed(stream)
    assert unpacker._inflate is not None and unpacker.eof


@pytest.mark.parametrize(
    "damage",
    [
        lambda s: b"\x78\x02" + s[2:],  # header check bits wrong
        lambda s: b"\x79\x01" + s[2:],  # not deflate
        lambda s: b"\x78\x20" + s[2:],  # a preset dictionary
        lambda s: s[:3] + bytes([s[3] ^ 1]) + s[4:],  # length and complement disagree
        lambda s: s[:2] + b"\x07" + s[3:],  # a reserved block type
    ],
)
def test_a_malformed_stream_is_refused(damage: Any) -> None:
    packer = Packer()
    stream = damage(packer.compress(os.urandom(70_000)) + packer.flush())
    with pytest.raises((StreamError, zlib.error)):
        _unpacked(stream, [stream])


def test_a_wrong_adler_32_is_refused_by_the_reader(tmp_path: Path) -> None:
    """I4: the Adler-32, now checked beside zlib and not by it, is checked still."""
    packer = Packer()
    stream = bytearray(packer.compress(os.urandom(70_000)) + packer.flush())
    stream[-1] ^= 1
    with open(tmp_path / "b", "wb") as out:
        writer = Writer(out, KEY, {"instance": "test"})
        writer._chunks(1, "db", iter([bytes(stream)]))
        writer.finish({}, SIGNER)
    with pytest.raises(archive.BackupError, match="Adler-32 is wrong"):
        archive.read(tmp_path / "b", KEY, lambda _m: SIGNER.public_key(), None)


def test_the_hashing_thread_computes_the_adler_32_too() -> None:
    blocks = [os.urandom(random.Random(n).randint(0, 300_000)) for n in range(10)]
    with archive.Hasher(adler=True) as digest:
        digest.update(blocks[0])
        digest.update_all([memoryview(b) for b in blocks[1:]])
        assert digest.adler32() == zlib.adler32(b"".join(blocks))
        assert digest.hexdigest() == hashlib.sha256(b"".join(blocks)).hexdigest()
    with archive.Hasher() as digest, pytest.raises(ValueError):
        digest.adler32()


def test_a_packer_without_its_own_adler_32_takes_the_one_given() -> None:
    data = os.urandom(100_000)
    packer = Packer(adler=False)
    stream = packer.compress(data) + packer.flush(zlib.adler32(data))
    assert zlib.decompress(stream) == data
    with pytest.raises(ValueError):
        Packer(adler=False).flush()
    with pytest.raises(ValueError):
        Packer().flush(1)


def test_a_level_0_part_is_a_zlib_stream_with_its_adler_32(tmp_path: Path) -> None:
    """I1: the backup's part, its Adler-32 computed on the hashing thread, reads back with
    zlib itself (as any older reader of the format would)."""
    data = os.urandom(archive.CHUNK * 2 + 777)
    with open(tmp_path / "b", "wb") as out:
        writer = Writer(out, KEY, {"instance": "test"})
        seen: list[bytes] = []
        sealed = writer._chunks

        def keep(kind: int, name: str, pieces: Any) -> int:
            def tee() -> Any:
                for p in pieces:
                    seen.append(bytes(p))
                    yield p

            return sealed(kind, name, tee())

        writer._chunks = keep  # type: ignore[method-assign]
        writer.add("db", io.BytesIO(data), level=0)
    assert zlib.decompress(b"".join(seen)) == data
