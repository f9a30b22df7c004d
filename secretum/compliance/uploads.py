"""Evidence documents are received in memory only, then sealed (E10): ``lib.uploads``, up to
the register's limit."""

from __future__ import annotations

from secretum.compliance.documents import DOCUMENT_MAX_BYTES
from secretum.lib.uploads import MemoryOnlyUpload


class SealedUploadHandler(MemoryOnlyUpload):
    def max_bytes(self) -> int:
        return DOCUMENT_MAX_BYTES
