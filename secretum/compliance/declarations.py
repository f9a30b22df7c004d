"""The practice's declarations on the measures (adopted, equivalent measure, not needed), each
with its owner and its next review date.

A declaration is never changed in place: every change, every review that confirms it, and its
withdrawal, is a new version; the earlier ones are kept and shown with the fields they changed.
Every write is one transaction with its audit event (``access.guard.guarded``).

A declaration never hides evidence (issue 11): when the measure's check fails, the register
shows the declaration as *contradicted* and the measure as not met (``status.decide``), until the
check passes or the declaration is withdrawn (``withdraw``).
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.access.guard import EventDraft, guarded, require
from secretum.access.policy import Permission
from secretum.audit.models import Action
from secretum.compliance.catalogue import measure_or_404
from secretum.compliance.models import TEXT_MAX, Choice, Declaration
from secretum.compliance.people import acting_user, display_name, display_names, system_name
from secretum.compliance.status import DeclarationView

REVIEW_DEFAULT_DAYS = 365
REVIEW_MAX_DAYS = 3 * 365
JUSTIFICATION_MIN = 10


def declaration_history(measure_id: str | None = None) -> dict[str, list[DeclarationView]]:
    """Every version of every declaration (or of one measure's), oldest first, each with the
    fields it changed. Unchecked: for the register's services."""
    qs = Declaration.objects.order_by("measure", "version")
    if measure_id is not None:
        qs = qs.filter(measure=measure_id)
    rows = list(qs)
    names = display_names(
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
                recorded_by=names.get(r.recorded_by_id or 0, system_name()),
                overdue=r.next_review < today and r.change != Declaration.Change.WITHDRAWN,
                changed_fields=changed,
                withdrawn=r.change == Declaration.Change.WITHDRAWN,
            )
        )
    return out


def current_declaration(measure_id: str) -> DeclarationView | None:
    """The practice's declaration on this measure as it stands (None: none, or withdrawn).
    Unchecked: for the register's services and the evidence checks that read it (B2, K1, L3)."""
    versions = declaration_history(measure_id).get(measure_id)
    return current_of(versions or [])


def current_of(versions: list[DeclarationView]) -> DeclarationView | None:
    """The declaration that stands, from its versions (oldest first)."""
    if not versions or versions[-1].withdrawn:
        return None
    return versions[-1]


def owner_choices(actor: Actor) -> list[tuple[int, str]]:
    """Who may own a measure: the practice's active users."""
    require(actor, Permission.COMPLIANCE_MANAGE, EventDraft(Action.READ, "compliance.Declaration"))
    users = get_user_model().objects.filter(is_active=True).order_by("last_name", "username")
    return [(u.pk, f"{display_name(u)} ({u.username})") for u in users]


def default_next_review() -> dt.date:
    return timezone.localdate() + dt.timedelta(days=REVIEW_DEFAULT_DAYS)


def _check_next_review(next_review: dt.date) -> None:
    today = timezone.localdate()
    if next_review <= today:
        raise ValidationError(_("The next review must be a date after today."))
    if next_review > today + dt.timedelta(days=REVIEW_MAX_DAYS):
        raise ValidationError(_("Review a declaration at least every three years."))


def _check_content(choice: str, justification: str, owner_id: int, next_review: dt.date) -> str:
    """The content of a declaration, checked; its justification, stripped."""
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
    if not get_user_model().objects.filter(pk=owner_id, is_active=True).exists():
        raise ValidationError(_("Choose an owner among the practice's active users."))
    return justification


def _new_version(
    actor: Actor,
    measure_id: str,
    *,
    choice: str,
    justification: str,
    owner_id: int,
    next_review: dt.date,
    change: Declaration.Change,
) -> DeclarationView:
    """Record a new version, ``change`` saying what it is. The content is checked, except for
    a withdrawal, which keeps the content it withdraws as it was."""
    measure = measure_or_404(measure_id)
    latest = Declaration.objects.filter(measure=measure.id).order_by("-version").first()
    standing = latest is not None and latest.change != Declaration.Change.WITHDRAWN
    if change in (Declaration.Change.REVIEWED, Declaration.Change.WITHDRAWN) and not standing:
        require(
            actor, Permission.COMPLIANCE_MANAGE, EventDraft(Action.UPDATE, "compliance.Declaration")
        )
        if change == Declaration.Change.REVIEWED:
            raise ValidationError(_("There is no declaration to review yet."))
        raise ValidationError(_("There is no declaration to withdraw."))
    if change != Declaration.Change.WITHDRAWN:
        justification = _check_content(choice, justification, owner_id, next_review)
    if latest is None:
        change = Declaration.Change.DECLARED
    with guarded(
        actor,
        Permission.COMPLIANCE_MANAGE,
        Action.CREATE if latest is None else Action.UPDATE,
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
                    owner_id=owner_id,
                    next_review=next_review,
                    recorded_at=timezone.now(),
                    recorded_by=acting_user(actor),
                )
        except IntegrityError:  # another manager saved the same measure at the same moment
            raise ValidationError(
                _("This declaration was changed meanwhile: reload the page.")
            ) from None
        history = declaration_history(measure.id)[measure.id]
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
        change=Declaration.Change.CHANGED,
    )


def _again(
    actor: Actor, measure_id: str, change: Declaration.Change, next_review: dt.date | None = None
) -> DeclarationView:
    """A new version with the latest one's content: a review (with its next date) or a
    withdrawal (refused, by ``_new_version``, when no declaration stands)."""
    measure = measure_or_404(measure_id)
    latest = Declaration.objects.filter(measure=measure.id).order_by("-version").first()
    return _new_version(
        actor,
        measure.id,
        choice=latest.choice if latest else "",
        justification=latest.justification if latest else "",
        owner_id=latest.owner_id if latest else 0,
        next_review=next_review or (latest.next_review if latest else timezone.localdate()),
        change=change,
    )


def confirm_review(actor: Actor, measure_id: str, *, next_review: dt.date) -> DeclarationView:
    """The declaration was reviewed and still holds: a new version, same content, next date."""
    return _again(actor, measure_id, Declaration.Change.REVIEWED, next_review)


def withdraw(actor: Actor, measure_id: str) -> DeclarationView:
    """The practice no longer makes its declaration on this measure: a new version says so
    (the earlier ones are kept), and the measure is decided by its evidence alone. This is how
    a declaration that live evidence contradicts stops counting, short of making the check
    pass."""
    return _again(actor, measure_id, Declaration.Change.WITHDRAWN)
