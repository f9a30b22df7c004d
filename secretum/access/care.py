"""The ways into a medical record, and what the auditor sees of them (C1, C2, D2).

* ``declare_care``: "I take care of this patient", recorded and audited;
* ``record_contact``: a consultation or an appointment starts or refreshes a relationship
  (called by the services that record them, inside their own audited write);
* ``break_the_glass``: an emergency access without a relationship: a category, a reason of
  10 to 200 characters, a limited time, the auditor alerted at once (the audit alert, and an
  e-mail when mail is set up), then a review: justified or not, with a comment;
* ``open_archived``: an archived record (J1) opened the same way, a reason, a limited time,
  the auditor told, reviewed beside the emergency accesses;
* ``set_policy``: the practice's choice between care relationships and a shared record, and
  their periods; recorded, audited, shown in the register.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import Actor, Purpose, role_of
from secretum.access.guard import guarded
from secretum.access.models import AccessPolicy, CareRelationship, GlassBreak
from secretum.access.policy import CARE_ROLES, Permission, Role
from secretum.access.relationships import archived, current_relationship, policy, valid_ref
from secretum.audit.models import Action
from secretum.crypto.rows import intact

log = logging.getLogger("secretum.access")

REASON_MIN, REASON_MAX = 10, 200
COMMENT_MAX = 500
REVIEW_OVERDUE_DAYS = 7  # unreviewed emergency accesses older than this are a warning


def _patients() -> Any:
    from django.apps import apps  # the patients app stands above access: its model by name

    return apps.get_model("patients", "Patient")


def _patient_pk(patient_ref: Any) -> int:
    pk = None
    if valid_ref(patient_ref):
        pk = _patients().objects.filter(uid=patient_ref).values_list("pk", flat=True).first()
    if pk is None:
        raise Http404("No such patient.")
    return int(pk)


def record_contact(user: Any, patient_pk: int, origin: str) -> None:
    """A consultation or an appointment with this practitioner: their care relationship with
    the patient starts, or its last contact moves to now. Inside the caller's transaction."""
    if role_of(user) not in CARE_ROLES:  # the role held now (C2)
        return
    now = timezone.now()
    # The patient's row is locked first: two contacts at once (two tabs, a booking and a note)
    # take turns, and the second finds the relationship the first started.
    _patients().objects.select_for_update().filter(pk=patient_pk).exists()
    row = CareRelationship.objects.filter(patient_id=patient_pk, practitioner=user).first()
    if row is None:
        CareRelationship(
            patient_id=patient_pk, practitioner=user, origin=origin, started_at=now,
            last_contact_at=now,
        ).save()  # fmt: skip
        return
    if not intact(row):
        return  # an altered row is refused, never refreshed into a valid one
    if row.ended_at is not None:
        row.ended_at, row.started_at, row.origin = None, now, origin
    row.last_contact_at = now
    row.save()


def declare_care(actor: Actor, patient_ref: Any) -> None:
    """ "I take care of this patient" (C1): recorded, audited; the chart opens from now on."""
    with guarded(
        actor,
        Permission.CARE_DECLARE,
        Action.CREATE,
        "access.CareRelationship",
        patient_ref=patient_ref,
        resource_ref=patient_ref,
    ) as event:
        record_contact(actor.user, _patient_pk(patient_ref), CareRelationship.Origin.DECLARED)
        event.detail["origin"] = CareRelationship.Origin.DECLARED


def end_care(actor: Actor, patient_ref: Any) -> None:
    """The practitioner no longer takes care of this patient: the relationship ends now."""
    with guarded(
        actor, Permission.CARE_DECLARE, Action.DELETE, "access.CareRelationship",
        patient_ref=patient_ref, resource_ref=patient_ref,
    ):  # fmt: skip
        row = current_relationship(actor.user, patient_ref)
        if row is not None:
            row.ended_at = timezone.now()
            row.save()


# The categories of an emergency access; ``archive`` is the opening of an archived record (J1).
GLASS_CATEGORIES = frozenset(GlassBreak.Category.values) - {GlassBreak.Category.ARCHIVE}


def _clean_reason(reason: str, category: str) -> str:
    reason = " ".join((reason or "").split())
    if category not in GLASS_CATEGORIES:
        raise ValidationError(_("Choose why: emergency, replacement or other."))
    return clean_reason(reason)


def clean_reason(reason: str) -> str:
    """A stated reason, its spaces folded, of REASON_MIN to REASON_MAX characters, or
    ValidationError saying so (break the glass, the archive)."""
    reason = " ".join((reason or "").split())
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise ValidationError(
            _("Give the reason in %(min)d to %(max)d characters.")
            % {"min": REASON_MIN, "max": REASON_MAX}
        )
    return reason


def break_the_glass(actor: Actor, patient_ref: Any, category: str, reason: str) -> dt.datetime:
    """Open a patient's record without a care relationship, for ``glass_hours``; when it ends."""
    reason = _clean_reason(reason, category)
    emergency = dataclasses.replace(actor, purpose=Purpose.BREAK_THE_GLASS)
    with guarded(
        emergency,
        Permission.GLASS_BREAK,
        Action.BREAK_THE_GLASS,
        "access.GlassBreak",
        patient_ref=patient_ref,
        detail={"reason": reason, "category": category},
    ) as event:
        now = timezone.now()
        hours = dt.timedelta(hours=policy().glass_hours)
        grant = GlassBreak(
            patient_id=_patient_pk(patient_ref), practitioner=actor.user, category=category,
            reason=reason, started_at=now, expires_at=now + hours,
        )  # fmt: skip
        grant.save()
        event.resource_ref = str(grant.uid)
        event.detail["until"] = grant.expires_at.isoformat()
        transaction.on_commit(lambda: _tell_auditors(actor, grant))
        return grant.expires_at


def open_archived(actor: Actor, patient_ref: Any, reason: str) -> dt.datetime:
    """J1: open an archived record with a stated reason, for ``glass_hours`` (as an emergency
    access); when it ends. Recorded as its own event (``open-archived``, the reason in it), the
    auditor told at once and reviewing it beside the emergency accesses. Reads only: nothing is
    written into an archived record until it is restored to active."""
    reason = clean_reason(reason)
    reading = dataclasses.replace(actor, purpose=Purpose.ARCHIVE)
    with guarded(
        reading,
        Permission.ARCHIVE_OPEN,
        Action.OPEN_ARCHIVED,
        "access.GlassBreak",
        patient_ref=patient_ref,
        detail={"reason": reason},
    ) as event:
        patient_pk = _patient_pk(patient_ref)
        if not archived(patient_ref):
            raise ValidationError(_("This record is not archived: it opens as any other."))
        now = timezone.now()
        hours = dt.timedelta(hours=policy().glass_hours)
        grant = GlassBreak(
            patient_id=patient_pk, practitioner=actor.user, category=GlassBreak.Category.ARCHIVE,
            reason=reason, started_at=now, expires_at=now + hours,
        )  # fmt: skip
        grant.save()
        event.resource_ref = str(grant.uid)
        event.detail["until"] = grant.expires_at.isoformat()
        transaction.on_commit(lambda: _tell_auditors(actor, grant))
        return grant.expires_at


def end_archive_grants(patient_pk: int) -> int:
    """J1: the archive grants still running on this record end now (it was restored to active:
    they opened its archived state only, never a later one). Inside the caller's transaction; a
    grant altered outside Secretum is left as found (it opens nothing). How many ended."""
    now = timezone.now()
    running = GlassBreak.objects.select_for_update().filter(
        patient_id=patient_pk, category=GlassBreak.Category.ARCHIVE, expires_at__gt=now
    )
    ended = 0
    for grant in running:
        if intact(grant):
            grant.expires_at = now
            grant.save()
            ended += 1
    return ended


def _tell_auditors(actor: Actor, grant: GlassBreak) -> None:
    """An e-mail to every active auditor, at once, when mail is set up; the patient is never
    named in it (the auditor's page says who, the log says everything)."""
    if not settings.SECRETUM_SMTP_HOST:
        return
    auditors = get_user_model().objects.filter(role=Role.AUDITOR, is_active=True).exclude(email="")
    to = [u.email for u in auditors if intact(u) and role_of(u) == Role.AUDITOR]  # C2
    if not to:
        return
    when = timezone.localtime(grant.started_at).strftime("%d/%m/%Y %H:%M")
    if grant.category == GlassBreak.Category.ARCHIVE:  # J1
        subject = _("Secretum: an archived record opened")
        body = _(
            "%(who)s opened an archived patient record, with a reason, on %(when)s. Review it "
            "in Secretum, under Emergency accesses."
        ) % {"who": actor.name, "when": when}
    else:
        subject = _("Secretum: emergency access to a record")
        body = _(
            "%(who)s opened a patient's record without a care relationship (break the glass) "
            "on %(when)s, category: %(category)s. Review it in Secretum, under Emergency "
            "accesses."
        ) % {"who": actor.name, "when": when, "category": grant.get_category_display()}
    try:
        send_mail(subject, body, None, to)
    except Exception:  # the access is recorded and alerted in the log all the same
        log.exception("break-the-glass e-mail to the auditors failed")


@dataclass(frozen=True)
class GlassRow:
    uid: str
    practitioner: str
    patient_ref: str
    category: str
    reason: str
    started_at: dt.datetime
    expires_at: dt.datetime
    reviewed_at: dt.datetime | None
    reviewer: str
    justified: bool | None
    comment: str
    overdue: bool  # unreviewed for more than REVIEW_OVERDUE_DAYS
    altered: bool  # the row failed its seal: shown, and counts as unreviewed


def _row(grant: GlassBreak, now: dt.datetime) -> GlassRow:
    ok = intact(grant)
    reviewed = grant.reviewed_at if ok else None
    return GlassRow(
        uid=str(grant.uid),
        practitioner=str(grant.practitioner),
        patient_ref=str(grant.patient.uid),
        category=grant.get_category_display(),
        reason=grant.reason,
        started_at=grant.started_at,
        expires_at=grant.expires_at,
        reviewed_at=reviewed,
        reviewer=str(grant.reviewed_by or "") if reviewed else "",
        justified=grant.justified if reviewed else None,
        comment=grant.review_comment if reviewed else "",
        overdue=reviewed is None
        and now - grant.started_at > dt.timedelta(days=REVIEW_OVERDUE_DAYS),
        altered=not ok,
    )


def glass_breaks(actor: Actor, *, pending_only: bool = False, limit: int = 200) -> list[GlassRow]:
    """Emergency accesses, newest first, for the auditor's review (an audited read)."""
    with guarded(
        actor, Permission.ACCESS_REVIEW, Action.READ, "access.GlassBreak",
        detail={"view": "pending" if pending_only else "all"},
    ):  # fmt: skip
        rows = GlassBreak.objects.select_related("practitioner", "reviewed_by", "patient")
        if pending_only:
            rows = rows.filter(reviewed_at__isnull=True)
        now = timezone.now()
        return [_row(g, now) for g in rows.order_by("-started_at")[:limit]]


def overdue_reviews() -> int:
    """Emergency accesses still unreviewed after REVIEW_OVERDUE_DAYS (for the register and the
    auditor's warning; a count, no one named)."""
    before = timezone.now() - dt.timedelta(days=REVIEW_OVERDUE_DAYS)
    rows = GlassBreak.objects.filter(started_at__lt=before)
    return sum(1 for g in rows if g.reviewed_at is None or not intact(g))


def review_glass_break(actor: Actor, grant_uid: Any, justified: bool, comment: str) -> None:
    """The auditor's judgement of one emergency access, with a comment (required when not
    justified)."""
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise ValidationError(_("The comment is limited to %(n)d characters.") % {"n": COMMENT_MAX})
    if not justified and not comment:
        raise ValidationError(_("Say why this access was not justified."))
    with guarded(
        actor, Permission.ACCESS_REVIEW, Action.REVIEW, "access.GlassBreak",
        resource_ref=grant_uid, detail={"justified": justified},
    ) as event:  # fmt: skip
        grant = None
        if valid_ref(grant_uid):
            grant = (
                GlassBreak.objects.select_for_update()
                .select_related("patient")
                .filter(uid=grant_uid)
                .first()
            )
        if grant is None:
            raise ValidationError(_("No emergency access has this reference."))
        if grant.reviewed_at is not None and intact(grant):
            raise ValidationError(_("This emergency access was already reviewed."))
        event.patient_ref = str(grant.patient.uid)
        grant.reviewed_at, grant.reviewed_by = timezone.now(), actor.user
        grant.justified, grant.review_comment = justified, comment
        grant.save()


def set_policy(
    actor: Actor, *, shared_record: bool, relationship_months: int, glass_hours: int
) -> None:
    """The practice's access policy (C1, C2), within its bounds; audited with what changed."""
    with guarded(actor, Permission.SETTINGS_MANAGE, Action.UPDATE, "access.AccessPolicy") as event:
        row = AccessPolicy.objects.select_for_update().order_by("pk").first() or AccessPolicy()
        before = (
            {name: getattr(row, name) for name in AccessPolicy.SEALED_FIELDS}
            if intact(row) or row.pk is None
            else {}
        )
        row.shared_record = shared_record
        row.relationship_months = relationship_months
        row.glass_hours = glass_hours
        row.full_clean(exclude=["row_seal"])
        row.save()
        event.detail["changed"] = [
            name for name in AccessPolicy.SEALED_FIELDS if before.get(name) != getattr(row, name)
        ]
        event.detail["shared_record"] = shared_record
