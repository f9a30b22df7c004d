"""The yearly access review (C2): the manager reviews every active account, its role, its last
login and its second factor, and records that it was done. The register's C2 evidence reads
these rows (``evidence.ACCESS_REVIEW_DAYS``, ``evidence.DORMANT_DAYS``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.access.guard import EventDraft, guarded, require
from secretum.access.policy import ROLE_LABELS, Permission, Role
from secretum.accounts.models import Factor
from secretum.audit.models import Action
from secretum.compliance import evidence
from secretum.compliance.models import TEXT_MAX, AccessReview
from secretum.compliance.people import acting_user, display_name, display_names


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
    require(actor, Permission.COMPLIANCE_MANAGE, EventDraft(Action.READ, "compliance.AccessReview"))
    dormant_before = timezone.now() - dt.timedelta(days=evidence.DORMANT_DAYS)
    with_factor = set(
        Factor.objects.filter(confirmed=True).values_list("user_id", flat=True).distinct()
    )
    accounts = [
        AccountLine(
            username=u.username,
            name=display_name(u),
            role=str(ROLE_LABELS[Role(u.role)]) if u.role in set(Role) else _("no role"),
            last_login=u.last_login,
            joined=u.date_joined,
            dormant=(u.last_login or u.date_joined) < dormant_before,
            second_factor=u.pk in with_factor,
        )
        for u in get_user_model().objects.filter(is_active=True).order_by("role", "username")
    ]
    rows = list(AccessReview.objects.order_by("-reviewed_at")[:20])
    names = display_names({r.reviewed_by_id for r in rows if r.reviewed_by_id})
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
            reviewed_at=timezone.now(),
            reviewed_by=acting_user(actor),
            active_users=count,
            note=note,
        )
        event.resource_ref = str(row.pk)
        event.detail = {"active_users": count}
