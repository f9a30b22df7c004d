"""Evidence documents attached to a measure (a contract, a certificate, a photo of the shredder),
sealed under the instance's key (E10): never on disk or in the database in clear.

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
from secretum.compliance.models import EvidenceDocument
from secretum.compliance.people import acting_user, display_names
from secretum.crypto import keyring

DOCUMENT_MAX_BYTES = 10 * 1024 * 1024
# Served with their own type; anything else is served as bytes to download, never rendered.
SAFE_DOCUMENT_TYPES = {"application/pdf", "image/png", "image/jpeg", "text/plain"}


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


def documents(measure_id: str | None = None) -> list[DocumentView]:
    """The documents of one measure (or of all), newest first. Unchecked: for the register's
    services; the contents stay sealed."""
    qs = EvidenceDocument.objects.defer("sealed").order_by("-uploaded_at", "-id")
    if measure_id is not None:
        qs = qs.filter(measure=measure_id)
    rows = list(qs)
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
        )
        for d in rows
    ]


def _document_aad(uid: Any) -> str:
    return f"compliance.EvidenceDocument:{uid}"


def _clean_filename(name: str) -> str:
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in unicodedata.normalize("NFC", name) if c.isprintable())
    name = name.strip().strip(".")[:200]
    return name or "document"


def attach_document(
    actor: Actor, measure_id: str, *, name: str, content_type: str, data: bytes
) -> DocumentView:
    measure = measure_or_404(measure_id)
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
        detail={"measure": measure.id, "size": len(data)},
    ) as event:
        uid = uuid.uuid4()
        EvidenceDocument.objects.create(
            uid=uid,
            measure=measure.id,
            name=_clean_filename(name),
            content_type=(content_type or "application/octet-stream")[:100],
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            sealed=keyring.seal_secret(data, _document_aad(uid)),
            uploaded_at=timezone.now(),
            uploaded_by=acting_user(actor),
        )
        event.resource_ref = str(uid)
        return next(d for d in documents(measure.id) if d.uid == str(uid))


@dataclass(frozen=True)
class OpenedDocument:
    name: str
    content_type: str
    data: bytes


def open_document(actor: Actor, uid: Any) -> OpenedDocument:
    with guarded(
        actor,
        Permission.COMPLIANCE_READ,
        Action.READ,
        "compliance.EvidenceDocument",
        resource_ref=uid,
    ):
        try:
            row = EvidenceDocument.objects.get(uid=uid)
        except (EvidenceDocument.DoesNotExist, ValidationError, ValueError):
            raise Http404("No such document.") from None
        data = keyring.open_secret(row.sealed, _document_aad(row.uid))
        kind = row.content_type if row.content_type in SAFE_DOCUMENT_TYPES else ""
        return OpenedDocument(row.name, kind or "application/octet-stream", data)
