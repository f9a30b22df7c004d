"""Documents attached to a patient (D4, E2): every read and write through the gate, audited.

Attaching one: the type is told by the content's magic bytes against an allowlist (documents/
types.py), the content is scanned by the ClamAV daemon (lib/clamav.py) before anything is kept,
and kept sealed under the patient's data key (E10). A file the scanner finds infected is
refused and quarantined: sealed all the same, never served, its audit event names what was
found and raises the auditor's "virus" alert. When the scanner does not answer the upload is
refused (or waits, SECRETUM_SCANNER_WAIT): never kept unscanned.

Documents are medical (access/classification.py): practitioners and nurses within a basis for
the patient, never the secretary. Listing, viewing and downloading are each an audit event.

Each document is sealed under the key file and counted in the record's set of entries
(documents/integrity.py): adding one counts a write of the record (its version in the audit
event), refused like a clinical entry when the record was altered outside Secretum (a new seal
would launder the alteration); a row that fails its seal is never listed nor served, and the
record says it was altered (issue 15).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.access.fields import FieldReader
from secretum.access.guard import guarded
from secretum.access.policy import Permission
from secretum.audit.log import record_tampered
from secretum.audit.models import INFECTED, Action
from secretum.crypto.fields import uid_text
from secretum.crypto.keyring import DecryptionError
from secretum.crypto.sealing import Delivery, Kind
from secretum.documents import integrity, types
from secretum.documents.models import Document
from secretum.lib import clamav
from secretum.lib.rawrows import AUTHOR_FIELDS, Select
from secretum.patients import integrity as records
from secretum.patients.services import open_patient, writable_patient

RESOURCE = "documents.Document"
TITLE_MAX = 200
QUARANTINE_TYPE = "application/octet-stream"  # an infected file of no allowed type


@dataclass(frozen=True)
class DocumentInfo:
    uid: str
    title: str
    content_type: str
    size: int
    recorded_at: dt.datetime
    author: str

    @property
    def inline(self) -> bool:
        return self.content_type in types.ALLOWED


@dataclass(frozen=True)
class Listing:
    """A record's documents as listed, and whether a row was left out or the set differs from
    what Secretum last wrote (the record then says it was altered outside Secretum)."""

    documents: list[DocumentInfo]
    altered: bool


@dataclass(frozen=True)
class Attached:
    """What an upload became: kept, or refused and quarantined (``signature`` says why)."""

    uid: str
    quarantined: bool
    signature: str = ""


@dataclass(frozen=True)
class OpenedDocument:
    title: str
    content_type: str
    data: bytes
    patient_uid: str

    @property
    def filename(self) -> str:
        """A safe file name for the browser: printable, no quotes, the type's own extension."""
        stem = "".join(c for c in self.title if c.isalnum() or c in " -_.()").strip() or "document"
        extension = "." + types.EXTENSIONS[self.content_type]
        return stem if stem.lower().endswith(extension) else stem + extension


def clean_title(name: str) -> str:
    """The file's name without a path, printable, at most TITLE_MAX characters."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in unicodedata.normalize("NFC", name) if c.isprintable())
    return name.strip()[:TITLE_MAX] or _("Document")


def check_size(data: bytes) -> None:
    if not data:
        raise ValidationError(_("The file is empty."))
    if len(data) > settings.SECRETUM_DOCUMENT_MAX_BYTES:
        raise ValidationError(
            _("The file is larger than %(size)s.")
            % {"size": filesizeformat(settings.SECRETUM_DOCUMENT_MAX_BYTES)}
        )


def check_type(data: bytes) -> str:
    """The content's type from its magic bytes; ValidationError for any other (D4)."""
    kind = types.detect(data)
    if kind is None:
        raise ValidationError(
            _("Only PDF, PNG and JPEG documents are accepted (told by their content).")
        )
    return kind


def scan(data: bytes) -> clamav.Verdict:
    """The scanner's verdict (E2); ValidationError when it gives none in time."""
    try:
        return clamav.scan_waiting(
            settings.SECRETUM_CLAMD_SOCKET, data, float(settings.SECRETUM_SCANNER_WAIT)
        )
    except clamav.ScannerUnavailable:
        raise ValidationError(
            _(
                "The antivirus scanner is not available: the document was not attached. Try "
                "again later, or ask the practice's IT maintainer to start clamd."
            )
        ) from None


def writable_record(patient_uid: Any) -> tuple[Any, Any]:
    """The patient, locked for this write, and its key; ValidationError (reported) when the record
    or its set of entries was altered outside Secretum: a document added would seal the altered
    set anew and launder the alteration."""
    patient, key = writable_patient(patient_uid)
    if not records.entries_intact(patient):
        record_tampered(RESOURCE, str(patient.uid), patient_ref=str(patient.uid))
        raise records.altered_error()
    return patient, key


def store(
    patient: Any,
    key: Any,
    event: Any,
    *,
    title: str,
    kind: str,
    data: bytes,
    verdict: clamav.Verdict,
    author: Any,
    source: str = Document.Source.UPLOAD,
) -> Document:
    """The document's row, sealed under the patient's key (a quarantined one too) and under the
    key file, and the record sealed over its entries with it, one version on (named in the audit
    ``event``). For the services of this app, inside their guarded call, on a patient from
    ``writable_record``."""
    row = Document(
        patient=patient,
        author=author,
        content_type=kind,
        size=len(data),
        source=source,
        status=Document.Status.CLEAN if verdict.clean else Document.Status.QUARANTINED,
        signature=verdict.signature[:200],
    )
    row.seal(key, title=title)
    row.content = key.seal_bytes(data, row.content_aad())
    integrity.stamp(row, str(patient.uid))
    row.save()
    event.detail[records.VERSION_KEY] = records.count_entries_write(patient)
    return row


def attach_document(actor: Actor, patient_uid: Any, *, name: str, data: bytes) -> Attached:
    """Attach a document to a patient's record (D4), scanned first (E2). An infected one is
    quarantined and the call says so; a refused one raises ValidationError (audited)."""
    with guarded(
        actor, Permission.CLINICAL_WRITE, Action.CREATE, RESOURCE, patient_ref=patient_uid
    ) as event:
        check_size(data)
        verdict = scan(data)  # E2: every upload, whatever its type
        # A quarantined file is kept whatever it is; a clean one only of an allowed type.
        kind = check_type(data) if verdict.clean else types.detect(data) or QUARANTINE_TYPE
        patient, key = writable_record(patient_uid)
        row = store(
            patient,
            key,
            event,
            title=clean_title(name),
            kind=kind,
            data=data,
            verdict=verdict,
            author=actor.user,
        )
        event.resource_ref = uid_text(row)
        event.detail["type"] = kind
        event.detail["size"] = len(data)
        if not verdict.clean:  # E2: the auditor's "virus" alert reads this
            event.detail["problem"] = INFECTED
            event.detail["signature"] = row.signature
        return Attached(uid_text(row), not verdict.clean, verdict.signature)


def keep_received(
    actor: Actor, patient_uid: Any, *, name: str, data: bytes, verdict: clamav.Verdict
) -> Attached:
    """Keep a message received from another package (an XML exchange format) in the patient's
    record as it came, already scanned by the caller (``verdict``, E2: before it was read): the
    part an importer did not understand is never dropped (exchange/kmehr). Downloaded only, never
    shown in the browser (types.XML is not among the types shown)."""
    with guarded(
        actor, Permission.CLINICAL_WRITE, Action.CREATE, RESOURCE, patient_ref=patient_uid
    ) as event:
        check_size(data)
        patient, key = writable_record(patient_uid)
        row = store(
            patient,
            key,
            event,
            title=clean_title(name),
            kind=types.XML,
            data=data,
            verdict=verdict,
            author=actor.user,
            source=Document.Source.IMPORT,
        )
        event.resource_ref = uid_text(row)
        event.detail["type"] = types.XML
        event.detail["size"] = len(data)
        return Attached(uid_text(row), not verdict.clean, verdict.signature)


def patient_documents(actor: Actor, patient_uid: Any) -> list[DocumentInfo]:
    """The patient's documents that passed the scanner, newest first (their names are medical).
    A row that fails its seal is left out, and the altered record reported (issue 15)."""
    with guarded(
        actor,
        Permission.CLINICAL_READ,
        Action.SEARCH,
        RESOURCE,
        patient_ref=patient_uid,
        resource_ref=patient_uid,
    ) as event:
        patient, key = open_patient(patient_uid)
        found = listed(patient, event.reader(key))
        if found.altered or not records.entries_intact(patient):
            record_tampered(RESOURCE, str(patient.uid), patient_ref=str(patient.uid))
        return found.documents


# A chart's documents, each with its author's names, in SQL written once (issue 17: the ORM took
# longer to compose the query than SQLite to run it). Not their content: the seal covers its
# hash, kept in the row (documents/integrity.py).
_LISTED = Select(
    Document,
    f"WHERE {Document._meta.db_table}.patient_id = %s AND {Document._meta.db_table}.status = %s "
    f"ORDER BY {Document._meta.db_table}.recorded_at DESC, {Document._meta.db_table}.id DESC",
    [f.name for f in Document._meta.concrete_fields if f.name != "content"],
    related="author",
    related_names=AUTHOR_FIELDS,
)


def listed(patient: Any, reader: FieldReader) -> Listing:
    """The documents of a patient already opened by a guarded call (the chart lists them within
    its own read, clinical.services.access_chart, which checks the set): one query. A row that
    fails its seal (a quarantined one marked clean, one moved or copied here, changed) is left
    out, never opened, and the listing says so."""
    rows = _LISTED.rows(patient.pk, Document.Status.CLEAN)
    uid = str(patient.uid)
    shown, altered = [], False
    for row in rows:
        if not integrity.intact(row, uid):
            altered = True
            continue
        try:
            title = reader.open(row, "title") or ""
        except DecryptionError:  # moved here and acknowledged: under this key it cannot open
            altered = True
            continue
        shown.append(
            DocumentInfo(
                uid=uid_text(row),
                title=title,
                content_type=row.content_type,
                size=row.size,
                recorded_at=row.recorded_at,
                author=str(row.author) if row.author else _("scan intake"),
            )
        )
    return Listing(shown, altered)


def _document(uid: Any) -> Document:
    try:
        return Document.objects.select_related("patient").get(uid=uid, status=Document.Status.CLEAN)
    except (Document.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such document.") from None


def shown_inline(uid: Any) -> bool:
    """Whether the browser may show this document (its type among the ones it renders safely);
    reads no content (the type is in clear, bound to the content by its seal)."""
    return _document(uid).content_type in types.ALLOWED


def open_document(
    actor: Actor, uid: Any, *, download: bool = False, delivery: Delivery | None = None
) -> OpenedDocument:
    """One document's content, to show (a read) or to download (an export): audited either way,
    a download's event naming how the file leaves (``delivery``, E7, M3: never the passphrase).
    A quarantined document is never served."""
    row = _document(uid)
    patient_uid = str(row.patient.uid)
    try:
        with guarded(
            actor,
            Permission.CLINICAL_READ,
            Action.EXPORT if download else Action.READ,
            RESOURCE,
            patient_ref=patient_uid,
            resource_ref=uid,
            detail=delivery.audit_detail(Kind.of(row.content_type)) if delivery else None,
        ) as event:
            _patient, key = open_patient(patient_uid)
            if not integrity.intact(row, patient_uid):  # changed, moved or copied here
                raise DecryptionError("the document's row does not match its seal")
            reader = event.reader(key)
            data = reader.open_bytes(row, "content", row.content_aad())
            title = reader.open(row, "title") or ""
    except DecryptionError:  # marked clean, given another type or moved outside Secretum
        record_tampered(RESOURCE, str(uid), patient_ref=patient_uid)
        raise Http404("No such document.") from None
    return OpenedDocument(title, row.content_type, data, patient_uid)
