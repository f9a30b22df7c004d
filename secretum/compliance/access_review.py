"""The yearly access review (C2): the manager reviews every active account, its role and the
period it applies in, its last login and its second factor, with the report on permissions kept
current (``accounts.lifecycle``: accounts disabled for inactivity, roles ended or ending, accounts
near the inactivity limit), and records that it was done. The register's C2 evidence reads
these rows (``own_evidence.ACCESS_REVIEW_DAYS``) and the practice's inactivity limit."""

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
from secretum.accounts import lifecycle
from secretum.accounts.models import Factor
from secretum.audit.models import Action
from secretum.compliance import own_evidence
from secretum.compliance.models import TEXT_MAX, AccessReview
from secretum.compliance.people import acting_user, display_name, display_names


@dataclass(frozen=True)
class AccountLine:
    username: str
    name: str
    role: str
    role_starts_at: dt.datetime
    role_ends_at: dt.datetime | None
    last_login: dt.datetime | None
    joined: dt.datetime
    dormant: bool  # past the practice's inactivity limit (C2)
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
    permissions: lifecycle.PermissionsReport


def access_review_overview(actor: Actor) -> AccessReviewOverview:
    require(actor, Permission.COMPLIANCE_MANAGE, EventDraft(Action.READ, "compliance.AccessReview"))
    now = timezone.now()
    permissions = lifecycle.report()
    with_factor = set(
        Factor.objects.filter(confirmed=True).values_list("user_id", flat=True).distinct()
    )
    accounts = [
        AccountLine(
            username=u.username,
            name=display_name(u),
            role=str(ROLE_LABELS[Role(u.role)]) if u.role in set(Role) else _("no role"),
            role_starts_at=u.role_starts_at,
            role_ends_at=u.role_ends_at,
            last_login=u.last_login,
            joined=u.date_joined,
            dormant=lifecycle.limit_at(u, permissions.inactive_days) <= now,
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
        + dt.timedelta(days=own_evidence.ACCESS_REVIEW_DAYS)
        if rows
        else None
    )
    return AccessReviewOverview(accounts, reviews, due, permissions)


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
