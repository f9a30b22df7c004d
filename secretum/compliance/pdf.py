"""PDF documents of the register: the signed report (L3) and printed patient summaries (P1, C3);
the PDF of the patient's copy (GDPR art. 15; L1), which leaves with its FHIR file.

Every name printed as written (``lib.pdf``: an embedded Unicode font). Streams are left
uncompressed: these documents are small, and an auditor can read them with any tool.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from secretum.clinical import medications, rules
from secretum.clinical.rules import FieldSpec
from secretum.clinical.services import Chart, problem_list
from secretum.compliance import catalogue
from secretum.crypto.sealing import Delivery
from secretum.lib.pdf import FAMILY, Document
from secretum.patients.forms import SEXES

if TYPE_CHECKING:
    from secretum.compliance.evidence import Evidence
    from secretum.compliance.register import Register
    from secretum.patients.services import PatientIdentity


def _local(at: dt.datetime) -> str:
    return timezone.localtime(at).strftime("%d/%m/%Y %H:%M")


class _Document(Document):
    watermark = ""

    def running_header(self) -> None:
        if not self.watermark:
            return
        # Drawn first on every page, so the page's content lies over it. Diagonal, light grey:
        # readable on any copy, hiding nothing of the text.
        with self.local_context(text_color=(205, 205, 205)):
            self.set_font(FAMILY, style="B", size=22)
            # Smaller if need be, so that the whole line lies on the paper (a long name).
            room = min(
                (self.w - 20) / math.cos(math.radians(35)),
                (self.h - 20) / math.sin(math.radians(35)),
            )
            width = self.get_string_width(self.watermark)
            if width > room:
                self.set_font_size(22 * room / width)
            with self.rotation(angle=35, x=self.w / 2, y=self.h / 2):
                width = self.get_string_width(self.watermark)
                self.text(self.w / 2 - width / 2, self.h / 2, self.watermark)
        self.set_xy(self.l_margin, self.t_margin)


def _new(orientation: str, title: str, paper: str | tuple[float, float] = "A4") -> _Document:
    pdf = _Document(orientation, title, paper)
    pdf.set_compression(False)
    return pdf


# --- the register report (L3) ------------------------------------------------------------------


def register_pdf(
    register: Register, *, practice: str, issued_at: dt.datetime, issued_by: str, key_id: str
) -> bytes:
    title = _("Security measures register")
    pdf = _new("landscape", title)
    pdf.footer_text = _("Secretum - %(practice)s - security measures register issued %(at)s") % {
        "practice": practice,
        "at": _local(issued_at),
    }
    pdf.add_page()
    pdf.paragraph(title, size=15, style="B", height=8, tag="H1")
    counts = register.counts
    for text in (
        practice,
        _('Checklist: "%(title)s" (%(version)s), %(n)d measures.')
        % {
            "title": catalogue.SOURCE_TITLE,
            "version": catalogue.SOURCE_VERSION,
            "n": counts["total"],
        },
        _("Hosting declared by the practice: %(hosting)s.") % {"hosting": register.hosting_label},
        _(
            "Issued %(at)s by %(who)s. Live evidence was computed at that moment from the system's "
            "own state."
        )
        % {"at": _local(issued_at), "who": issued_by},
        _(
            "Met: %(met)d. Declared by the practice: %(declared)d. Not met: %(not_met)d. Not "
            "applicable: %(na)d."
        )
        % {
            "met": counts["met"],
            "declared": counts["declared"],
            "not_met": counts["not_met"],
            "na": counts["not_applicable"],
        },
        ngettext(
            "Declarations contradicted by failing evidence, counted as not met: %(n)d.",
            "Declarations contradicted by failing evidence, counted as not met: %(n)d.",
            counts["contradicted"],
        )
        % {"n": counts["contradicted"]},
        _(
            "Live evidence reads the installation at the moment of issue; evidence by "
            "construction is a property of Secretum's code, proven by the tests it names."
        ),
        _(
            "Signed with the practice's Ed25519 report key %(key)s: check this file with "
            "'secretum compliance verify-report FILE.pdf FILE.pdf.sig --public-key KEY.pem'."
        )
        % {"key": key_id},
    ):
        pdf.paragraph(text)
    headings = (
        _("ID"), _("Measure"), _("Part"), _("Status"), _("Evidence or justification"),
        _("Last verified"),
    )  # fmt: skip
    for category, rows in register.groups:
        pdf.ln(3)
        pdf.paragraph(category.label(), size=11, style="B", height=6, tag="H2")
        pdf.set_font(FAMILY, size=8)
        with pdf.table(
            col_widths=(11, 80, 11, 31, 113, 27),
            text_align="LEFT",
            line_height=4,
            first_row_as_headings=True,
        ) as table:
            table.row(list(headings))
            for row in rows:
                said = row.reason + "".join(_proof_text(p, shown) for p, shown in row.proof_lines)
                if row.declaration is not None:
                    d = row.declaration
                    said += " " + _(
                        "Declaration v%(v)d: %(choice)s, owner %(owner)s, next review %(next)s."
                    ) % {
                        "v": d.version,
                        "choice": d.choice_label.lower(),
                        "owner": d.owner,
                        "next": d.next_review.isoformat(),
                    }
                    if d.justification and row.status != "declared":
                        said += " " + d.justification
                if row.action and row.status == "not-met":
                    said += " " + _("To do: %(action)s") % {"action": row.action}
                if row.documents:
                    said += " " + _("Documents: %(n)d.") % {"n": row.documents}
                table.row(
                    [
                        row.id,
                        row.text,
                        row.measure.parts_label,
                        row.status_label,
                        said,
                        row.last_verified.strftime("%d/%m/%Y") if row.last_verified else "-",
                    ]
                )
    return bytes(pdf.output())


def _proof_text(proof: Evidence, shown: bool) -> str:
    """One check's evidence in the report: its kind and verdict, always (issue 11)."""
    kind = _("live evidence") if proof.live else _("by construction")
    verdict = _("passes") if proof.met else _("fails")
    text = f" [{kind}: {verdict}]" + (f" {proof.summary}" if shown else "")
    if proof.details:
        text += " (" + "; ".join(proof.details[:6]) + ")"
    if not proof.live:
        text += " " + _("Tests:") + " " + ", ".join(proof.tests)
    return text


# --- printed patient documents (P1, C3) --------------------------------------------------------


def printed_document(title: str, *, printed_by: str, printed_at: dt.datetime) -> _Document:
    """A printed patient document, portrait (P1): watermarked with the user and the UTC time on
    every page, footed "confidential — destroy by shredding after use" with the same. Every
    patient document Secretum prints starts here (the summary, letters and certificates)."""
    utc = printed_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    pdf = _new("portrait", title)
    pdf.watermark = f"{printed_by} - {utc}"
    pdf.footer_text = (
        _("Confidential — destroy by shredding after use")
        + " - "
        + _("printed by %(who)s on %(at)s") % {"who": printed_by, "at": utc}
    )
    return pdf


def _identity(pdf: _Document, identity: PatientIdentity) -> None:
    """Who the document is about, as every printed patient document names them."""
    born = identity.birth_date.strftime("%d/%m/%Y") if identity.birth_date else "-"
    for text in (
        identity.display_name,
        _("Born %(born)s") % {"born": born},
        _("National number: %(niss)s") % {"niss": identity.niss_display or "-"},
        f"{identity.street} {identity.postal_code} {identity.city}".strip(),
        _("Health insurer: %(insurer)s %(number)s")
        % {"insurer": identity.insurer or "-", "number": identity.insurer_number},
    ):
        pdf.paragraph(text, size=10)


def patient_summary_pdf(
    identity: PatientIdentity,
    entries: dict[str, list[Any]],
    *,
    practice: str,
    printed_by: str,
    printed_at: dt.datetime,
    delivery: Delivery | None = None,
) -> tuple[bytes, int]:
    """The summary and its number of pages. ``entries`` is empty for an identity-only print.
    Under a passphrase, the PDF carries its own AES-256 (E7, M3)."""
    utc = printed_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    pdf = printed_document(_("Patient summary"), printed_by=printed_by, printed_at=printed_at)
    pdf.add_page()
    pdf.paragraph(practice, size=9)
    pdf.paragraph(_("Patient summary"), size=15, style="B", height=8, tag="H1")
    _identity(pdf, identity)
    sections = (
        ("allergy", _("Allergies"), lambda v: f"{v.get('substance')} - {v.get('reaction') or ''} "
         f"({v.get('severity') or ''})"),
        ("problem", _("Problems"), lambda v: f"{v.get('code')} {v.get('label')}"
         + (f" ({v.get('onset')})" if v.get("onset") else "")),
        ("medication", _("Medications"), lambda v: " - ".join(
            str(v.get(k) or "") for k in ("drug", "dose", "frequency", "duration"))),
        ("vaccination", _("Vaccinations"), lambda v: " - ".join(
            str(v.get(k) or "") for k in ("given_on", "vaccine", "lot"))),
    )  # fmt: skip
    if entries:
        for kind, heading, shown in sections:
            pdf.ln(3)
            pdf.paragraph(heading, size=12, style="B", height=7, tag="H2")
            items = entries.get(kind) or []
            if kind == "medication":  # what the patient takes now, never a stopped one
                items = medications.split_active(items, timezone.localdate())[0]
            if items:
                pdf.items(["- " + shown(item.values) for item in items])
            else:
                pdf.paragraph("-", size=10)
    pdf.ln(4)
    pdf.paragraph(_("Printed %(at)s by %(who)s.") % {"at": utc, "who": printed_by}, size=8)
    if delivery is not None:
        delivery.protect_pdf(pdf)
    data = bytes(pdf.output())
    return data, pdf.pages_count


# --- the patient's copy (GDPR art. 15; L1, E7) -------------------------------------------------

# The chart's kinds in the order a reader looks for them. Every field the FHIR copy carries
# (exchange/fhir.py) and none it leaves out: a medication's number of packages and its delivery
# date belong to its prescription (issue 15), not to the record.
_COPY_SECTIONS = (
    ("problem", gettext_lazy("Problems")),
    ("allergy", gettext_lazy("Allergies")),
    ("medication", gettext_lazy("Medications")),
    ("observation", gettext_lazy("Observations")),
    ("lab", gettext_lazy("Lab results")),
    ("vaccination", gettext_lazy("Vaccinations")),
    ("encounter", gettext_lazy("Consultation notes")),
)
_NOT_COPIED = {"medication": {"quantity", "not_before"}, "lab": {"unit"}}
_FLAGS = {"high": gettext_lazy("high"), "low": gettext_lazy("low")}
# A form's label said to its writer ("if not you") reads, for the patient, as the chart's.
_LABELS = {("vaccination", "given_by"): gettext_lazy("Given by")}


def _copied_value(spec: FieldSpec, values: dict[str, Any]) -> str:
    """One field as the patient reads it: a choice by its label, a date as a day, a measure
    with its unit (and a lab result with its flag)."""
    text = str(values[spec.name])
    if spec.choices:
        text = str(dict(spec.choices).get(text, text))
    elif spec.is_date:
        with contextlib.suppress(ValueError):
            text = dt.date.fromisoformat(text).strftime("%d/%m/%Y")
    elif spec.name == "value":
        text = " ".join(str(x) for x in (text, values.get("unit")) if x)
        if values.get("flag") in _FLAGS:
            text += f" ({_FLAGS[str(values['flag'])]})"
    return text


def _copied_entries(pdf: _Document, entries: list[Any]) -> None:
    """The entries of one kind, a list: each item says when the entry was recorded and by whom
    (in bold), then each field it holds, one a line."""
    with pdf.element("L"):
        for entry in entries:
            day = timezone.localtime(entry.recorded_at).strftime("%d/%m/%Y")
            lines = [
                f"{_LABELS.get((entry.kind, spec.name), spec.label)}: "
                + _copied_value(spec, entry.values)
                for spec in rules.SPECS[entry.kind]
                if entry.values.get(spec.name) and spec.name not in _NOT_COPIED.get(entry.kind, ())
            ]
            with pdf.element("LI"), pdf.element("LBody"):
                pdf.ln(1)
                pdf.paragraph(
                    _("%(day)s, recorded by %(author)s") % {"day": day, "author": entry.author},
                    style="B",
                )
                pdf.paragraph("\n".join(lines))


def patient_copy_pdf(
    chart: Chart, *, practice: str, made_by: str, made_at: dt.datetime, delivery: Delivery
) -> bytes:
    """The patient's copy (GDPR art. 15) as a person reads it, beside its FHIR file: the
    identity, then every current entry of the chart, each with its day and author, in the
    language of the translation active when called. It says on its first page and at the foot
    of every page that it is the patient's own copy, and, for a record altered outside
    Secretum, that it may lack entries. Not a print (P1): no watermark, no shredding footer,
    no print log; it leaves as the copy's FHIR file does (``delivery``: under a passphrase, the
    PDF's own AES-256), its one audit event the export's (exchange/services.py)."""
    title = _("The patient's copy of the medical record")
    pdf = _new("portrait", title)
    made = _local(made_at)
    pdf.footer_text = _("The patient's copy (GDPR art. 15) - %(practice)s - made %(at)s") % {
        "practice": practice,
        "at": made,
    }
    pdf.add_page()
    pdf.paragraph(practice, size=9)
    pdf.paragraph(title, size=15, style="B", height=8, tag="H1")
    pdf.paragraph(
        _(
            "The patient's own copy of the record, under article 15 of the GDPR (right of "
            "access): every entry the record holds on %(at)s, made by %(who)s. The same record "
            "comes as a FHIR R4 file, for other software."
        )
        % {"at": made, "who": made_by},
        size=9,
    )
    if chart.altered:
        pdf.paragraph(
            _(
                "This record was altered outside Secretum: this copy may lack entries or show "
                "an earlier state."
            ),
            style="B",
        )
    pdf.ln(2)
    pdf.paragraph(_("Identity"), size=12, style="B", height=7, tag="H2")
    who = chart.patient
    _identity(pdf, who)
    for label, value in (
        (_("Sex"), dict(SEXES).get(who.sex) if who.sex else None),
        (_("Phone"), who.phone),
        (_("E-mail"), who.email),
    ):  # what the FHIR Patient holds beyond the printed summary's identity
        if value:
            pdf.paragraph(f"{label}: {value}", size=10)
    for kind, heading in _COPY_SECTIONS:
        pdf.ln(3)
        pdf.paragraph(str(heading), size=12, style="B", height=7, tag="H2")
        entries = chart.entries.get(kind) or []
        if kind == "problem":  # active first, as the chart lists them
            entries = problem_list(entries)
        if entries:
            _copied_entries(pdf, entries)
        else:
            pdf.paragraph(_("None recorded."), size=10)
    delivery.protect_pdf(pdf)
    return bytes(pdf.output())
