"""zlib streams (RFC 1950) of stored blocks (RFC 1951, section 3.2.4), written without running
deflate over every byte (I1: the backup's speed).

What does not compress (sealed values, scanned documents) goes into a backup as a zlib stream of
level 0. zlib's deflate makes one at about 0.7 GB/s of CPU on this workplace's machine, copying
every byte through its window: the largest share of a backup's time. ``Packer`` writes the same
stream (the zlib header, stored blocks of at most 65,535 bytes, an empty final block, the
Adler-32 trailer) at about 3 GB/s; zlib reads it back as any other (``archive._unpack``), the
Adler-32 checked, then the part's SHA-256 against the signed manifest.

This module imports nothing of Secretum or Django.
"""

from __future__ import annotations

import struct
import zlib

_HEADER = b"\x78\x01"  # deflate, 32 KiB window, "fastest" (what zlib writes at level 0)
_BLOCK = 0xFFFF  # the largest stored block


class Packer:
    """A zlib stream of stored blocks, with ``compress``/``flush`` as ``zlib.compressobj``."""

    def __init__(self) -> None:
        self._adler = 1
        self._started = False

    def compress(self, data: bytes) -> bytes:
        if not data:
            return b""
        self._adler = zlib.adler32(data, self._adler)
        view = memoryview(data)
        pieces: list[bytes | memoryview] = [] if self._started else [_HEADER]
        self._started = True
        for start in range(0, len(view), _BLOCK):
            block = view[start : start + _BLOCK]
            pieces += [struct.pack("<BHH", 0, len(block), len(block) ^ 0xFFFF), block]
        return b"".join(pieces)

    def flush(self) -> bytes:
        head = b"" if self._started else _HEADER
        self._started = True
        # An empty final stored block, then the Adler-32 of all the data (big-endian).
        return head + struct.pack("<BHH", 1, 0, 0xFFFF) + struct.pack(">I", self._adler)
