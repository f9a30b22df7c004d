"""Evidence documents are received in memory only, then sealed (E10).

Django writes an upload larger than 2.5 MB to a temporary file: a document would then lie in
clear on the server's disk. This handler keeps it in memory, and stops at the register's limit.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from secretum.compliance.documents import DOCUMENT_MAX_BYTES


class SealedUploadHandler(FileUploadHandler):
    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.buffer = BytesIO()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start + len(raw_data) > DOCUMENT_MAX_BYTES:
            raise StopUpload(connection_reset=False)  # the form then says the file is missing
        self.buffer.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )
