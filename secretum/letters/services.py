"""All reads and writes of letters and certificates (issue 15; P1, C1, C3, N2): the patient's
practitioners only, on a basis for the patient (CLINICAL_READ, CLINICAL_WRITE through the gate),
audited, sealed.

A letter is made a draft, filled from the chart where its kind says so (a referral letter: the
problems, the current medication, the allergies), edited, then finalised; a finalised letter is
kept, never edited: ``correct_letter`` starts a new draft that supersedes it once finalised.
Only a finalised letter is printed (``print_letter``: one "print" event naming its print log
row, as ``compliance.printing.print_patient_summary``) or handed to a sending path
(``letter_document``).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import AccessDenied, Actor
from secretum.access.fields import FieldReader
from secretum.access.guard import guarded
from secretum.access.policy import Permission
from secretum.audit.log import record_tampered
from secretum.audit.models import Action
from secretum.clinical import medications
from secretum.clinical import services as clinical
from secretum.compliance.models import PrintLog
from secretum.compliance.people import acting_user, display_name
from secretum.crypto.sealing import PAPER
from secretum.letters import integrity, kinds, pdf
from secretum.letters.models import Letter
from secretum.lib.practice import practice_name
from secretum.patients import integrity as records
from secretum.patients.models import Patient
from secretum.patients.services import (
    PatientIdentity,
    open_patient,
    reveal_identity,
    writable_patient,
)

RESOURCE = "letters.Letter"
# The print log's name of each kind (P1): a certificate is told apart from a letter.
DOCUMENT = {kinds.REFERRAL: "letter", kinds.REPORT: "letter", kinds.SICK_LEAVE: "certificate"}


@dataclass(frozen=True)
class LetterInfo:
    """A letter as the patient's list shows it: nothing of what it says."""

    uid: str
    kind: str
    language: str
    status: str
    recorded_at: dt.datetime
    author: str
    current: bool  # not superseded by a finalised correction
    corrects: bool  # this version corrects an earlier one


@dataclass(frozen=True)
class LetterView:
    info: LetterInfo
    patient: PatientIdentity
    content: dict[str, str]
    altered: bool = False  # the row no longer matches its seal: shown, never hidden


@dataclass(frozen=True)
class PrintedLetter:
    filename: str
    data: bytes
    patient_uid: str


def _info(row: Letter) -> LetterInfo:
    return LetterInfo(
        uid=str(row.uid),
        kind=row.kind,
        language=row.language,
        status=row.status,
        recorded_at=row.recorded_at,
        author=str(row.author),
        current=row.superseded_at is None,
        corrects=row.supersedes_id is not None,
    )


def _content(row: Letter, reader: FieldReader) -> dict[str, str]:
    text = reader.open(row, "content")
    return dict(json.loads(text)) if text else {}


def _patient_ref(uid: Any) -> str:
    """The patient of a letter, for the audit event of a call that may yet be refused."""
    try:
        uuid.UUID(str(uid))
    except ValueError:
        return ""
    found = Letter.objects.filter(uid=uid).values_list("patient__uid", flat=True).first()
    return str(found or "")


def _writable(patient_uid: Any) -> tuple[Patient, Any]:
    """The patient, locked for this write, whose entries are still as Secretum last wrote them:
    a letter sealed over an altered set would launder the alteration."""
    patient, key = writable_patient(patient_uid)
    if not records.entries_intact(patient):
        record_tampered(RESOURCE, str(patient.uid), patient_ref=str(patient.uid))
        raise records.altered_error()
    return patient, key


def _open(uid: Any, *, write: bool = False) -> tuple[Letter, Any]:
    """The letter and its patient's data key (the patient locked for a write); Http404 if there
    is none; ValidationError for a write on a letter altered outside Secretum (reported)."""
    try:
        row = Letter.objects.select_related("patient", "author").get(uid=uid)
    except (Letter.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such letter.") from None
    patient_uid = str(row.patient.uid)
    if write:
        row.patient, key = _writable(patient_uid)
    else:
        row.patient, key = open_patient(patient_uid)
    if not integrity.intact(row, patient_uid):
        record_tampered(RESOURCE, str(row.uid), patient_ref=patient_uid)
        if write:
            raise records.altered_error()
    return row, key


def _save(row: Letter, key: Any, content: dict[str, str] | None, event: Any) -> None:
    """Seal the row (its content when given), save it, and count the write in the record."""
    if content is not None:
        row.seal(key, content=json.dumps(content, ensure_ascii=False, sort_keys=True))
    integrity.stamp(row, str(row.patient.uid))
    row.save()
    event.detail[records.VERSION_KEY] = records.count_entries_write(row.patient)


def _filled(actor: Actor, patient_uid: Any, kind: str) -> dict[str, str]:
    """A new letter's fields, filled from the chart where its kind says so (a referral letter:
    the problems, the current medication, the allergies), within their bounds."""
    content = {field.name: "" for field in kinds.FIELDS[kind]}
    if kind != kinds.REFERRAL:
        return content
    entries = clinical.access_chart(actor, patient_uid).entries
    lines = {
        "history": [
            f"{v.get('code') or ''} {v.get('label') or ''}".strip()
            + (f" ({v['onset']})" if v.get("onset") else "")
            for v in (e.values for e in clinical.problem_list(entries.get("problem", [])))
            if (v.get("status") or "active") != "resolved"
        ],
        "medication": [
            " - ".join(str(v.get(k) or "") for k in ("drug", "dose", "frequency", "duration"))
            for v in (
                e.values
                for e in medications.split_active(
                    entries.get("medication", []), timezone.localdate()
                )[0]
            )  # what the patient takes now, never a stopped one
        ],
        "allergies": [
            f"{v.get('substance') or ''}" + (f" ({v['reaction']})" if v.get("reaction") else "")
            for v in (e.values for e in entries.get("allergy", []))
        ],
    }
    bounds = {f.name: f.max_length for f in kinds.FIELDS[kind]}
    for name, found in lines.items():
        content[name] = "\n".join(found)[: bounds[name]]
    return content


def create_letter(actor: Actor, patient_uid: Any, kind: str, language: str) -> LetterView:
    """A new draft of this kind, in this language (fr, nl, en), filled from the chart."""
    if kind not in kinds.FIELDS:
        raise ValidationError(_("No such kind of letter."))
    if language not in kinds.LANGUAGES:
        raise ValidationError(_("Letters are written in French, Dutch or English."))
    with guarded(
        actor,
        Permission.CLINICAL_WRITE,
        Action.CREATE,
        RESOURCE,
        patient_ref=patient_uid,
        detail={"kind": kind, "language": language},
    ) as event:
        content = _filled(actor, patient_uid, kind)
        patient, key = _writable(patient_uid)
        row = Letter(patient=patient, author=actor.user, kind=kind, language=language)
        _save(row, key, content, event)
        event.resource_ref = str(row.uid)
        reader = event.reader(key)
        return LetterView(_info(row), reveal_identity(patient, reader), content)


def patient_letters(actor: Actor, patient_uid: Any) -> tuple[PatientIdentity, list[LetterInfo]]:
    """The patient's identity and letters, newest first: kinds, statuses and dates, nothing of
    what they say. A row altered outside Secretum is listed and reported."""
    with guarded(
        actor,
        Permission.CLINICAL_READ,
        Action.SEARCH,
        RESOURCE,
        patient_ref=patient_uid,
    ) as event:
        patient, key = open_patient(patient_uid)
        identity = reveal_identity(patient, event.reader(key))
        rows = Letter.objects.filter(patient=patient).select_related("author")
        listed = []
        for row in rows.order_by("-recorded_at", "-id"):
            if not integrity.intact(row, identity.uid):
                record_tampered(RESOURCE, str(row.uid), patient_ref=identity.uid)
            listed.append(_info(row))
        return identity, listed


def access_letter(actor: Actor, uid: Any) -> LetterView:
    """One letter, what it says included."""
    with guarded(
        actor,
        Permission.CLINICAL_READ,
        Action.READ,
        RESOURCE,
        patient_ref=_patient_ref(uid),
        resource_ref=uid,
    ) as event:
        row, key = _open(uid)
        reader = event.reader(key)
        return LetterView(
            _info(row),
            reveal_identity(row.patient, reader),
            _content(row, reader),
            altered=not integrity.intact(row, str(row.patient.uid)),
        )


def _draft(uid: Any) -> tuple[Letter, Any]:
    row, key = _open(uid, write=True)
    if row.status != Letter.Status.DRAFT:
        raise ValidationError(
            _("A finalised letter is kept as it is: correct it with a new version."),
            code="finalised",
        )
    return row, key


def update_letter(actor: Actor, uid: Any, data: dict[str, Any]) -> LetterView:
    """A draft edited in place (a finalised letter is refused: ``correct_letter``)."""
    with guarded(
        actor,
        Permission.CLINICAL_WRITE,
        Action.UPDATE,
        RESOURCE,
        patient_ref=_patient_ref(uid),
        resource_ref=uid,
    ) as event:
        row, key = _draft(uid)
        content = kinds.clean_content(row.kind, data)
        _save(row, key, content, event)
        return LetterView(_info(row), reveal_identity(row.patient, event.reader(key)), content)


def finalise_letter(actor: Actor, uid: Any) -> LetterView:
    """A draft finalised: kept as it is from now on, and the version it corrects superseded.
    A practitioner signs it (``CLINICAL_SIGN``): a nurse may draft a letter, never vouch for it
    (a sick-leave certificate is a physician's)."""
    with guarded(
        actor,
        Permission.CLINICAL_SIGN,
        Action.UPDATE,
        RESOURCE,
        patient_ref=_patient_ref(uid),
        resource_ref=uid,
        detail={"status": Letter.Status.FINAL.value},
    ) as event:
        row, key = _draft(uid)
        reader = event.reader(key)
        content = kinds.clean_content(row.kind, _content(row, reader), final=True)
        now = timezone.now()
        earlier = row.supersedes
        if earlier is not None:
            earlier.superseded_at = now
            integrity.stamp(earlier, str(row.patient.uid))
            earlier.save(update_fields=["superseded_at", "row_seal"])
        row.status, row.finalised_at, row.finalised_by = Letter.Status.FINAL, now, actor.user
        _save(row, key, None, event)
        return LetterView(_info(row), reveal_identity(row.patient, reader), content)


def correct_letter(actor: Actor, uid: Any) -> LetterView:
    """A new draft correcting a finalised letter, its fields copied; the finalised letter is
    kept, and superseded when the correction is finalised."""
    with guarded(
        actor,
        Permission.CLINICAL_WRITE,
        Action.CREATE,
        RESOURCE,
        patient_ref=_patient_ref(uid),
        detail={"corrects": str(uid)},
    ) as event:
        old, key = _open(uid, write=True)
        if old.status != Letter.Status.FINAL or old.superseded_at is not None:
            raise ValidationError(_("Only the current finalised version of a letter is corrected."))
        if Letter.objects.filter(supersedes=old).exists():
            raise ValidationError(_("A correction of this letter is already being written."))
        reader = event.reader(key)
        content = _content(old, reader)
        new = Letter(
            patient=old.patient,
            author=actor.user,
            kind=old.kind,
            language=old.language,
            supersedes=old,
        )
        _save(new, key, content, event)
        event.resource_ref = str(new.uid)
        return LetterView(_info(new), reveal_identity(old.patient, reader), content)


def _finalised(actor: Actor, uid: Any, event: Any) -> tuple[Letter, PatientIdentity, dict]:
    row, key = _open(uid)
    if row.status != Letter.Status.FINAL:
        raise ValidationError(_("Only a finalised letter is printed or sent."))
    if row.superseded_at is not None:
        raise ValidationError(_("This letter was replaced by a correction: print or send that."))
    if not integrity.intact(row, str(row.patient.uid)):
        raise records.altered_error()
    if acting_user(actor) is None:
        raise AccessDenied("a letter is printed or sent by a person")
    reader = event.reader(key)
    return row, reveal_identity(row.patient, reader), _content(row, reader)


def _render(
    actor: Actor, row: Letter, identity: PatientIdentity, content: dict, copy: str, now: Any
) -> tuple[bytes, int]:
    who = f"{display_name(actor.user)} ({actor.user.username})"
    # The signatory is who finalised it (a practitioner), not who drafted it (perhaps a nurse).
    signatory = row.finalised_by or row.author
    sheet = pdf.Sheet(practice_name(), display_name(signatory), who, now, row.language)
    return pdf.letter_pdf(row.kind, content, identity, sheet, copy=copy)


def print_letter(actor: Actor, uid: Any, copy: str = pdf.EMPLOYER) -> PrintedLetter:
    """A finalised letter to print (P1, C3), logged exactly as a patient summary: one "print"
    event naming the print log row, in the same transaction; watermarked with the user and the
    time, footed "confidential — destroy by shredding after use". ``copy``: a sick-leave
    certificate's, the employer's (never the medical reason) or the medical adviser's."""
    if copy not in (pdf.EMPLOYER, pdf.ADVISER):
        raise ValidationError(_("No such copy of a certificate."))
    with guarded(
        actor,
        Permission.CLINICAL_READ,
        Action.PRINT,
        RESOURCE,
        patient_ref=_patient_ref(uid),
        detail={"letter": str(uid), **PAPER},
    ) as event:
        row, identity, content = _finalised(actor, uid, event)
        copy = copy if row.kind == kinds.SICK_LEAVE else ""
        now = timezone.now()
        data, pages = _render(actor, row, identity, content, copy or pdf.EMPLOYER, now)
        document = DOCUMENT[row.kind]
        log = PrintLog.objects.create(
            printed_at=now,
            user=actor.user,
            role=str(actor.role or ""),
            patient_ref=identity.uid,
            document=document,
            scope=PrintLog.Scope.MEDICAL,
            pages=pages,
        )
        event.resource_ref = str(log.uid)
        event.detail.update({"document": document, "scope": "medical", "pages": pages})
        if copy:
            event.detail["copy"] = copy
        return PrintedLetter(f"{row.kind}-{now:%Y%m%d-%H%M}.pdf", data, identity.uid)


def letter_document(actor: Actor, letter_uid: Any) -> tuple[str, bytes, str]:
    """A finalised letter as a PDF to send: (file name, bytes, the patient's uid). For a sending
    path (the secure mail of the exchange, M2-M4), which encrypts it (E7, M3) and records its
    own "send" event; this call leaves one "export" event naming the letter. A sick-leave
    certificate leaves as the employer's copy: the medical reason never leaves by this path."""
    with guarded(
        actor,
        Permission.CLINICAL_READ,
        Action.EXPORT,
        RESOURCE,
        patient_ref=_patient_ref(letter_uid),
        resource_ref=letter_uid,
        detail={"purpose": "send"},
    ) as event:
        row, identity, content = _finalised(actor, letter_uid, event)
        now = timezone.now()
        data, pages = _render(actor, row, identity, content, pdf.EMPLOYER, now)
        event.detail.update({"document": DOCUMENT[row.kind], "pages": pages})
        return f"{row.kind}-{now:%Y%m%d-%H%M}.pdf", data, identity.uid
