"""A patient's record leaving Secretum (L1, L2; GDPR art. 15/20), encrypted by default (E7, M3).

The record is read through the chart's own service (``clinical.services.access_chart``), so the
gate decides as for the chart (the permission to export, a care relationship or a
break-the-glass access) and the audit log holds one "export" event naming what left: the
format, the encryption and its recipient type, the number of entries of each kind, and, for a
plain copy, its reason. A generated passphrase is returned to the caller to be shown once: it is
never stored, logged or written into the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.clinical.services import access_chart
from secretum.compliance.people import display_name
from secretum.crypto import age

# The rules of every file that leaves (crypto/sealing.py), the patient's copy's as the others'.
from secretum.crypto.sealing import PDF_TYPE, Delivery, Kind, Mode, Sealed
from secretum.exchange import fhir, kmehr
from secretum.exchange.kmehr import export as sumehr
from secretum.lib import niss as niss_lib
from secretum.lib.practice import practice_name
from secretum.patients.services import patient_ref_for_niss

FORMAT = "fhir-r4"
FORMATS = (FORMAT, kmehr.FORMAT)  # the FHIR R4 Bundle; the KMEHR SumEHR 2.0 (issue 14)
# The patient's copy from the chart: the FHIR R4 Bundle and the same record as a PDF.
COPY_FORMAT = f"{FORMAT}+pdf"
FHIR_TYPE = "application/fhir+json"


@dataclass(frozen=True)
class Exported:
    written: int  # bytes
    encryption: str  # age-scrypt, age-x25519, none
    passphrase: str | None  # generated: to be shown once, never kept
    entries: dict[str, int]
    # The record was altered outside Secretum (as the chart says it, patients/integrity.py): the
    # copy may lack entries or show an earlier state; whoever hands it out must know.
    altered: bool = False


def patient_for_niss(number: str) -> str:
    """The reference of the patient with this national number, or ValidationError."""
    try:
        found = patient_ref_for_niss(niss_lib.clean(number))
    except niss_lib.NissError as exc:
        raise ValidationError(str(exc)) from None
    if found is None:
        raise ValidationError(_("No patient has this national number."))
    return found


def export_patient(
    actor: Actor,
    patient_uid: Any,
    out: BinaryIO,
    *,
    recipient: str = "",
    plain_reason: str | None = None,
    detail: dict[str, Any] | None = None,
    format: str = FORMAT,
) -> Exported:
    """Write the patient's record to ``out`` as a FHIR R4 Bundle, or with ``format`` kmehr.FORMAT
    as a KMEHR SumEHR (its summary: problems, allergies, medications, vaccines): encrypted for
    ``recipient`` (an age public key) when given, else under a new passphrase returned once; in
    clear only with ``plain_reason`` (10-200 characters), which the audit event records."""
    if format not in FORMATS:
        raise ValidationError(_("Unknown export format."))
    delivery = Delivery.choose(recipient=recipient, plain_reason=plain_reason)
    what = {**(detail or {}), "format": format, **delivery.audit_detail(Kind.JSON)}
    chart = access_chart(actor, patient_uid, export=what)
    entries = {kind: len(rows) for kind, rows in chart.entries.items()}
    if format == kmehr.FORMAT:
        if not chart.patient.niss:  # a KMEHR patient is named by the national number
            raise ValidationError(_("A SumEHR needs the patient's national number (INSS)."))
        xml, entries = sumehr.message(
            chart, timezone.now(), practice=settings.PRACTICE_NAME, author=actor.user,
            recipient="", lang=(get_language() or settings.LANGUAGE_CODE)[:2],
        )  # fmt: skip
        pieces: Any = iter([xml])
    else:
        pieces = fhir.bundle_json(chart, timezone.now())
    if delivery.mode is Mode.PLAIN:
        written = sum(out.write(piece) for piece in pieces)
    else:
        written = age.encrypt(pieces, out, delivery.target)
    encryption = delivery.encryption(Kind.JSON)
    return Exported(written, encryption, delivery.passphrase or None, entries, chart.altered)


@dataclass(frozen=True)
class PatientCopy:
    """The patient's copy as it leaves: the FHIR file and the PDF, sealed by one delivery."""

    fhir: Sealed
    pdf: Sealed
    delivery: Delivery  # under a passphrase, the one that opens both: to be shown once
    entries: dict[str, int]
    altered: bool = False  # as ``Exported.altered``: whoever hands it out must know


def _left_as(delivery: Delivery, kind: Kind, filename: str) -> str:
    """The name ``delivery.seal`` gives the file: an age file ends in ``.age``."""
    return f"{filename}.age" if delivery.encryption(kind).startswith("age-") else filename


def patient_copy(
    actor: Actor, patient_uid: Any, delivery: Delivery, *, language: str
) -> PatientCopy:
    """The patient's copy (GDPR art. 15/20; L1, E7, M3): the record as a FHIR R4 Bundle, for
    other software, and as a PDF a person reads (``compliance.pdf.patient_copy_pdf``, in
    ``language``), both sealed by the same ``delivery``. Under a passphrase the PDF carries its
    own AES-256 and the Bundle is an age file, both under that one passphrase, which the patient
    receives by another channel; for an age key both are age files (``.pdf.age``); in clear,
    both, for the reason given. One read of the chart, so one "export" event for the two files,
    its detail naming each with its format and protection, the copy's encryption (the register's
    E7 counts one copy), never the passphrase; the gate is the chart's (``access_chart``)."""
    stem = f"patient-{timezone.localdate():%Y%m%d}-{str(patient_uid)[:8]}"
    names = {Kind.JSON: f"{stem}.fhir.json", Kind.PDF: f"{stem}.pdf"}
    files = [
        {"file": _left_as(delivery, kind, names[kind]), "format": form,
         "protection": delivery.encryption(kind)}
        for kind, form in ((Kind.JSON, FORMAT), (Kind.PDF, "pdf"))
    ]  # fmt: skip
    what = {
        "for": "patient's copy", "format": COPY_FORMAT, "files": files, "language": language,
        **delivery.audit_detail(Kind.JSON),
    }  # fmt: skip
    chart = access_chart(actor, patient_uid, export=what)
    now = timezone.now()
    bundle = delivery.seal(fhir.bundle_json(chart, now), names[Kind.JSON], FHIR_TYPE)
    from secretum.compliance import pdf  # fpdf, only when a PDF is made (see audit.views)

    with translation.override(language):
        document = pdf.patient_copy_pdf(
            chart, practice=practice_name(), made_by=display_name(actor.user), made_at=now,
            delivery=delivery,
        )  # fmt: skip
    printed = delivery.seal(document, names[Kind.PDF], PDF_TYPE)
    entries = {kind: len(rows) for kind, rows in chart.entries.items()}
    return PatientCopy(bundle, printed, delivery, entries, chart.altered)
