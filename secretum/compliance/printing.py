"""Printed patient documents (P1, C3): a patient summary, and a prescription (issue 15), to
print, holding medical data only for the roles that may read it, footed "confidential —
destroy by shredding after use" and watermarked with the user and the time. Every print leaves
a print log row and its audit event, in the same transaction; the register's P1 and C3 evidence
reads them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from secretum.access import relationships
from secretum.access.actor import AccessDenied, Actor
from secretum.access.guard import guarded
from secretum.access.policy import Permission
from secretum.audit.models import Action
from secretum.clinical import prescriptions
from secretum.clinical import services as clinical
from secretum.clinical.services import _entry_patient_ref
from secretum.compliance.models import PrintLog
from secretum.compliance.people import acting_user, display_name
from secretum.crypto.sealing import PAPER, Delivery, Kind
from secretum.lib.practice import practice_name
from secretum.patients import services as patients


@dataclass(frozen=True)
class PrintedDocument:
    filename: str
    data: bytes


def print_patient_summary(
    actor: Actor, patient_uid: Any, *, delivery: Delivery | None = None
) -> PrintedDocument:
    """A patient summary to print: the identity, and for those who may read medical data the
    current problems, allergies and medications (C3). Footed "confidential — destroy by
    shredding after use" and watermarked with the user and the time (P1). Logged: one print
    event naming the print log row, in the same transaction, and how the PDF leaves
    (``delivery``, E7, M3: its encryption, never the passphrase)."""
    # C1, C3: medical data only for a role that reads them, on a basis for this patient (a care
    # relationship, the shared record, a break-the-glass access); the identity otherwise.
    medical = actor.may(Permission.CLINICAL_READ) and (
        actor.user is None or relationships.basis_for(actor.user, patient_uid) is not None
    )
    scope = PrintLog.Scope.MEDICAL if medical else PrintLog.Scope.IDENTITY
    with guarded(
        actor,
        Permission.PATIENT_IDENTITY_READ,
        Action.PRINT,
        "clinical.Chart" if medical else "patients.Patient",
        patient_ref=patient_uid,
        detail={
            "document": "patient-summary",
            "scope": str(scope),
            **(delivery.audit_detail(Kind.PDF) if delivery else {}),
        },
    ) as event:
        if acting_user(actor) is None:
            raise AccessDenied("a print is made by a person")
        if medical:
            chart = clinical.access_chart(actor, patient_uid)
            identity, entries = chart.patient, chart.entries
        else:
            identity, entries = patients.access_patient(actor, patient_uid), {}
        now = timezone.now()
        from secretum.compliance import pdf  # fpdf, only when printing (see audit.views)

        data, pages = pdf.patient_summary_pdf(
            identity,
            entries,
            practice=practice_name(),
            printed_by=f"{display_name(actor.user)} ({actor.user.username})",
            printed_at=now,
            delivery=delivery,
        )
        log = PrintLog.objects.create(
            printed_at=now,
            user=actor.user,
            role=str(actor.role or ""),
            patient_ref=str(identity.uid),
            document="patient-summary",
            scope=scope,
            pages=pages,
        )
        event.resource_ref = str(log.uid)
        event.detail["pages"] = pages
        return PrintedDocument(f"patient-summary-{now:%Y%m%d-%H%M}.pdf", data)


def print_prescription(actor: Actor, medication_uid: Any, *, with_niss: bool) -> PrintedDocument:
    """A medication printed as a prescription (issue 15) on the Belgian paper layout, by a
    practitioner with a RIZIV/INAMI number (refused otherwise, with a clear message), on a
    basis for this patient (C1). Footed and watermarked (P1); logged like the summary: one
    print event naming the print log row, in the same transaction. ``with_niss``: print the
    patient's national number (the prescriber's choice, recorded in the event)."""
    with guarded(
        actor,
        Permission.CLINICAL_SIGN,
        Action.PRINT,
        "clinical.Medication",
        patient_ref=_entry_patient_ref("medication", medication_uid),
        detail={"document": "prescription", "scope": str(PrintLog.Scope.MEDICAL), **PAPER},
    ) as event:
        if acting_user(actor) is None:
            raise AccessDenied("a print is made by a person")
        prescription = prescriptions.access_prescription(actor, medication_uid)
        now = timezone.now()
        from secretum.compliance import prescription_pdf  # fpdf, only when printing

        data, pages = prescription_pdf.prescription_pdf(
            prescription,
            practice=practice_name(),
            printed_by=f"{display_name(actor.user)} ({actor.user.username})",
            printed_at=now,
            with_niss=with_niss,
        )
        log = PrintLog.objects.create(
            printed_at=now,
            user=actor.user,
            role=str(actor.role or ""),
            patient_ref=prescription.patient.uid,
            document="prescription",
            scope=PrintLog.Scope.MEDICAL,
            pages=pages,
        )
        event.resource_ref = str(log.uid)
        event.detail.update({"pages": pages, "medication": str(medication_uid), "niss": with_niss})
        return PrintedDocument(f"prescription-{now:%Y%m%d-%H%M}.pdf", data)
