"""The backup file format (I4) on its own: what someone who holds the backup key but not the
instance's signing key, or who rewrites the file's framing, can and cannot make it accept."""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secretum.backup import archive
from secretum.backup.archive import BackupError, Writer
from secretum.backup.service import Progress

KEY = bytes(range(32))
SIGNER = Ed25519PrivateKey.generate()


def _write(path: Path, parts: dict[str, bytes], signer: Ed25519PrivateKey = SIGNER) -> Writer:
    with open(path, "wb") as out:
        writer = Writer(out, KEY, {"instance": "test"})
        for name, data in parts.items():
            writer.add(name, io.BytesIO(data))
        writer.finish({"tables": {}}, signer)
    return writer


def _read(path: Path, into: Path | None = None) -> archive.Reading:
    return archive.read(path, KEY, lambda _m: SIGNER.public_key(), into)


def test_parts_of_several_chunks_come_back_whole(tmp_path: Path) -> None:
    big = os.urandom(archive.CHUNK * 2 + 12345)  # three chunks that do not compress
    _write(tmp_path / "b", {"big": big, "empty": b"", "small": b"x" * 1000})
    seen: list[int] = []
    out = tmp_path / "out"
    out.mkdir()
    reading = archive.read(tmp_path / "b", KEY, lambda _m: SIGNER.public_key(), out, seen.append)
    assert (out / "big").read_bytes() == big and (out / "empty").read_bytes() == b""
    assert len(big) < sum(seen) < (tmp_path / "b").stat().st_size  # the chunks, as read
    assert [p["name"] for p in reading.manifest["parts"]] == ["big", "empty", "small"]


def test_a_manifest_signed_by_another_key_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "b", {"db": b"rows"}, Ed25519PrivateKey.generate())
    with pytest.raises(BackupError, match="signature does not verify"):
        _read(tmp_path / "b")


def test_a_part_that_does_not_match_the_signed_manifest_is_refused(tmp_path: Path) -> None:
    with open(tmp_path / "b", "wb") as out:
        writer = Writer(out, KEY, {"instance": "test"})
        writer.add("db", io.BytesIO(b"rows"))
        writer.parts[0] = archive.Part("db", 4, "0" * 64, writer.parts[0].stored)
        writer.finish({}, SIGNER)
    with pytest.raises(BackupError, match="part db does not match its size and SHA-256"):
        _read(tmp_path / "b")


def test_a_header_other_than_the_signed_one_is_refused(tmp_path: Path) -> None:
    with open(tmp_path / "b", "wb") as out:
        writer = Writer(out, KEY, {"instance": "test"})
        writer.header["instance"] = "another"
        writer.finish({}, SIGNER)
    with pytest.raises(BackupError, match="header does not match its signed manifest"):
        _read(tmp_path / "b")


@pytest.mark.parametrize("name", ["../escape", "manifest", "dup"])
def test_part_names_that_could_escape_or_repeat_are_refused(tmp_path: Path, name: str) -> None:
    with open(tmp_path / "b", "wb") as out:
        writer = Writer(out, KEY, {"instance": "test"})
        writer.add("dup", io.BytesIO(b"1"))
        writer.add(name, io.BytesIO(b"2"))
        writer.finish({}, SIGNER)
    with pytest.raises(BackupError, match="is not acceptable"):
        _read(tmp_path / "b")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"\xff\xff\xff\xff", "cut short or malformed"),
        (struct.pack(">I", 5) + b"[1,2]", "not a backup header"),
        (struct.pack(">I", 2) + b"{}", "not a backup header"),
        (struct.pack(">I", 4) + b"{{{{", "not a backup header"),
    ],
)
def test_malformed_headers_are_refused(tmp_path: Path, header: bytes, message: str) -> None:
    (tmp_path / "b").write_bytes(archive.MAGIC + header)
    with pytest.raises(BackupError, match=message):
        archive.read_header(tmp_path / "b")


def _framed(tmp_path: Path, body: bytes) -> Path:
    """A valid header under KEY, then ``body`` as its sections."""
    with open(tmp_path / "h", "wb") as out:
        Writer(out, KEY, {"instance": "test"})
    path = tmp_path / "b"
    path.write_bytes((tmp_path / "h").read_bytes() + body)
    return path


def test_malformed_sections_and_chunks_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="section 0 is malformed"):
        _read(_framed(tmp_path, struct.pack(">BH", 7, 2) + b"db"))
    with pytest.raises(BackupError, match="chunk 0 of section 0 is malformed"):
        _read(_framed(tmp_path, struct.pack(">BH", 1, 2) + b"db" + struct.pack(">I", 3) + b"abc"))


def _raw_part(tmp_path: Path, data: bytes) -> Path:
    """A part whose plaintext is ``data`` as it is (not what ``add`` would compress)."""
    with open(tmp_path / "b", "wb") as out:
        writer = Writer(out, KEY, {"instance": "test"})
        writer._chunks(1, "db", iter([data]))
        writer.finish({}, SIGNER)
    return tmp_path / "b"


def test_a_part_that_is_not_a_whole_zlib_stream_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="does not decompress"):
        _read(_raw_part(tmp_path, b"not zlib at all"))
    packer = zlib.compressobj()
    half = packer.compress(os.urandom(5000)) + packer.flush(zlib.Z_SYNC_FLUSH)
    with pytest.raises(BackupError, match="incomplete"):
        _read(_raw_part(tmp_path, half))
    with pytest.raises(BackupError, match="incomplete"):
        _read(_raw_part(tmp_path, zlib.compress(b"x") + b"trailing"))


def test_an_unreadable_manifest_is_refused(tmp_path: Path) -> None:
    with open(tmp_path / "b", "wb") as out:
        writer = Writer(out, KEY, {"instance": "test"})
        writer._chunks(2, "manifest", iter([json.dumps({"manifest": {}}).encode()]))
    with pytest.raises(BackupError, match="manifest is not readable"):
        _read(tmp_path / "b")


def test_a_backup_key_is_256_bit() -> None:
    with pytest.raises(ValueError, match="256-bit"):
        Writer(io.BytesIO(), b"short", {})


def test_what_does_not_compress_is_stored_not_compressed(tmp_path: Path) -> None:
    sealed = os.urandom(4 << 20)  # as sealed values are
    text = b"insert into audit_auditevent values (1, 'read', 'patients.Patient');" * 60000
    assert archive.level_for(io.BytesIO(sealed), len(sealed)) == 0
    assert archive.level_for(io.BytesIO(text), len(text)) == 1
    with open(tmp_path / "b", "wb") as out:
        writer = Writer(out, KEY, {"instance": "test"})
        stored = writer.add("sealed", io.BytesIO(sealed), level=0)
        packed = writer.add("text", io.BytesIO(text))
        writer.finish({}, SIGNER)
    assert len(sealed) < stored.stored < len(sealed) + 1024 and packed.stored < len(text) // 10
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    _read(tmp_path / "b", out_dir)
    assert (out_dir / "sealed").read_bytes() == sealed and (out_dir / "text").read_bytes() == text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_shows_only_on_a_terminal() -> None:
    terminal, pipe = _Terminal(), io.StringIO()
    for stream, total in ((terminal, 4_000_000), (pipe, 0)):
        bar = Progress("backup", total, stream)
        bar(2_000_000)
        bar.end()
    assert "[###############               ]  50%" in terminal.getvalue()
    assert pipe.getvalue() == ""
    unknown = _Terminal()
    bar = Progress("backup", 0, unknown)
    bar(3_000_000)
    assert "3.0 MB" in unknown.getvalue()
