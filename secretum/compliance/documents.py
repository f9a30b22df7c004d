"""Evidence documents attached to a measure (a contract, a certificate, a photo of the shredder),
sealed under the instance's key (E10): never on disk or in the database in clear.

On L3 a document may be the practice's record of a security audit or a visit of a subcontractor:
the subcontractor, the date it took place and its report. L3's evidence reads these records
(``subcontractor_records``), never the mere existence of a report of the register.

Attaching one is a write with its audit event; opening one is an audited read, since a document
may hold personal data. A document is served with its own type only when that type is safe to
show; anything else is served as bytes to download, never rendered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.access.guard import guarded
from secretum.access.policy import Permission
from secretum.audit.models import Action
from secretum.compliance.catalogue import measure_or_404
from secretum.compliance.models import EvidenceDocument, Record
from secretum.compliance.people import acting_user, display_names
from secretum.crypto import keyring
from secretum.crypto.sealing import Delivery, Kind

DOCUMENT_MAX_BYTES = 10 * 1024 * 1024
# Served with their own type; anything else is served as bytes to download, never rendered.
SAFE_DOCUMENT_TYPES = {"application/pdf", "image/png", "image/jpeg", "text/plain"}
# The measure whose evidence is the practice's records of audits and visits of subcontractors.
RECORDS_MEASURE = "L3"
RECORD_OLDEST = dt.date(2000, 1, 1)


@dataclass(frozen=True)
class DocumentView:
    uid: str
    measure: str
    name: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: dt.datetime
    uploaded_by: str
    record: str = Record.DOCUMENT
    record_label: str = ""
    subcontractor: str = ""
    performed_on: dt.date | None = None


def documents(measure_id: str | None = None) -> list[DocumentView]:
    """The documents of one measure (or of all), newest first. Unchecked: for the register's
    services; the contents stay sealed."""
    qs = EvidenceDocument.objects.defer("sealed").order_by("-uploaded_at", "-id")
    if measure_id is not None:
        qs = qs.filter(measure=measure_id)
    return _views(list(qs))


def subcontractor_records() -> list[DocumentView]:
    """The practice's records of audits and visits of its subcontractors (L3), the most recent
    first. Unchecked: for L3's evidence."""
    qs = EvidenceDocument.objects.defer("sealed").filter(
        measure=RECORDS_MEASURE, record__in=(Record.AUDIT, Record.VISIT)
    )
    return _views(list(qs.order_by("-performed_on", "-uploaded_at", "-id")))


def _views(rows: list[EvidenceDocument]) -> list[DocumentView]:
    names = display_names({d.uploaded_by_id for d in rows if d.uploaded_by_id})
    return [
        DocumentView(
            uid=str(d.uid),
            measure=d.measure,
            name=d.name,
            content_type=d.content_type,
            size=d.size,
            sha256=d.sha256,
            uploaded_at=d.uploaded_at,
            uploaded_by=names.get(d.uploaded_by_id or 0, "?"),
            record=d.record,
            record_label=str(Record(d.record).label),
            subcontractor=d.subcontractor,
            performed_on=d.performed_on,
        )
        for d in rows
    ]


def document_aad(uid: Any) -> str:
    return f"compliance.EvidenceDocument:{uid}"


def _clean_filename(name: str) -> str:
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in unicodedata.normalize("NFC", name) if c.isprintable())
    name = name.strip().strip(".")[:200]
    return name or "document"


def _check_record(
    measure_id: str, record: str, subcontractor: str, performed_on: dt.date | None
) -> str:
    """A record of an audit or a visit (L3): a subcontractor and a past date; its subcontractor,
    stripped. A plain document has neither."""
    if record not in Record.values:
        raise ValidationError(_("Choose what the document records."))
    subcontractor = (subcontractor or "").strip()
    if record == Record.DOCUMENT:
        if subcontractor or performed_on is not None:
            raise ValidationError(
                _("A subcontractor and a date belong to a record of an audit or a visit.")
            )
        return ""
    if measure_id != RECORDS_MEASURE:
        raise ValidationError(
            _("Audits and visits of subcontractors are recorded on measure %(id)s.")
            % {"id": RECORDS_MEASURE}
        )
    if not subcontractor or len(subcontractor) > 200:
        raise ValidationError(_("Name the subcontractor (at most 200 characters)."))
    if performed_on is None or not RECORD_OLDEST <= performed_on <= timezone.localdate():
        raise ValidationError(
            _("Give the date of the audit or visit: a past date, from %(year)d on.")
            % {"year": RECORD_OLDEST.year}
        )
    return subcontractor


def attach_document(
    actor: Actor,
    measure_id: str,
    *,
    name: str,
    content_type: str,
    data: bytes,
    record: str = Record.DOCUMENT,
    subcontractor: str = "",
    performed_on: dt.date | None = None,
) -> DocumentView:
    """Attach a document to a measure, sealed; on L3, possibly the record of an audit or a visit
    of a subcontractor (``record``, ``subcontractor``, ``performed_on``)."""
    measure = measure_or_404(measure_id)
    subcontractor = _check_record(measure.id, record, subcontractor, performed_on)
    if not data:
        raise ValidationError(_("The file is empty."))
    if len(data) > DOCUMENT_MAX_BYTES:
        raise ValidationError(
            _("The file is larger than %(n)d MB.") % {"n": DOCUMENT_MAX_BYTES // (1024 * 1024)}
        )
    with guarded(
        actor,
        Permission.COMPLIANCE_MANAGE,
        Action.CREATE,
        "compliance.EvidenceDocument",
        detail={"measure": measure.id, "size": len(data), "record": str(record)},
    ) as event:
        uid = uuid.uuid4()
        EvidenceDocument.objects.create(
            uid=uid,
            measure=measure.id,
            name=_clean_filename(name),
            content_type=(content_type or "application/octet-stream")[:100],
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            sealed=keyring.seal_secret(data, document_aad(uid)),
            uploaded_at=timezone.now(),
            uploaded_by=acting_user(actor),
            record=record,
            subcontractor=subcontractor,
            performed_on=performed_on if record != Record.DOCUMENT else None,
        )
        event.resource_ref = str(uid)
        return next(d for d in documents(measure.id) if d.uid == str(uid))


@dataclass(frozen=True)
class OpenedDocument:
    name: str
    content_type: str
    data: bytes


def open_document(actor: Actor, uid: Any, *, delivery: Delivery | None = None) -> OpenedDocument:
    """One evidence document; downloaded, its read event names how it leaves (``delivery``,
    E7, M3: never the passphrase)."""
    with guarded(
        actor,
        Permission.COMPLIANCE_READ,
        Action.READ,
        "compliance.EvidenceDocument",
        resource_ref=uid,
        detail=delivery.audit_detail(Kind.OTHER) if delivery else None,
    ):
        try:
            row = EvidenceDocument.objects.get(uid=uid)
        except (EvidenceDocument.DoesNotExist, ValidationError, ValueError):
            raise Http404("No such document.") from None
        data = keyring.open_secret(row.sealed, document_aad(row.uid))
        kind = row.content_type if row.content_type in SAFE_DOCUMENT_TYPES else ""
        return OpenedDocument(row.name, kind or "application/octet-stream", data)
