"""The signed report of the measures register (L3): the register as it stands, dated, in PDF and
HTML, each with a detached Ed25519 signature (``signing``) that an auditor checks with the
practice's public key (``secretum compliance verify-report``).

Issuing a report is an audited export; the issued reports are kept as they were written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import get_language

from secretum.access.actor import Actor
from secretum.access.guard import EventDraft, guarded, require
from secretum.access.policy import Permission
from secretum.audit.models import Action
from secretum.compliance import catalogue, signing
from secretum.compliance.models import ReportExport
from secretum.compliance.people import acting_user, display_name, display_names, system_name
from secretum.compliance.register import Register, build_register
from secretum.crypto.sealing import Delivery, Kind
from secretum.lib.practice import practice_name

REPORT_PARTS = {
    "pdf": ("pdf", "application/pdf"),
    "pdf-sig": ("pdf.sig", "text/plain; charset=utf-8"),
    "html": ("html", "application/octet-stream"),  # a file to keep, never rendered here
    "html-sig": ("html.sig", "text/plain; charset=utf-8"),
}


@dataclass(frozen=True)
class ReportView:
    uid: str
    created_at: dt.datetime
    created_by: str
    measures: int
    met: int
    key_id: str
    pdf_sha256: str


def _report_view(row: ReportExport, names: dict[int, str]) -> ReportView:
    sha = ""
    for line in row.pdf_signature.splitlines():
        if line.startswith("sha256:"):
            sha = line.split(":", 1)[1].strip()
    return ReportView(
        str(row.uid),
        row.created_at,
        names.get(row.created_by_id or 0, system_name()),
        row.measures,
        row.met,
        row.key_id,
        sha,
    )


def report_context(
    reg: Register, issued_at: dt.datetime, issued_by: str, key_id: str
) -> dict[str, Any]:
    """What the report's HTML template shows (the signed HTML and the printable page)."""
    return {
        "register": reg,
        "practice": practice_name(),
        "issued_at": issued_at,
        "issued_by": issued_by,
        "key_id": key_id,
        "source_title": catalogue.SOURCE_TITLE,
        "source_version": catalogue.SOURCE_VERSION,
        "language": get_language() or settings.LANGUAGE_CODE,
    }


def issue_report(actor: Actor) -> ReportView:
    """A dated report of the register as it stands, in PDF and HTML, each signed (Ed25519)."""
    with guarded(actor, Permission.COMPLIANCE_READ, Action.EXPORT, "compliance.Report") as event:
        reg = build_register()
        now = reg.generated_at
        key = signing.signing_key()
        kid = signing.key_id(key.public_key())
        by = display_name(acting_user(actor))
        from secretum.compliance import pdf  # fpdf, only when exporting (see audit.views)

        pdf_bytes = pdf.register_pdf(
            reg, practice=practice_name(), issued_at=now, issued_by=by, key_id=kid
        )
        html = render_to_string(
            "compliance/report_document.html", report_context(reg, now, by, kid)
        ).encode()
        row = ReportExport.objects.create(
            created_at=now,
            created_by=acting_user(actor),
            language=(get_language() or settings.LANGUAGE_CODE)[:8],
            measures=len(reg.rows),
            met=reg.counts["met"],
            key_id=kid,
            pdf=pdf_bytes,
            pdf_signature=signing.sign(pdf_bytes, now),
            html=html,
            html_signature=signing.sign(html, now),
        )
        event.resource_ref = str(row.uid)
        event.detail = {
            "measures": len(reg.rows),
            "met": reg.counts["met"],
            "sha256": hashlib.sha256(pdf_bytes).hexdigest(),
        }
        return _report_view(row, {})


def list_reports(actor: Actor) -> list[ReportView]:
    require(actor, Permission.COMPLIANCE_READ, EventDraft(Action.READ, "compliance.Report"))
    rows = list(ReportExport.objects.defer("pdf", "html").order_by("-created_at")[:50])
    names = display_names({r.created_by_id for r in rows if r.created_by_id})
    return [_report_view(r, names) for r in rows]


@dataclass(frozen=True)
class ReportFile:
    filename: str
    content_type: str
    data: bytes


# A signature holds nothing personal: it leaves in clear, as the public key (E7, M3).
SIGNATURES = ("pdf-sig", "html-sig")


def report_file(
    actor: Actor, uid: Any, part: str, *, delivery: Delivery | None = None
) -> ReportFile:
    """One part of a signed report. The report names the staff who issued it and own the
    measures: handed out with a ``delivery``, an export event names how it leaves (E7, M3:
    never the passphrase); the signature covers the plain bytes, which an age file keeps."""
    if delivery is None:
        require(
            actor,
            Permission.COMPLIANCE_READ,
            EventDraft(Action.READ, "compliance.Report", resource_ref=str(uid or "")),
        )
        return _report_file(uid, part)
    kind = Kind.PDF if part == "pdf" else Kind.OTHER
    with guarded(
        actor,
        Permission.COMPLIANCE_READ,
        Action.EXPORT,
        "compliance.Report",
        resource_ref=str(uid or ""),
        detail={"part": part, **delivery.audit_detail(kind)},
    ):
        return _report_file(uid, part)


def _report_file(uid: Any, part: str) -> ReportFile:
    if part not in REPORT_PARTS:
        raise Http404("No such part of a report.")
    try:
        row = ReportExport.objects.get(uid=uid)
    except (ReportExport.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such report.") from None
    data = {
        "pdf": bytes(row.pdf),
        "pdf-sig": row.pdf_signature.encode(),
        "html": bytes(row.html),
        "html-sig": row.html_signature.encode(),
    }[part]
    stamp = timezone.localtime(row.created_at).strftime("%Y%m%d-%H%M")
    suffix, content_type = REPORT_PARTS[part]
    return ReportFile(f"secretum-register-{stamp}.{suffix}", content_type, data)


def report_public_key(actor: Actor) -> bytes:
    require(actor, Permission.COMPLIANCE_READ, EventDraft(Action.READ, "compliance.Report"))
    return signing.public_key_pem()
