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


@pytest.fixture(scope="module")
def key_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    return create(tmp_path_factory.mktemp("sheets") / "var").key_file.read_text()


def _pdf_text(pdf: bytes) -> str:
    found = re.findall(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj", pdf)
    return "\n".join(re.sub(rb"\\(.)", rb"\1", m).decode("latin-1") for m in found)


def test_a_share_sheet_says_what_it_is_and_holds_every_line(key_text: str) -> None:
    share = custody.seal_with_shares(key_text, 2, 3)[1]
    with translation.override("en"):
        pdf = sheets.pdf(share)
    text = _pdf_text(pdf)
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
        text = _pdf_text(sheets.pdf(sealed))
    assert "sealed under the practice's passphrase" in text
    assert "and the passphrase" in text and "THIS_FILE" in text


def test_latin1_folds_what_the_built_in_fonts_lack() -> None:
    assert sheets._latin1("l’œuvre « clé » ☃") == "l'oeuvre « clé » ?"


@pytest.mark.django_db
def test_backup_writes_a_pdf_sheet_beside_each_text_file(tmp_path: Path) -> None:
    call_command("keys_backup", shares="2-of-2", out=str(tmp_path), stdout=io.StringIO())
    names = sorted(p.suffix for p in tmp_path.iterdir())
    assert names == [".pdf", ".pdf", ".txt", ".txt"]
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
