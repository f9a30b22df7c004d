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
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.clinical.services import access_chart
from secretum.crypto import age

# The rules of every file that leaves (crypto/sealing.py), the patient's copy's as the others'.
from secretum.crypto.sealing import Delivery, Kind, Mode
from secretum.exchange import fhir, kmehr
from secretum.exchange.kmehr import export as sumehr
from secretum.lib import niss as niss_lib
from secretum.patients.services import patient_ref_for_niss

FORMAT = "fhir-r4"
FORMATS = (FORMAT, kmehr.FORMAT)  # the FHIR R4 Bundle; the KMEHR SumEHR 2.0 (issue 14)


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
