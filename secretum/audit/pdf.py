"""The patient access report as a PDF (GDPR art. 15), every name printed as written
(``lib.pdf``: an embedded Unicode font)."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.audit.services import AccessReport
from secretum.crypto.sealing import Delivery
from secretum.lib.pdf import FAMILY, Document


def report_pdf(report: AccessReport, practice: str, delivery: Delivery | None = None) -> bytes:
    """The report; under a passphrase, with the PDF's own AES-256 (E7, M3)."""
    pdf = Document("landscape", _("Access report"))
    pdf.footer_text = _("Secretum access report, generated %(at)s") % {
        "at": timezone.localtime(report.generated_at).strftime("%d/%m/%Y %H:%M")
    }
    pdf.add_page()
    pdf.paragraph(_("Who accessed this patient's record"), size=15, style="B", height=8, tag="H1")
    pdf.set_font(FAMILY, size=10)
    born = report.birth_date.strftime("%d/%m/%Y") if report.birth_date else "-"
    for line in (
        practice,
        _("Patient: %(name)s, born %(born)s") % {"name": report.patient_name, "born": born},
        _("Internal reference: %(ref)s") % {"ref": report.patient_ref},
        _(
            "Every access to this record is listed below, from Secretum's tamper-evident audit "
            "log (%(n)d events). The log holds who, when, what and why, never the medical content."
        )
        % {"n": len(report.lines)},
    ):
        pdf.paragraph(line)
    if report.checkpoint_at:
        pdf.paragraph(
            _("Latest signed checkpoint of the log: %(n)d events, signed %(at)s.")
            % {
                "n": report.checkpoint_size,
                "at": timezone.localtime(report.checkpoint_at).strftime("%d/%m/%Y %H:%M"),
            }
        )
    pdf.ln(3)
    pdf.set_font(FAMILY, size=8)
    headings = (_("Date and time"), _("Who"), _("Role"), _("What"), _("Why"), _("Outcome"))
    with pdf.table(
        col_widths=(28, 45, 30, 80, 70, 20),
        text_align="LEFT",
        line_height=4.5,
        first_row_as_headings=True,
    ) as table:
        table.row(list(headings))
        for item in report.lines:
            why = item.why + (f": {item.reason}" if item.reason else "")
            table.row(
                [
                    timezone.localtime(item.at).strftime("%d/%m/%Y %H:%M:%S"),
                    item.who + (" (!)" if item.mismatch else ""),
                    item.role,
                    item.what,
                    why,
                    item.outcome,
                ]
            )
    if delivery is not None:
        delivery.protect_pdf(pdf)
    return bytes(pdf.output())
