"""The text a PDF shows, read by poppler's `pdftotext` (Debian's poppler-utils), as any reader
of the document would: the test does not depend on how Secretum's PDFs encode their text."""

from __future__ import annotations

import shutil
import subprocess

PDFTOTEXT = shutil.which("pdftotext")


def pdf_text(data: bytes, *, lines: bool = False, password: str | None = None) -> str:
    """The text of every page in drawing order (``-raw``), whitespace runs folded to one space;
    ``lines``: line by line, as printed; ``password``: the user password of an encrypted PDF."""
    assert PDFTOTEXT, "pdftotext is missing: `make system-deps` installs poppler-utils"
    opened = ["-upw", password] if password is not None else []
    done = subprocess.run(
        [PDFTOTEXT, "-raw", "-enc", "UTF-8", *opened, "-", "-"],
        input=data,
        capture_output=True,
        timeout=60,
        check=True,
    )
    text = done.stdout.decode("utf-8")
    return text if lines else " ".join(text.split())


PDFINFO = shutil.which("pdfinfo")


def pdf_info(data: bytes, *options: str) -> str:
    """What poppler's ``pdfinfo`` says of the document (``-struct-text``: its structure tree
    with each element's text, what a screen reader walks)."""
    assert PDFINFO, "pdfinfo is missing: `make system-deps` installs poppler-utils"
    done = subprocess.run(
        [PDFINFO, "-enc", "UTF-8", *options, "-"],
        input=data,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return done.stdout.decode("utf-8")
