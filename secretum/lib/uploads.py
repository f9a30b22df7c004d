"""An upload received in memory only, then sealed by its caller (E10).

Django writes an upload larger than FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) to a temporary file in
FILE_UPLOAD_TEMP_DIR: a scan or an evidence document would then lie in clear on the server's
disk. A view that replaces the upload handlers with a subclass of this one alone keeps the file in
memory, and the upload stops past ``max_bytes()`` (``too_large`` says so, for the page's message).
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload


class MemoryOnlyUpload(FileUploadHandler):
    too_large = False

    def max_bytes(self) -> int:
        raise NotImplementedError

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.buffer = BytesIO()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start + len(raw_data) > self.max_bytes():
            self.too_large = True
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
