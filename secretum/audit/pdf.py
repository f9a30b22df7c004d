"""The patient access report as a PDF (GDPR art. 15), with fpdf2 and its built-in fonts.

Built-in PDF fonts cover Latin-1 only: other characters are folded to their closest Latin-1
form (``Ł`` to ``L``, a dash to ``-``), so the file never depends on fonts installed on the
server.
"""

from __future__ import annotations

import unicodedata

from django.utils import timezone
from django.utils.translation import gettext as _
from fpdf import FPDF

from secretum.audit.services import AccessReport

_TYPOGRAPHY = str.maketrans(
    {
        "—": "-",
        "–": "-",
        "’": "'",
        "‘": "'",
        "“": '"',
        "”": '"',
        "…": "...",
        "œ": "oe",
        "Œ": "OE",
        "€": "EUR",
        "\u202f": " ",
        "\u00a0": " ",
    }
)


def latin1(text: str) -> str:
    text = str(text).translate(_TYPOGRAPHY)
    if all(ord(c) < 256 for c in text):
        return text
    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded if ord(c) < 256 and not unicodedata.combining(c))


class _Document(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=7)
        self.set_text_color(90, 100, 110)
        self.cell(0, 5, latin1(f"{self.footer_text} - {self.page_no()}/{{nb}}"), align="C")


def report_pdf(report: AccessReport, practice: str) -> bytes:
    pdf = _Document(orientation="landscape", format="A4")
    pdf.set_title(latin1(_("Access report")))
    pdf.set_creator("Secretum")
    pdf.footer_text = _("Secretum access report, generated %(at)s") % {
        "at": timezone.localtime(report.generated_at).strftime("%d/%m/%Y %H:%M")
    }
    pdf.set_margins(12, 12, 12)
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=15)
    pdf.cell(0, 8, latin1(_("Who accessed this patient's record")), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
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
        pdf.multi_cell(0, 5, latin1(line), new_x="LMARGIN", new_y="NEXT")
    if report.checkpoint_at:
        pdf.multi_cell(
            0,
            5,
            latin1(
                _("Latest signed checkpoint of the log: %(n)d events, signed %(at)s.")
                % {
                    "n": report.checkpoint_size,
                    "at": timezone.localtime(report.checkpoint_at).strftime("%d/%m/%Y %H:%M"),
                }
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.ln(3)
    pdf.set_font("Helvetica", size=8)
    headings = (_("Date and time"), _("Who"), _("Role"), _("What"), _("Why"), _("Outcome"))
    with pdf.table(
        col_widths=(28, 45, 30, 80, 70, 20),
        text_align="LEFT",
        line_height=4.5,
        first_row_as_headings=True,
    ) as table:
        table.row([latin1(h) for h in headings])
        for item in report.lines:
            why = item.why + (f": {item.reason}" if item.reason else "")
            table.row(
                [
                    timezone.localtime(item.at).strftime("%d/%m/%Y %H:%M:%S"),
                    latin1(item.who + (" (!)" if item.mismatch else "")),
                    latin1(item.role),
                    latin1(item.what),
                    latin1(why),
                    latin1(item.outcome),
                ]
            )
    return bytes(pdf.output())
