"""Documents are received in memory only, then sealed (D4, E10): ``lib.uploads``, up to
SECRETUM_DOCUMENT_MAX_BYTES."""

from __future__ import annotations

from django.conf import settings

from secretum.lib.uploads import MemoryOnlyUpload


class MemoryOnlyUploadHandler(MemoryOnlyUpload):
    def max_bytes(self) -> int:
        return int(settings.SECRETUM_DOCUMENT_MAX_BYTES)
