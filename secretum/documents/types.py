"""The types of document Secretum keeps (D4), told by their content's first bytes, never by the
file's name or the type the browser claims."""

from __future__ import annotations

# (magic bytes at the start, type, extension); PDF, PNG and JPEG only: what a browser shows
# itself, what scanners and letters come as.
SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
)
ALLOWED = frozenset(kind for _magic, kind, _ext in SIGNATURES)
# A message received from another package in an exchange format Secretum reads (a KMEHR SumEHR,
# exchange/kmehr): kept as it came when part of it was not understood, never uploaded by hand,
# never shown in the browser (downloaded only, not in ALLOWED).
XML = "application/xml"
EXTENSIONS = {**{kind: ext for _magic, kind, ext in SIGNATURES}, XML: "xml"}


def detect(data: bytes) -> str | None:
    """The type of ``data`` from its magic bytes, or None when it is none of the allowed ones."""
    for magic, kind, _ext in SIGNATURES:
        if data.startswith(magic):
            return kind
    return None
