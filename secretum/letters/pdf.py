"""A letter or certificate as a printed page (P1, C3): the practice's header, the patient's
identity, the body, the signature area; watermarked and footed as every printed patient
document (``compliance.pdf.printed_document``), every name printed as written (``lib.pdf``:
DejaVu embedded).

The sick-leave certificate prints one of two copies. The employer's copy is built from the
dates and the outings only: the medical reason is never handed to the code that draws it, so no
option, no template change, no translation can put it on the employer's paper. The medical
adviser's copy (the health insurer's doctor) carries the reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from secretum.compliance.pdf import printed_document
from secretum.letters import kinds
from secretum.lib.pdf import FAMILY, Document
from secretum.patients.services import PatientIdentity

EMPLOYER, ADVISER = "employer", "adviser"  # the copies of a sick-leave certificate


@dataclass(frozen=True)
class Sheet:
    """What every letter prints around its body."""

    practice: str
    doctor: str
    printed_by: str
    printed_at: dt.datetime
    language: str


def _day(value: str | dt.date | None) -> str:
    if not value:
        return "-"
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
    return day.strftime("%d/%m/%Y")


def letter_pdf(
    kind: str,
    content: dict[str, str],
    patient: PatientIdentity,
    sheet: Sheet,
    *,
    copy: str = EMPLOYER,
) -> tuple[bytes, int]:
    """The letter and its number of pages. ``copy`` chooses a sick-leave certificate's copy."""
    words = kinds.WORDS[sheet.language]
    pdf = printed_document(words[kind], printed_by=sheet.printed_by, printed_at=sheet.printed_at)
    pdf.set_lang(sheet.language)
    pdf.add_page()
    pdf.paragraph(sheet.practice, size=11, style="B")
    pdf.paragraph(sheet.doctor, size=10)
    pdf.ln(4)
    if content.get("recipient"):
        pdf.paragraph(f"{words['to']}: {content['recipient']}", size=10)
        pdf.ln(2)
    pdf.paragraph(words[kind], size=15, style="B", height=8, tag="H1")
    born = _day(patient.birth_date)
    pdf.paragraph(
        f"{words['patient']}: {patient.display_name}, {words['born']} {born}"
        + (f" - {words['niss']} {patient.niss_display}" if patient.niss_display else ""),
        size=10,
    )
    pdf.ln(3)
    if kind == kinds.SICK_LEAVE:
        # C3: the employer's copy is drawn from the dates and the outings only.
        certified = {k: content.get(k, "") for k in ("start", "end", "outings")}
        reason = content.get("reason", "") if copy == ADVISER else None
        _sick_leave(pdf, words, patient, sheet, certified, reason)
    else:
        _letter(pdf, words, kind, content)
    pdf.ln(6)
    local = timezone.localtime(sheet.printed_at).date()
    pdf.paragraph(words["done"].format(date=_day(local)), size=10)
    pdf.ln(14)
    pdf.set_font(FAMILY, size=9)
    pdf.paragraph(f"{words['signature']}: {sheet.doctor}", size=9)
    return bytes(pdf.output()), pdf.pages_count


def _letter(pdf: Document, words: dict[str, str], kind: str, content: dict[str, str]) -> None:
    sections = (
        ("reason", "history", "medication", "allergies", "question")
        if kind == kinds.REFERRAL
        else ("subject", "body")
    )
    if kind == kinds.REFERRAL:
        pdf.paragraph(words["dear"], size=10)
        pdf.paragraph(words["referral_intro"], size=10)
    for name in sections:
        label = words.get(name)
        if label and name != "body":
            pdf.ln(2)
            pdf.paragraph(label, size=11, style="B", height=6, tag="H2")
        pdf.paragraph(content.get(name) or words["empty"], size=10)
    if kind == kinds.REFERRAL:
        pdf.ln(4)
        pdf.paragraph(words["regards"], size=10)


def _sick_leave(
    pdf: Document,
    words: dict[str, str],
    patient: PatientIdentity,
    sheet: Sheet,
    content: dict[str, str],
    reason: str | None,
) -> None:
    """The certificate; ``reason`` None for the employer's copy, which says it is withheld."""
    certified = words["certify"].format(
        doctor=sheet.doctor,
        patient=patient.display_name,
        born=_day(patient.birth_date),
        start=_day(content.get("start")),
        end=_day(content.get("end")),
    )
    pdf.paragraph(certified, size=10)
    pdf.paragraph(words[content.get("outings") or kinds.NOT_ALLOWED], size=10)
    pdf.ln(3)
    if reason is not None:
        pdf.paragraph(words["adviser_copy"], size=10, style="B")
        pdf.paragraph(f"{words['diagnosis']}: {reason or words['empty']}", size=10)
    else:
        pdf.paragraph(words["employer_copy"], size=10, style="B")
        pdf.paragraph(words["withheld"], size=10)
