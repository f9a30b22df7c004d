"""The unfiled tray (D4): the scans of the intake folder whose file name named no patient, kept
sealed under the key file (documents/intake.py) until a practitioner or a nurse files each one to
its patient.

Listing the tray, viewing a scan and filing it are each a guarded call, audited: the tray's scans
are medical (their names and contents say what they are about), so only the roles that read
medical records see them, and filing one writes to the patient's record, so it needs a basis for
that patient (a care relationship, the shared record, or a break-the-glass access) like any
upload. The patient is named by national number or by reference; resolving a national number is
a search of its own, audited as one. A scan the scanner quarantined (E2) is never listed, shown
or filed: it is kept for the auditor.

Filing moves the scan: it is sealed again under the patient's data key as one of their documents
(source: the scan intake), and its tray row is deleted in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.access.guard import guarded
from secretum.access.policy import Permission
from secretum.audit.log import record_tampered
from secretum.audit.models import Action
from secretum.crypto import keyring
from secretum.crypto.fields import uid_text
from secretum.documents import services
from secretum.documents.models import Document, UnfiledDocument
from secretum.lib import clamav, niss
from secretum.patients.models import Patient
from secretum.patients.services import patient_ref_for_niss

RESOURCE = "documents.UnfiledDocument"


@dataclass(frozen=True)
class UnfiledInfo:
    uid: str
    title: str
    content_type: str
    size: int
    received_at: dt.datetime


def _title(row: UnfiledDocument) -> str:
    return keyring.open_secret(row.title, row.aad("title")).decode()


def unfiled_documents(actor: Actor) -> tuple[list[UnfiledInfo], int]:
    """The scans waiting in the tray, oldest first, and how many are quarantined (E2)."""
    with guarded(actor, Permission.CLINICAL_READ, Action.SEARCH, RESOURCE) as event:
        rows = UnfiledDocument.objects.defer("content").order_by("received_at", "id")
        listed, quarantined, altered = [], 0, 0
        for row in rows:
            if row.status != Document.Status.CLEAN:
                quarantined += 1
                continue
            try:
                title = _title(row)
            except keyring.DecryptionError:  # changed in the database: listed, named so
                altered += 1
                title = _("(name unreadable: altered outside Secretum)")
            listed.append(_info(row, title))
        event.detail["results"] = len(listed)
        if altered:
            event.detail["unreadable"] = altered
        return listed, quarantined


def _row(uid: Any, *, lock: bool = False) -> UnfiledDocument:
    rows = UnfiledDocument.objects.select_for_update() if lock else UnfiledDocument.objects
    try:
        return rows.get(uid=uid, status=Document.Status.CLEAN)
    except (UnfiledDocument.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such scan in the unfiled tray.") from None


def _info(row: UnfiledDocument, title: str) -> UnfiledInfo:
    return UnfiledInfo(uid_text(row), title, row.content_type, row.size, row.received_at)


def unfiled_document(actor: Actor, uid: Any) -> UnfiledInfo:
    """One scan of the tray, described (its name is read: audited), to file it."""
    try:
        with guarded(actor, Permission.CLINICAL_READ, Action.READ, RESOURCE, resource_ref=uid):
            row = _row(uid)
            return _info(row, _title(row))
    except keyring.DecryptionError:
        raise _tampered(uid) from None


def _content(row: UnfiledDocument) -> tuple[str, bytes]:
    """DecryptionError when the row was marked clean, given another type, or replaced outside
    Secretum: the caller reports it once the guarded call has rolled back (``_tampered``)."""
    return _title(row), keyring.open_secret(row.content, row.content_aad())


def _tampered(uid: Any) -> Http404:
    record_tampered(RESOURCE, str(uid))
    return Http404("No such scan in the unfiled tray.")


def open_unfiled(actor: Actor, uid: Any) -> services.OpenedDocument:
    """One scan of the tray, to look at before filing it: a read, audited."""
    try:
        with guarded(actor, Permission.CLINICAL_READ, Action.READ, RESOURCE, resource_ref=uid):
            row = _row(uid)
            title, data = _content(row)
    except keyring.DecryptionError:
        raise _tampered(uid) from None
    return services.OpenedDocument(title, row.content_type, data, "")


def resolve_patient(actor: Actor, given: str) -> str:
    """The reference of the patient a national number or a reference names; ValidationError
    when none does. A national number is looked up through its blind index: a search, audited."""
    given = given.strip()
    try:
        ref = str(uuid.UUID(given))
    except ValueError:
        ref = ""
    if ref:
        if Patient.objects.filter(uid=ref).exists():
            return ref
        raise ValidationError(_("No patient has this national number or reference."))
    with guarded(
        actor, Permission.PATIENT_SEARCH, Action.SEARCH, "patients.Patient",
        detail={"kind": "niss", "for": "filing a scan"},
    ) as event:  # fmt: skip
        try:
            found = patient_ref_for_niss(niss.clean(given))
        except niss.NissError as exc:
            raise ValidationError(str(exc)) from None
        event.detail["results"] = int(found is not None)
    if found is None:
        raise ValidationError(_("No patient has this national number or reference."))
    return found


def file_unfiled(actor: Actor, uid: Any, patient_ref: str) -> str:
    """File a scan of the tray to its patient's record: a document of theirs, sealed under their
    data key; the tray's row deleted in the same transaction. Returns the document's uid."""
    try:
        with guarded(
            actor, Permission.CLINICAL_WRITE, Action.CREATE, services.RESOURCE,
            patient_ref=patient_ref, detail={"source": "unfiled tray", "unfiled": str(uid)},
        ) as event:  # fmt: skip
            row = _row(uid, lock=True)
            title, data = _content(row)
            patient, key = services.writable_record(patient_ref)
            document = services.store(
                patient, key, event, title=title, kind=row.content_type, data=data,
                verdict=clamav.Verdict(clean=True), author=actor.user,
                source=Document.Source.INTAKE,
            )  # fmt: skip
            row.delete()
            event.resource_ref = uid_text(document)
    except keyring.DecryptionError:
        raise _tampered(uid) from None
    return uid_text(document)
