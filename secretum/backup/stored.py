"""zlib streams (RFC 1950) of stored blocks (RFC 1951, section 3.2.4), written without running
deflate over every byte (I1: the backup's speed).

What does not compress (sealed values, scanned documents) goes into a backup as a zlib stream of
level 0. zlib's deflate makes one at about 0.7 GB/s of CPU on this workplace's machine, copying
every byte through its window: the largest share of a backup's time. ``Packer`` writes the same
stream (the zlib header, stored blocks of at most 65,535 bytes, an empty final block, the
Adler-32 trailer) at about 3 GB/s; zlib reads it back as any other (``archive._unpack``), the
Adler-32 checked, then the part's SHA-256 against the signed manifest. ``chunked``, what a
backup uses, writes the same stream without copying the data at all: each chunk's buffer gets
the blocks' headers and the source read straight into it; ``Packer`` stays the plain writer of
it, from bytes already in memory.

This module imports nothing of Secretum or Django.
"""

from __future__ import annotations

import collections
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import IO, Any

_HEADER = b"\x78\x01"  # deflate, 32 KiB window, "fastest" (what zlib writes at level 0)
_BLOCK = 0xFFFF  # the largest stored block


class Packer:
    """A zlib stream of stored blocks, with ``compress``/``flush`` as ``zlib.compressobj``.

    With ``adler=False`` the Adler-32 is not computed here: the caller computes it over the
    same bytes (``archive.Hasher(adler=True)``, on the hashing thread) and gives it to
    ``flush``."""

    def __init__(self, adler: bool = True) -> None:
        self._adler: int | None = 1 if adler else None
        self._started = False

    def compress(self, data: bytes) -> bytes:
        if not data:
            return b""
        if self._adler is not None:
            self._adler = zlib.adler32(data, self._adler)
        view = memoryview(data)
        pieces: list[bytes | memoryview] = [] if self._started else [_HEADER]
        self._started = True
        for start in range(0, len(view), _BLOCK):
            block = view[start : start + _BLOCK]
            pieces += [struct.pack("<BHH", 0, len(block), len(block) ^ 0xFFFF), block]
        return b"".join(pieces)

    def flush(self, adler: int | None = None) -> bytes:
        """The end of the stream; ``adler``: the Adler-32 of all the data, when this packer
        was made with ``adler=False`` (and only then)."""
        if (adler is None) != (self._adler is not None):
            raise ValueError("the Adler-32 is the packer's own or given, one of the two")
        head = b"" if self._started else _HEADER
        self._started = True
        # An empty final stored block, then the Adler-32 of all the data (big-endian).
        check = self._adler if adler is None else adler
        return head + struct.pack("<BHH", 1, 0, 0xFFFF) + struct.pack(">I", check)


def chunked(
    source: IO[bytes],
    chunk: int,
    seen: Callable[[list[memoryview]], None],
    adler: Callable[[], int],
) -> Iterator[bytearray | memoryview | bytes]:
    """The zlib stream of stored blocks of all of ``source``, as ``Packer`` writes it, in pieces
    of exactly ``chunk`` bytes (the stream's end in a last, shorter piece): each piece is one new
    buffer, the blocks' headers written into it and the source read into it between them, so
    that no byte of the data is copied in this process (I1: the backup's speed). ``seen`` gets
    the data of each piece, as views of it, before the piece is handed on (never reused
    after); ``adler``, called once all of it was seen, gives its Adler-32 (the caller's hashing
    thread computes it, ``archive.Hasher(adler=True)``)."""
    first, ended = True, False
    while not ended:
        piece = bytearray(chunk)
        view = memoryview(piece)
        at = 0
        if first:
            view[:2], at, first = _HEADER, 2, False
        data: list[memoryview] = []
        while chunk - at > 5:
            take = min(_BLOCK, chunk - at - 5)
            got = _read_into(source, view[at + 5 : at + 5 + take])
            if got:
                struct.pack_into("<BHH", piece, at, 0, got, got ^ 0xFFFF)
                data.append(view[at + 5 : at + 5 + got])
                at += 5 + got
            if got < take:  # the source's end
                ended = True
                break
        if data:
            seen(data)
        yield piece if at == chunk else view[:at]
    # An empty final stored block, then the Adler-32 of all the data (big-endian).
    yield struct.pack("<BHH", 1, 0, 0xFFFF) + struct.pack(">I", adler())


def _read_into(source: IO[bytes], view: memoryview) -> int:
    """``view`` filled from ``source``, short only at its end (a pipe gives what it has)."""
    done = 0
    while done < len(view):
        got = source.readinto(view[done:])  # type: ignore[attr-defined]  # IO[bytes] lacks it
        if not got:
            break
        done += got
    return done


class StreamError(ValueError):
    """A zlib stream that is not one: a bad header, a stored block's length not matching its
    complement."""


_WINDOW = 1 << 15  # deflate's window: how far back a compressed block may reach


class Unpacker:
    """A zlib stream read back without copying its stored blocks (I1: a restore writes each
    byte once): the deflate data of stored blocks comes out as slices of the pieces fed in;
    from the first block that is not stored on (a stream of level 1), zlib's raw inflate takes
    over with the last 32 KiB as its window. The Adler-32 is the caller's to compute over the
    output and to compare with ``trailer`` (``archive.Hasher(adler=True)``), zlib's check made
    on another thread. Header, block lengths and their complements checked as zlib checks
    them; ``eof`` once the final block ended; ``trailer``: what followed it."""

    def __init__(self) -> None:
        self.eof = False
        self.trailer = b""
        self._head = b""  # the zlib header, 2 bytes
        self._pending = b""  # a stored block's 5-byte header, cut by a piece's edge
        self._left = 0  # bytes of the current stored block still to come
        self._final = False  # the current stored block is the last
        self._inflate: Any = None  # zlib's raw inflate, once a block is not stored
        self._window: collections.deque[memoryview] = collections.deque()
        self._held = 0  # bytes in _window

    def feed(self, data: bytes | memoryview) -> list[bytes | memoryview]:
        """The output of ``data``, the next piece of the stream, in order."""
        view = memoryview(data)
        if len(self._head) < 2:
            need = 2 - len(self._head)
            self._head += bytes(view[:need])
            view = view[need:]
            if len(self._head) == 2:
                _check_header(self._head)
        if self.eof:
            self.trailer += bytes(view)
            return []
        if self._inflate is not None:
            return self._inflated(view)
        out: list[bytes | memoryview] = []
        at, end = 0, len(view)
        while at < end and not self.eof:
            if self._left:
                take = min(self._left, end - at)
                out.append(view[at : at + take])
                self._keep(view[at : at + take])
                at += take
                self._left -= take
                self.eof = self._final and not self._left
                continue
            first = self._pending[0] if self._pending else view[at]
            if (first >> 1) & 3:  # not a stored block: zlib's from here on
                self._inflate = zlib.decompressobj(-15, zdict=self._window_bytes())
                rest = self._pending + bytes(view[at:])
                self._pending = b""
                return out + self._inflated(memoryview(rest))
            take = min(5 - len(self._pending), end - at)
            self._pending += bytes(view[at : at + take])
            at += take
            if len(self._pending) < 5:
                break
            length, complement = struct.unpack("<HH", self._pending[1:])
            if length ^ complement != 0xFFFF:
                raise StreamError("a stored block's length does not match its complement")
            self._final, self._left, self._pending = bool(self._pending[0] & 1), length, b""
            self.eof = self._final and not length
        if self.eof:
            self.trailer += bytes(view[at:])
        return out

    def flush(self) -> list[bytes | memoryview]:
        """What zlib still holds (nothing, for stored blocks)."""
        if self._inflate is None:
            return []
        return self._inflated(memoryview(b""), flush=True)

    def _inflated(self, view: memoryview, flush: bool = False) -> list[bytes | memoryview]:
        block = self._inflate.flush() if flush else self._inflate.decompress(view)
        if self._inflate.eof and not self.eof:
            self.eof = True
            self.trailer += self._inflate.unused_data
        return [block] if block else []

    def _keep(self, piece: memoryview) -> None:
        """The last 32 KiB of output, as the views they came in (no copy until needed)."""
        self._window.append(piece)
        self._held += len(piece)
        while self._held - len(self._window[0]) >= _WINDOW:
            self._held -= len(self._window.popleft())

    def _window_bytes(self) -> bytes:
        return b"".join(self._window)[-_WINDOW:]


def _check_header(head: bytes) -> None:
    """RFC 1950's two bytes: deflate (CM 8), a window of at most 32 KiB, no preset
    dictionary, the check bits right."""
    cmf, flg = head[0], head[1]
    if cmf & 0x0F != 8 or cmf >> 4 > 7 or flg & 0x20 or (cmf << 8 | flg) % 31:
        raise StreamError("not a zlib stream")
