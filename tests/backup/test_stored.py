"""Level 0's zlib streams written without deflate, and pieces sealed in chunks without copies
(I1): zlib streams as zlib's own, whatever the sizes they are fed in, read back whole by zlib
and by the backup's reader (I4)."""

from __future__ import annotations

import hashlib
import os
import random
import zlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secretum.backup import archive
from secretum.backup.archive import Writer
from secretum.backup.stored import Packer

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
