"""The measures register: every read and write, checked and audited (C2, L3, P1, C3…).

Views call these functions and receive frozen value objects; they never touch the models. Every
write is one transaction with its audit event (``access.guard.guarded``). Reads of the register
are checked (a refusal is audited); reads of an evidence document and every print of a patient
document are audited too, since they may hold personal data. The breach register (D3) is its own
app, ``secretum.breaches``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from secretum.access.actor import AccessDenied, Actor
from secretum.access.guard import guarded
from secretum.access.policy import Permission
from secretum.audit.models import Action, Outcome
from secretum.audit.services import record_event
from secretum.breaches.entries import BreachView
from secretum.breaches.services import open_breaches
from secretum.compliance import catalogue, evidence, signing
from secretum.compliance.catalogue import Category, Part
from secretum.compliance.models import (
    AccessReview,
    Choice,
    Declaration,
    EvidenceDocument,
    Hosting,
    PracticeProfile,
    PrintLog,
    ReportExport,
)
from secretum.compliance.status import DeclarationView, MeasureRow, Status, decide
from secretum.crypto import keyring

REVIEW_DEFAULT_DAYS = 365
REVIEW_MAX_DAYS = 3 * 365
DUE_SOON_DAYS = 30
JUSTIFICATION_MIN = 10
TEXT_MAX = 2000
DOCUMENT_MAX_BYTES = 10 * 1024 * 1024
# Served with their own type; anything else is served as bytes to download, never rendered.
SAFE_DOCUMENT_TYPES = {"application/pdf", "image/png", "image/jpeg", "text/plain"}


def _now() -> dt.datetime:
    return timezone.now()


def _require(
    actor: Actor, permission: Permission, action: str, resource: str, ref: Any = ""
) -> None:
    if not actor.may(permission):
        record_event(actor, action, resource, outcome=Outcome.DENIED, resource_ref=str(ref or ""))
        raise AccessDenied(f"{actor.role} lacks {permission}")


def _acting_user(actor: Actor) -> Any:
    user = actor.user
    return user if user is not None and user.pk else None


def _name(user: Any) -> str:
    if user is None:
        return str(_("Secretum (system)"))
    return user.get_full_name() or user.username


def _names(ids: set[int]) -> dict[int, str]:
    return {u.pk: _name(u) for u in get_user_model().objects.filter(pk__in=ids)}


def _measure(measure_id: str) -> catalogue.Measure:
    try:
        return catalogue.measure(measure_id)
    except KeyError:
        raise Http404("No such measure.") from None


# --- the practice's profile: which part of the checklist applies -------------------------------

HOSTING_PARTS = {
    Hosting.LOCAL: frozenset({Part.LOCAL}),
    Hosting.CLOUD: frozenset({Part.CLOUD}),
    Hosting.BOTH: frozenset({Part.LOCAL, Part.CLOUD}),
}


def practice_profile() -> PracticeProfile:
    found, _created = PracticeProfile.objects.get_or_create(pk=1)
    return found


def set_hosting(actor: Actor, hosting: str) -> None:
    if hosting not in Hosting.values:
        raise ValidationError(_("Choose where the practice's data are hosted."))
    with guarded(
        actor, Permission.COMPLIANCE_MANAGE, Action.UPDATE, "compliance.PracticeProfile"
    ) as event:
        profile = practice_profile()
        event.detail = {"hosting": hosting, "before": profile.hosting}
        profile.hosting = hosting
        profile.updated_by = _acting_user(actor)
        profile.save()


# --- the register ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Register:
    hosting: str
    hosting_label: str
    parts: frozenset[Part]
    rows: tuple[MeasureRow, ...]
    generated_at: dt.datetime

    @property
    def groups(self) -> list[tuple[Category, list[MeasureRow]]]:
        """The rows by category, in the order of the source."""
        by: dict[str, list[MeasureRow]] = {}
        for row in self.rows:
            by.setdefault(row.category.code, []).append(row)
        order = catalogue.CATEGORY_ORDER
        return [(catalogue.CATEGORIES[c], by[c]) for c in sorted(by, key=order.__getitem__)]

    @property
    def counts(self) -> dict[str, int]:
        out = {s.value.replace("-", "_"): 0 for s in Status}
        for row in self.rows:
            out[row.status.value.replace("-", "_")] += 1
        out["total"] = len(self.rows)
        return out

    @property
    def attention(self) -> list[MeasureRow]:
        return [r for r in self.rows if r.needs_attention]

    def row(self, measure_id: str) -> MeasureRow:
        return next(r for r in self.rows if r.id == measure_id)


def _declaration_history(measure_id: str | None = None) -> dict[str, list[DeclarationView]]:
    """Every version of every declaration (or of one measure's), oldest first, each with the
    fields it changed."""
    qs = Declaration.objects.order_by("measure", "version")
    if measure_id is not None:
        qs = qs.filter(measure=measure_id)
    rows = list(qs)
    names = _names(
        {r.owner_id for r in rows} | {r.recorded_by_id for r in rows if r.recorded_by_id}
    )
    today = timezone.localdate()
    out: dict[str, list[DeclarationView]] = {}
    for r in rows:
        before = out.get(r.measure, [])
        previous = before[-1] if before else None
        changed: tuple[str, ...] = ()
        if previous is not None:
            changed = tuple(
                name
                for name, old, new in (
                    ("choice", previous.choice, r.choice),
                    ("justification", previous.justification, r.justification),
                    ("owner", previous.owner_id, r.owner_id),
                    ("next_review", previous.next_review, r.next_review),
                )
                if old != new
            )
        out.setdefault(r.measure, []).append(
            DeclarationView(
                measure=r.measure,
                version=r.version,
                change=r.change,
                change_label=str(Declaration.Change(r.change).label),
                choice=r.choice,
                choice_label=str(Choice(r.choice).label),
                justification=r.justification,
                owner_id=r.owner_id,
                owner=names.get(r.owner_id, "?"),
                next_review=r.next_review,
                recorded_at=r.recorded_at,
                recorded_by=names.get(r.recorded_by_id or 0, str(_("Secretum (system)"))),
                overdue=r.next_review < today,
                changed_fields=changed,
            )
        )
    return out


def build_register() -> Register:
    """The register as it stands now. Unchecked: for the services below and the CLI."""
    profile = practice_profile()
    parts = HOSTING_PARTS[Hosting(profile.hosting)]
    found = evidence.gather()
    current = {m: versions[-1] for m, versions in _declaration_history().items()}
    documents: dict[str, int] = {}
    for measure_id in EvidenceDocument.objects.values_list("measure", flat=True):
        documents[measure_id] = documents.get(measure_id, 0) + 1
    rows = tuple(
        decide(m, parts, found.get(m.id), current.get(m.id), documents.get(m.id, 0))
        for m in catalogue.MEASURES
    )
    return Register(
        hosting=profile.hosting,
        hosting_label=str(Hosting(profile.hosting).label),
        parts=parts,
        rows=rows,
        generated_at=_now(),
    )


def register(actor: Actor) -> Register:
    _require(actor, Permission.COMPLIANCE_READ, Action.READ, "compliance.Register")
    return build_register()


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


@dataclass(frozen=True)
class MeasureDetail:
    row: MeasureRow
    history: list[DeclarationView]  # newest first
    documents: list[DocumentView]
    texts: dict[str, str]  # the measure in French, Dutch and English


def _documents(measure_id: str | None = None) -> list[DocumentView]:
    qs = EvidenceDocument.objects.defer("sealed").order_by("-uploaded_at", "-id")
    if measure_id is not None:
        qs = qs.filter(measure=measure_id)
    rows = list(qs)
    names = _names({d.uploaded_by_id for d in rows if d.uploaded_by_id})
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


def measure_detail(actor: Actor, measure_id: str) -> MeasureDetail:
    measure = _measure(measure_id)
    _require(actor, Permission.COMPLIANCE_READ, Action.READ, "compliance.Register", measure.id)
    profile = practice_profile()
    parts = HOSTING_PARTS[Hosting(profile.hosting)]
    history = _declaration_history(measure.id).get(measure.id, [])
    documents = _documents(measure.id)
    check = evidence.registered().get(measure.id)
    row = decide(
        measure,
        parts,
        evidence.run(check) if check is not None else None,
        history[-1] if history else None,
        len(documents),
    )
    texts = {code: measure.text(code) for code in ("fr", "nl", "en")}
    return MeasureDetail(row, list(reversed(history)), documents, texts)


def owner_choices(actor: Actor) -> list[tuple[int, str]]:
    """Who may own a measure: the practice's active users."""
    _require(actor, Permission.COMPLIANCE_MANAGE, Action.READ, "compliance.Declaration")
    users = get_user_model().objects.filter(is_active=True).order_by("last_name", "username")
    return [(u.pk, f"{_name(u)} ({u.username})") for u in users]


def default_next_review() -> dt.date:
    return timezone.localdate() + dt.timedelta(days=REVIEW_DEFAULT_DAYS)


def _check_next_review(next_review: dt.date) -> None:
    today = timezone.localdate()
    if next_review <= today:
        raise ValidationError(_("The next review must be a date after today."))
    if next_review > today + dt.timedelta(days=REVIEW_MAX_DAYS):
        raise ValidationError(_("Review a declaration at least every three years."))


def _new_version(
    actor: Actor,
    measure_id: str,
    *,
    choice: str,
    justification: str,
    owner_id: int,
    next_review: dt.date,
    review_only: bool = False,
) -> DeclarationView:
    measure = _measure(measure_id)
    if choice not in Choice.values:
        raise ValidationError(_("Choose adopted, equivalent measure or not needed."))
    justification = (justification or "").strip()
    if len(justification) > TEXT_MAX:
        raise ValidationError(
            _("The justification is longer than %(n)d characters.") % {"n": TEXT_MAX}
        )
    if choice != Choice.ADOPTED and len(justification) < JUSTIFICATION_MIN:
        raise ValidationError(
            _("An equivalent measure, or a measure not needed, needs its justification.")
        )
    _check_next_review(next_review)
    owner = get_user_model().objects.filter(pk=owner_id, is_active=True).first()
    if owner is None:
        raise ValidationError(_("Choose an owner among the practice's active users."))
    latest = Declaration.objects.filter(measure=measure.id).order_by("-version").first()
    if review_only and latest is None:
        raise ValidationError(_("There is no declaration to review yet."))
    if latest is None:
        change, action = Declaration.Change.DECLARED, Action.CREATE
    elif review_only:
        change, action = Declaration.Change.REVIEWED, Action.UPDATE
    else:
        change, action = Declaration.Change.CHANGED, Action.UPDATE
    with guarded(
        actor,
        Permission.COMPLIANCE_MANAGE,
        action,
        "compliance.Declaration",
        resource_ref=measure.id,
    ) as event:
        version = (latest.version + 1) if latest else 1
        try:
            with transaction.atomic():
                Declaration.objects.create(
                    measure=measure.id,
                    version=version,
                    change=change,
                    choice=choice,
                    justification=justification,
                    owner=owner,
                    next_review=next_review,
                    recorded_at=_now(),
                    recorded_by=_acting_user(actor),
                )
        except IntegrityError:  # another manager saved the same measure at the same moment
            raise ValidationError(
                _("This declaration was changed meanwhile: reload the page.")
            ) from None
        history = _declaration_history(measure.id)[measure.id]
        event.detail = {
            "measure": measure.id,
            "version": version,
            "choice": choice,
            "change": str(change),
            "fields": list(history[-1].changed_fields),
        }
        return history[-1]


def declare(
    actor: Actor,
    measure_id: str,
    *,
    choice: str,
    justification: str,
    owner_id: int,
    next_review: dt.date,
) -> DeclarationView:
    """A new version of the practice's declaration on a measure (the earlier ones are kept)."""
    return _new_version(
        actor,
        measure_id,
        choice=choice,
        justification=justification,
        owner_id=owner_id,
        next_review=next_review,
    )


def confirm_review(actor: Actor, measure_id: str, *, next_review: dt.date) -> DeclarationView:
    """The declaration was reviewed and still holds: a new version, same content, next date."""
    measure = _measure(measure_id)
    latest = Declaration.objects.filter(measure=measure.id).order_by("-version").first()
    if latest is None:
        _require(actor, Permission.COMPLIANCE_MANAGE, Action.UPDATE, "compliance.Declaration")
        raise ValidationError(_("There is no declaration to review yet."))
    return _new_version(
        actor,
        measure.id,
        choice=latest.choice,
        justification=latest.justification,
        owner_id=latest.owner_id,
        next_review=next_review,
        review_only=True,
    )


# --- evidence documents: sealed under the instance's key -----------------------------------------


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
    measure = _measure(measure_id)
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
            uploaded_at=_now(),
            uploaded_by=_acting_user(actor),
        )
        event.resource_ref = str(uid)
        return next(d for d in _documents(measure.id) if d.uid == str(uid))


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


# --- the yearly access review (C2) -------------------------------------------------------------


@dataclass(frozen=True)
class AccountLine:
    username: str
    name: str
    role: str
    last_login: dt.datetime | None
    joined: dt.datetime
    dormant: bool
    second_factor: bool


@dataclass(frozen=True)
class AccessReviewView:
    reviewed_at: dt.datetime
    reviewed_by: str
    active_users: int
    note: str


@dataclass(frozen=True)
class AccessReviewOverview:
    accounts: list[AccountLine]
    reviews: list[AccessReviewView]  # newest first
    next_due: dt.date | None


def access_review_overview(actor: Actor) -> AccessReviewOverview:
    from secretum.access.policy import ROLE_LABELS, Role
    from secretum.accounts.models import Factor

    _require(actor, Permission.COMPLIANCE_MANAGE, Action.READ, "compliance.AccessReview")
    dormant_before = _now() - dt.timedelta(days=evidence.DORMANT_DAYS)
    with_factor = set(
        Factor.objects.filter(confirmed=True).values_list("user_id", flat=True).distinct()
    )
    accounts = [
        AccountLine(
            username=u.username,
            name=_name(u),
            role=str(ROLE_LABELS[Role(u.role)]) if u.role in set(Role) else _("no role"),
            last_login=u.last_login,
            joined=u.date_joined,
            dormant=(u.last_login or u.date_joined) < dormant_before,
            second_factor=u.pk in with_factor,
        )
        for u in get_user_model().objects.filter(is_active=True).order_by("role", "username")
    ]
    rows = list(AccessReview.objects.order_by("-reviewed_at")[:20])
    names = _names({r.reviewed_by_id for r in rows if r.reviewed_by_id})
    reviews = [
        AccessReviewView(
            r.reviewed_at, names.get(r.reviewed_by_id or 0, "?"), r.active_users, r.note
        )
        for r in rows
    ]
    due = (
        timezone.localtime(rows[0].reviewed_at).date()
        + dt.timedelta(days=evidence.ACCESS_REVIEW_DAYS)
        if rows
        else None
    )
    return AccessReviewOverview(accounts, reviews, due)


def record_access_review(actor: Actor, note: str = "") -> None:
    note = (note or "").strip()
    if len(note) > TEXT_MAX:
        raise ValidationError(_("The note is longer than %(n)d characters.") % {"n": TEXT_MAX})
    with guarded(
        actor, Permission.COMPLIANCE_MANAGE, Action.CREATE, "compliance.AccessReview"
    ) as event:
        count = get_user_model().objects.filter(is_active=True).count()
        row = AccessReview.objects.create(
            reviewed_at=_now(), reviewed_by=_acting_user(actor), active_users=count, note=note
        )
        event.resource_ref = str(row.pk)
        event.detail = {"active_users": count}


# --- the signed report (L3) --------------------------------------------------------------------

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
        names.get(row.created_by_id or 0, str(_("Secretum (system)"))),
        row.measures,
        row.met,
        row.key_id,
        sha,
    )


def report_context(
    reg: Register, issued_at: dt.datetime, issued_by: str, key_id: str
) -> dict[str, Any]:
    return {
        "register": reg,
        "practice": settings.PRACTICE_NAME,
        "issued_at": issued_at,
        "issued_by": issued_by,
        "key_id": key_id,
        "source_title": catalogue.SOURCE_TITLE,
        "source_version": catalogue.SOURCE_VERSION,
        "language": get_language() or settings.LANGUAGE_CODE,
    }


def issue_report(actor: Actor) -> ReportView:
    """A dated report of the register as it stands, in PDF and HTML, each signed (Ed25519)."""
    from secretum.compliance import pdf

    with guarded(actor, Permission.COMPLIANCE_READ, Action.EXPORT, "compliance.Report") as event:
        reg = build_register()
        now = reg.generated_at
        key = signing.signing_key()
        kid = signing.key_id(key.public_key())
        by = _name(_acting_user(actor))
        pdf_bytes = pdf.register_pdf(
            reg, practice=settings.PRACTICE_NAME, issued_at=now, issued_by=by, key_id=kid
        )
        html = render_to_string(
            "compliance/report_document.html", report_context(reg, now, by, kid)
        ).encode()
        row = ReportExport.objects.create(
            created_at=now,
            created_by=_acting_user(actor),
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
    _require(actor, Permission.COMPLIANCE_READ, Action.READ, "compliance.Report")
    rows = list(ReportExport.objects.defer("pdf", "html").order_by("-created_at")[:50])
    names = _names({r.created_by_id for r in rows if r.created_by_id})
    return [_report_view(r, names) for r in rows]


@dataclass(frozen=True)
class ReportFile:
    filename: str
    content_type: str
    data: bytes


def report_file(actor: Actor, uid: Any, part: str) -> ReportFile:
    _require(actor, Permission.COMPLIANCE_READ, Action.READ, "compliance.Report", uid)
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
    _require(actor, Permission.COMPLIANCE_READ, Action.READ, "compliance.Report")
    return signing.public_key_pem()


# --- printed patient documents (P1, C3) --------------------------------------------------------


@dataclass(frozen=True)
class PrintedDocument:
    filename: str
    data: bytes


def print_patient_summary(actor: Actor, patient_uid: Any) -> PrintedDocument:
    """A patient summary to print: the identity, and for those who may read medical data the
    current problems, allergies and medications (C3). Footed "confidential — destroy by
    shredding after use" and watermarked with the user and the time (P1). Logged: one print
    event naming the print log row, in the same transaction."""
    from secretum.clinical import services as clinical
    from secretum.compliance import pdf
    from secretum.patients import services as patients

    medical = actor.may(Permission.CLINICAL_READ)
    scope = PrintLog.Scope.MEDICAL if medical else PrintLog.Scope.IDENTITY
    with guarded(
        actor,
        Permission.PATIENT_IDENTITY_READ,
        Action.PRINT,
        "clinical.Chart" if medical else "patients.Patient",
        patient_ref=patient_uid,
        detail={"document": "patient-summary", "scope": str(scope)},
    ) as event:
        if _acting_user(actor) is None:
            raise AccessDenied("a print is made by a person")
        if medical:
            chart = clinical.access_chart(actor, patient_uid)
            identity, entries = chart.patient, chart.entries
        else:
            identity, entries = patients.access_patient(actor, patient_uid), {}
        now = _now()
        data, pages = pdf.patient_summary_pdf(
            identity,
            entries,
            practice=settings.PRACTICE_NAME,
            printed_by=f"{_name(actor.user)} ({actor.user.username})",
            printed_at=now,
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


# --- reminders: the manager's home page and the daily summary ---------------------------------


@dataclass(frozen=True)
class Reminders:
    failing: list[MeasureRow]  # live evidence that does not pass
    overdue: list[MeasureRow]  # declarations past their review date
    due_soon: list[MeasureRow]  # declarations to review within 30 days
    breaches: list[BreachView]  # open suspected breaches (the 72-hour clock)
    not_met: int  # applicable measures not met, all reasons
    total: int

    @property
    def any(self) -> bool:
        return bool(self.failing or self.overdue or self.breaches)


def _reminders() -> Reminders:
    reg = build_register()
    soon = timezone.localdate() + dt.timedelta(days=DUE_SOON_DAYS)
    return Reminders(
        failing=[r for r in reg.rows if r.failing_evidence],
        overdue=[r for r in reg.rows if r.overdue],
        due_soon=[
            r
            for r in reg.rows
            if r.applies
            and r.declaration is not None
            and not r.declaration.overdue
            and r.declaration.next_review <= soon
        ],
        breaches=open_breaches(),
        not_met=reg.counts["not_met"],
        total=len(reg.rows),
    )


def reminders(actor: Actor) -> Reminders:
    _require(actor, Permission.COMPLIANCE_MANAGE, Action.READ, "compliance.Register")
    return _reminders()


@dataclass(frozen=True)
class Summary:
    subject: str
    text: str
    recipients: list[str]
    attention: int


def daily_summary() -> Summary:
    """The day's summary for the practice's managers: failing evidence, declarations to review,
    open breaches. Dates and measure IDs only: never a breach's text or patient data."""
    found = _reminders()
    today = timezone.localdate()
    lines = [
        _("Secretum — security measures register of %(practice)s, %(day)s")
        % {"practice": settings.PRACTICE_NAME, "day": today.isoformat()},
        "",
    ]

    def section(title: str, items: list[str]) -> None:
        lines.append(f"{title} ({len(items)})")
        lines.extend(f"  - {item}" for item in items or [_("none")])
        lines.append("")

    section(
        _("Failing evidence"),
        [f"{r.id}: {r.reason}" + (f" → {r.action}" if r.action else "") for r in found.failing],
    )
    section(
        _("Declarations past their review date"),
        [
            _("%(id)s: review was due %(day)s (owner: %(owner)s)")
            % {
                "id": r.id,
                "day": r.declaration.next_review.isoformat(),
                "owner": r.declaration.owner,
            }
            for r in found.overdue
            if r.declaration is not None
        ],
    )
    section(
        _("Declarations to review within 30 days"),
        [
            _("%(id)s: review due %(day)s (owner: %(owner)s)")
            % {
                "id": r.id,
                "day": r.declaration.next_review.isoformat(),
                "owner": r.declaration.owner,
            }
            for r in found.due_soon
            if r.declaration is not None
        ],
    )
    section(
        _("Suspected personal-data breaches still open"),
        [
            (
                _("aware since %(at)s: notification deadline passed %(hours)d h ago")
                if b.overdue
                else _("aware since %(at)s: %(hours)d h left to notify the authority")
            )
            % {
                "at": timezone.localtime(b.aware_at).strftime("%Y-%m-%d %H:%M"),
                "hours": abs(b.hours_left),
            }
            for b in found.breaches
        ],
    )
    lines.append(
        _("%(n)d of %(total)d measures are not met yet; the register says why and what to do.")
        % {"n": found.not_met, "total": found.total}
    )
    from secretum.access.policy import ROLE_PERMISSIONS

    roles = [
        r.value for r, held in ROLE_PERMISSIONS.items() if Permission.COMPLIANCE_MANAGE in held
    ]
    recipients = sorted(
        {
            u.email
            for u in get_user_model().objects.filter(is_active=True, role__in=roles)
            if u.email
        }
    )
    attention = len(found.failing) + len(found.overdue) + len(found.breaches)
    subject = _("Secretum: %(n)d item(s) of the security register need attention") % {
        "n": attention
    }
    return Summary(subject, "\n".join(lines) + "\n", recipients, attention)
