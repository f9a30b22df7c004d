"""Every PDF Secretum makes is tagged (issue 16; EN 301 549 clause 10): read back with poppler
(``pdfinfo``, ``pdfinfo -struct-text``, ``pdftotext``), as assistive technology reads it: marked,
in its language, titled, with headings, and every word printed on the page reachable through the
structure tree (running footers and watermarks are pagination artifacts, and only they are
left out). Each kind of PDF: the access report (D2), the register report (L3), the printed
patient summary (P1, C3) and the recovery sheets (O2, I2), in French and in Dutch."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils import translation

from secretum.audit import pdf as access_pdf
from secretum.audit import services as audit_services
from secretum.clinical import services as clinical
from secretum.compliance import printing, reports
from secretum.crypto import custody, sheets
from secretum.init import create
from secretum.lib.pdf import Document
from tests.conftest import actor_for
from tests.crypto.test_custody import FAST, PASSPHRASE
from tests.pdf import pdf_info, pdf_text

LANGUAGES = ("fr", "nl")


@pytest.fixture
def artifacts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The text each document made draws as artifacts (its footer, its watermark)."""
    drawn: list[str] = []
    output = Document.output

    def recording(self: Document, *args: Any, **kwargs: Any) -> Any:
        drawn.extend([self.footer_text, getattr(self, "watermark", "")])
        return output(self, *args, **kwargs)

    monkeypatch.setattr(Document, "output", recording)
    yield drawn


def _struct_words(struct: str) -> set[str]:
    quoted = re.findall(r'^\s*"(.*)"\s*$', struct, flags=re.MULTILINE)
    return {word for text in quoted for word in text.split()}


def assert_tagged(data: bytes, language: str, artifacts: list[str], headings: set[str]) -> str:
    """The checks every PDF passes; the structure text, for more."""
    info = pdf_info(data)
    assert re.search(r"^Tagged:\s+yes$", info, flags=re.MULTILINE)
    assert re.search(r"^Title:\s+\S", info, flags=re.MULTILINE)
    assert f"/Lang ({language})".encode() in data
    assert b"/MarkInfo <</Marked true>>" in data
    assert b"/DisplayDocTitle true" in data
    struct = pdf_info(data, "-struct-text")
    assert struct.startswith("Document\n")
    shown = {line.split()[0].rstrip(":") for line in struct.splitlines() if line.strip()}
    assert headings <= shown
    # Every word on the pages is in the structure tree, but the artifacts' (and page numbers).
    printed = set(pdf_text(data).split())
    allowed = {word for text in artifacts for word in text.split()} | {"-"}
    missing = {
        word
        for word in printed - _struct_words(struct) - allowed
        if not re.fullmatch(r"\d+/\d+", word)
    }
    assert not missing
    return struct


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_access_report_is_tagged(
    auditor: Any, patient: Any, language: str, artifacts: list[str]
) -> None:
    with translation.override(language):
        report = audit_services.patient_access_report(actor_for(auditor), patient.uid)
        data = access_pdf.report_pdf(report, "Cabinet Ełk")
    struct = assert_tagged(data, language, artifacts, {"H1", "P", "Table", "TR", "TH", "TD"})
    assert "/Scope /Column" in struct  # each heading labels its column


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_register_report_is_tagged(
    manager: Any, language: str, artifacts: list[str], settings: Any
) -> None:
    settings.PRACTICE_NAME = "Cabinet Œnone – Ełk"
    with translation.override(language):
        issued = reports.issue_report(actor_for(manager))
        data = reports.report_file(actor_for(manager), issued.uid, "pdf").data
    assert int(re.findall(r"^Pages:\s+(\d+)$", pdf_info(data), flags=re.MULTILINE)[0]) > 1
    struct = assert_tagged(data, language, artifacts, {"H1", "H2", "Table", "TH", "TD"})
    # Several pages, one table per category: headings repeated on a new page are read once.
    assert struct.count("TH:") == 6 * struct.count("Table (block)")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_printed_summary_is_tagged(
    practitioner: Any, patient: Any, language: str, artifacts: list[str]
) -> None:
    actor = actor_for(practitioner)
    clinical.record_entry(
        actor, patient.uid, "allergy", {"substance": "Pénicilline", "severity": "severe"}
    )
    clinical.record_entry(
        actor, patient.uid, "problem", {"system": "icpc-2", "code": "K86", "label": "Hypertension"}
    )
    with translation.override(language):
        data = printing.print_patient_summary(actor, patient.uid).data
    struct = assert_tagged(data, language, artifacts, {"H1", "H2", "L", "LI", "LBody"})
    assert "Pénicilline" in struct and "Hypertension" in struct


@pytest.fixture(scope="module")
def key_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    return create(tmp_path_factory.mktemp("tags") / "var").key_file.read_text()


MATERIALS: dict[str, Callable[[str], custody.Material]] = {
    "passphrase": lambda key: custody.seal_with_passphrase(key, PASSPHRASE, FAST),
    "share": lambda key: custody.seal_with_shares(key, 2, 3)[0],
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", sorted(MATERIALS))
def test_a_recovery_sheet_is_tagged(
    key_text: str, kind: str, language: str, artifacts: list[str]
) -> None:
    material = MATERIALS[kind](key_text)
    with translation.override(language):
        data = sheets.pdf(material)
        alt = sheets.qr_alt()
    struct = assert_tagged(data, language, artifacts, {"H1", "P", "L", "LI", "Figure"})
    for line in custody.lines(material):
        assert line in struct
    # The QR code is a figure with its text alternative, in the sheet's language.
    assert _figure_alternatives(data) == [alt]


def _figure_alternatives(data: bytes) -> list[str]:
    """The /Alt of each Figure element (poppler's -struct-text does not print it)."""
    found = []
    for element in re.findall(rb"<<\n((?:(?!>>\nendobj).)*?/S /Figure\n.*?)>>\nendobj", data, re.S):
        said = re.search(rb"/Alt (<[0-9a-f]+>|\((?:[^()\\]|\\.)*\))", element)
        assert said, "a figure without a text alternative"
        raw = said.group(1)
        if raw.startswith(b"<"):
            found.append(bytes.fromhex(raw[1:-1].decode()).decode("utf-16"))
        else:
            found.append(re.sub(r"\\(.)", r"\1", raw[1:-1].decode("latin-1")))
    return found
