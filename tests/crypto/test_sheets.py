"""Recovery sheets (O2, I2): printed, kept apart, read back by a person or a phone."""

from __future__ import annotations

import io
import re
import stat
from pathlib import Path

import pytest
import segno
from django.core.management import call_command
from django.utils import translation
from PIL import Image

from secretum.crypto import custody, sheets
from secretum.init import create
from tests.crypto.test_custody import FAST, PASSPHRASE
from tests.pdf import pdf_text


@pytest.fixture(scope="module")
def key_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    return create(tmp_path_factory.mktemp("sheets") / "var").key_file.read_text()


def test_a_share_sheet_says_what_it_is_and_holds_every_line(key_text: str) -> None:
    share = custody.seal_with_shares(key_text, 2, 3)[1]
    with translation.override("en"):
        pdf = sheets.pdf(share)
    text = pdf_text(pdf, lines=True)
    assert "share 2 of 3 (2 shares are needed)" in text
    assert share.instance_id in text and share.made_at.strftime("%Y-%m-%d") in text
    assert "secretum keys recover --share FILE_1 --share FILE_2" in text
    for line in custody.lines(share):
        assert line in text
    assert b"/Subtype /Image" in pdf
    # What a person types from the printed lines is the share itself.
    typed = "\n".join(line for line in text.splitlines() if re.match(r"^\d\d/\d\d ", line))
    assert custody.from_text(typed) == share


def test_the_qr_code_holds_the_material_in_alphanumeric_mode(key_text: str) -> None:
    sealed = custody.seal_with_passphrase(key_text, PASSPHRASE, FAST)
    png = sheets.qr_png(sealed)
    image = Image.open(io.BytesIO(png))
    code = segno.make(custody.qr_text(sealed), error="m")
    assert code.mode == "alphanumeric" and code.error == "M"
    assert image.size == code.symbol_size(scale=4, border=4)
    with translation.override("en"):
        text = pdf_text(sheets.pdf(sealed))
    assert "sealed under the practice's passphrase" in text
    assert "and the passphrase" in text and "THIS_FILE" in text


def test_a_sheet_prints_its_language_as_written(key_text: str) -> None:
    """The instructions print every letter of the practice's language (no fold to Latin-1), and
    the PDF says which language it is in."""
    sealed = custody.seal_with_passphrase(key_text, PASSPHRASE, FAST)
    with translation.override("fr"):
        said = sheets.instructions(sealed)
        data = sheets.pdf(sealed)
    text = pdf_text(data)
    for line in said:
        assert " ".join(line.split()) in text
    assert b"/Lang (fr)" in data


@pytest.mark.django_db
def test_backup_writes_a_pdf_sheet_beside_each_text_file(tmp_path: Path) -> None:
    call_command("keys_backup", shares="2-of-2", out=str(tmp_path), stdout=io.StringIO())
    names = sorted(p.suffix for p in tmp_path.iterdir())
    assert names == [".pdf", ".pdf", ".txt", ".txt"]
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
