"""A printed prescription (issue 15; P1, C3): the layout of the Belgian paper prescription,
"Prescription de médicaments / Voorschrift voor geneesmiddelen", on A5.

Top to bottom, as on the official form: the prescriber's name and RIZIV/INAMI number, the
patient's name (and national number when the prescriber asks), "R/" and the product with its
posology, the date and the prescriber's signature, the area for the stamp, and "date de
délivrance à partir de / datum van aflevering vanaf". The form's own labels are bilingual FR/NL
whatever the user's language, as the paper form is; the rest follows the user's language.
Watermarked with the user and the time and footed "confidential" like every print
(compliance/pdf.py); every name printed as written (lib/pdf.py's embedded font).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.clinical.medications import ROUTES, riziv_display
from secretum.compliance.pdf import _Document
from secretum.lib.pdf import FAMILY

if TYPE_CHECKING:
    from secretum.clinical.prescriptions import Prescription

TITLE = "PRESCRIPTION DE MÉDICAMENTS / VOORSCHRIFT VOOR GENEESMIDDELEN"
PRESCRIBER = "Nom et prénom du prescripteur / Naam en voornaam van de voorschrijver"
RIZIV = "N° INAMI / RIZIV-nr."
PATIENT = "Nom et prénom du bénéficiaire / Naam en voornaam van de rechthebbende"
NISS = "NISS / INSZ"
SIGNATURE = "Date et signature du prescripteur / Datum en handtekening van de voorschrijver"
STAMP = "Cachet du prescripteur / Stempel van de voorschrijver"
NOT_BEFORE = "Date de délivrance à partir de / Datum van aflevering vanaf"
A5 = (148.0, 210.0)  # mm, ISO 216 (fpdf2's "A5" name warns of a past correction at each use)


class _Prescription(_Document):
    """The footer wraps: on A5 the "confidential" line and who printed it take two lines."""

    def footer(self) -> None:
        with self.artifact():
            self.set_y(-15)
            self.set_font(FAMILY, size=6)
            self.set_text_color(90, 100, 110)
            self.multi_cell(0, 3, f"{self.footer_text} - {self.page_no()}/{{nb}}", align="C")


def _day(iso: str | None) -> str:
    return dt.date.fromisoformat(iso).strftime("%d/%m/%Y") if iso else ""


def posology(values: dict[str, str | None]) -> list[str]:
    """The prescription's lines for one product: the product (strength, CNK), the number of
    packages, then the posology (dose, frequency, route, duration)."""
    product = " ".join(v for v in (values.get("drug"), values.get("strength")) if v)
    codes = ", ".join(
        f"{name} {values[key]}" for key, name in (("cnk", "CNK"), ("atc", "ATC")) if values.get(key)
    )
    lines = [product + (f" ({codes})" if codes else "")]
    if values.get("quantity"):
        lines.append(_("Packages: %(n)s") % {"n": values["quantity"]})
    route = dict(ROUTES).get(values.get("route") or "")
    dosage = [values.get("dose"), values.get("frequency"), str(route) if route else None]
    lines.append(" - ".join(v for v in dosage if v))
    if values.get("duration"):
        lines.append(_("Duration: %(duration)s") % {"duration": values["duration"]})
    if values.get("stop"):
        lines.append(_("Until %(day)s (excluded)") % {"day": _day(values["stop"])})
    return lines


def prescription_pdf(
    prescription: Prescription,
    *,
    practice: str,
    printed_by: str,
    printed_at: dt.datetime,
    with_niss: bool,
) -> tuple[bytes, int]:
    """The prescription and its number of pages."""
    utc = printed_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    pdf = _Prescription("portrait", TITLE, A5)
    pdf.set_compression(False)
    pdf.set_margins(10, 10, 10)
    pdf.watermark = f"{printed_by} - {utc}"
    pdf.footer_text = (
        _("Confidential — destroy by shredding after use")
        + " - "
        + _("printed by %(who)s on %(at)s") % {"who": printed_by, "at": utc}
    )
    pdf.add_page()
    pdf.paragraph(practice, size=8)
    pdf.paragraph(TITLE, size=11, style="B", height=6, tag="H1")
    patient = prescription.patient
    values = prescription.medication.values
    for label, text in (
        (PRESCRIBER, prescription.prescriber),
        (RIZIV, riziv_display(prescription.riziv)),
        (PATIENT, patient.display_name),
        *(((NISS, patient.niss_display or "-"),) if with_niss else ()),
    ):
        pdf.paragraph(label, size=7)
        pdf.paragraph(text, size=10, style="B")
    pdf.ln(3)
    pdf.paragraph("R/", size=14, style="B", height=7)
    pdf.items(posology(values), size=10)
    pdf.ln(4)
    today = timezone.localtime(printed_at).strftime("%d/%m/%Y")
    pdf.paragraph(SIGNATURE, size=7)
    pdf.paragraph(today, size=10)
    pdf.ln(14)  # room to sign
    pdf.paragraph(STAMP, size=7)
    top = pdf.get_y()
    with pdf.artifact():  # the stamp's frame is drawn for the page, not read
        pdf.set_draw_color(150, 150, 150)
        pdf.rect(pdf.l_margin, top, pdf.w - pdf.l_margin - pdf.r_margin, 24)
    pdf.set_y(top + 27)
    pdf.paragraph(NOT_BEFORE, size=7)
    pdf.paragraph(_day(values.get("not_before")) or today, size=10, style="B")
    pdf.set_font(FAMILY, size=10)
    data = bytes(pdf.output())
    return data, pdf.pages_count
