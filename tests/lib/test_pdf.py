"""Every PDF Secretum makes prints every name as written (issue 15; P1, D2 report, L3 register):
an embedded Unicode font, never a fold to Latin-1 ("Łucja" printed as "ucja" would be another
person's name on a medical document). Read back with poppler's pdftotext, as a reader would."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation
from faker import Faker

from secretum.audit import pdf as access_pdf
from secretum.audit import services as audit_services
from secretum.compliance import printing, reports
from secretum.lib.pdf import Document
from secretum.patients import services as patients
from tests.conftest import actor_for, identity
from tests.pdf import pdf_text

# Fictitious names beyond Latin-1, as Belgian practices meet them every day.
NAMES = (
    "Łucja Pękała-Yılmaz",
    "Yıldız Çelikkaya",
    "Ştefan Ţăranu",
    "Jiří Dvořáčková",
    "Ørjan Sæterhaug",
    "Ævar Þórbergsson",
    "Zoë Vanderstraeten-D’Hondt",
    "Œnone L’Écuyer",
    "Γιώργος Παπαδόγλου",
    "Светлана Орловская",
)


def _fictitious_names() -> list[str]:
    names = list(NAMES)
    for locale in ("fr_BE", "nl_BE"):
        fake = Faker(locale)
        fake.seed_instance(2026)
        names += [fake.name() for _ in range(100)]
    return names


def test_every_fictitious_name_prints_as_written() -> None:
    names = _fictitious_names()
    pdf = Document("portrait", "Noms")
    pdf.add_page()
    for name in names:
        pdf.paragraph(name)
    text = pdf_text(bytes(pdf.output()))
    missing = [name for name in names if " ".join(name.split()) not in text]
    assert not missing


def test_a_document_declares_its_language_and_embeds_its_font() -> None:
    """/Lang read by a screen reader; the font travels with the file (any reader, any machine)."""
    with translation.override("nl"):
        pdf = Document("portrait", "Titel")
    pdf.add_page()
    pdf.paragraph("Łucja")
    data = bytes(pdf.output())
    assert b"/Lang (nl)" in data
    assert b"/FontFile2" in data and b"DejaVu" in data


@pytest.fixture
def unusual(practitioner: Any) -> Any:
    return patients.register_patient(
        actor_for(practitioner),
        identity(family_name="Pękała-Yılmaz", given_name="Łucja", city="Saint-Josse-ten-Noode"),
    )


def test_the_printed_summary_names_the_patient_as_written(
    practitioner: Any, unusual: Any, settings: Any
) -> None:
    settings.PRACTICE_NAME = "Cabinet Œnone – Ełk"
    printed = printing.print_patient_summary(actor_for(practitioner), unusual.uid)
    text = pdf_text(printed.data)
    assert "Łucja" in text and "PĘKAŁA-YILMAZ" in text.upper()
    assert "Cabinet Œnone – Ełk" in text


def test_the_access_report_names_the_patient_as_written(auditor: Any, unusual: Any) -> None:
    report = audit_services.patient_access_report(actor_for(auditor), unusual.uid)
    text = pdf_text(access_pdf.report_pdf(report, "Cabinet Œnone – Ełk"))
    assert "PĘKAŁA-YILMAZ Łucja" in text
    assert "Cabinet Œnone – Ełk" in text


def test_the_register_report_names_the_practice_as_written(manager: Any, settings: Any) -> None:
    settings.PRACTICE_NAME = "Cabinet Œnone – Ełk"
    issued = reports.issue_report(actor_for(manager))
    text = pdf_text(reports.report_file(actor_for(manager), issued.uid, "pdf").data)
    assert "Cabinet Œnone – Ełk" in text


def test_the_fonts_travel_with_a_production_install() -> None:
    """`pip install .` installs the package data its patterns name: the fonts must be among it."""
    import tomllib
    from pathlib import Path

    import secretum.lib.pdf

    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["*"]
    package = Path(secretum.lib.pdf.__file__).parent
    shipped = {path for pattern in patterns for path in package.glob(pattern)}
    assert {package / "fonts/DejaVuSans.ttf", package / "fonts/DejaVuSans-Bold.ttf"} <= shipped


def test_an_unnamed_practice_prints_in_the_readers_language(
    practitioner: Any, unusual: Any, settings: Any
) -> None:
    """Issue 16: no name configured: the summary names "Medische praktijk" in Dutch, not the
    French default in every language."""
    settings.PRACTICE_NAME = ""
    with translation.override("nl"):
        printed = printing.print_patient_summary(actor_for(practitioner), unusual.uid)
    assert "Medische praktijk" in pdf_text(printed.data)
