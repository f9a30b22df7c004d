"""Keeping permissions current (C2): a role is given for a period, an unused account is disabled,
and the manager sees what ended, what is about to, and which accounts are close to the limit.

* A role applies from ``role_starts_at`` until ``role_ends_at`` (sealed with the user row).
  ``access.actor.role_of`` alone decides whether it applies, at every request and every check:
  a role past its end stops at the next request, an open session included (the access
  middleware ends it).
* An account is unused when nobody signed in to it since the latest of its last login, its
  creation and the last time a manager enabled it again. One unused for the practice's
  ``inactive_days`` (30 to 365, default 90) is disabled, really (``is_active`` off, every session
  ended), by ``secretum accounts disable-inactive``, which ``secretum serve`` runs once a day;
  each disabling is an audit event with its reason. The last active manager is never disabled
  this way: the practice would have nobody left to enable an account again. The run and the
  report say so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import Actor, role_of
from secretum.access.guard import EventDraft, require
from secretum.access.policy import ROLE_LABELS, Permission, Role
from secretum.accounts import integrity, services
from secretum.audit.models import Action
from secretum.crypto.rows import intact

# The report lists the roles that ended or end within SOON_DAYS, and the accounts that reach the
# inactivity limit within NEAR_DAYS (the shortest limit is 30 days: "near" must be less).
SOON_DAYS = 30
NEAR_DAYS = 14
INACTIVE = "inactive"  # User.disabled_reason of an account disabled by the run


def unused_since(user: Any) -> dt.datetime:
    """Since when nobody signed in to the account: its last login, its creation or its last
    re-enabling, whichever is latest."""
    return max(m for m in (user.last_login, user.date_joined, user.enabled_at) if m is not None)


def limit_at(user: Any, days: int) -> dt.datetime:
    """When the account reaches the inactivity limit of ``days``."""
    return unused_since(user) + dt.timedelta(days=days)


# --- roles given for a period -----------------------------------------------------------------


def change_role(
    actor: Actor,
    user_id: int,
    role: Role,
    starts_at: dt.datetime | None = None,
    ends_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The manager gives ``user_id`` a role (or the same one) from ``starts_at`` until
    ``ends_at``; without a start, a new role starts now and the same role keeps its start. What
    changed, audited as ``{field: [before, after]}``; nothing changed, nothing written. Applies
    from the user's next request. A manager cannot change their own role (nor end it). An outside
    technician's role is a maintenance window (K2): it is neither given, changed nor extended
    here, only opened and closed under Maintenance access (``maintenance.windows``)."""
    with services.managing(actor, user_id, "role") as (user, draft):
        # One gate, one read of the account, one check of its seal (``services._account``): an
        # account altered outside Secretum is refused, a new seal would make its values valid.
        if user == actor.user:
            raise ValidationError(_("You cannot change your own role."))
        if Role.TECHNICIAN in (user.role, role):
            raise ValidationError(
                _(
                    "An outside technician's access is a maintenance window: open a new one, or "
                    "close it, under Maintenance access (K2)."
                )
            )
        changed = user.give_role(role, starts_at, ends_at)
        if not changed:
            draft.unchanged()  # nothing written, nothing to audit
        else:
            user.save(update_fields=["role", "role_starts_at", "role_ends_at"])
            draft.detail["changed"] = changed
    return changed


# --- unused accounts --------------------------------------------------------------------------


@dataclass
class InactivityRun:
    """What one run of the inactivity rule did."""

    days: int
    disabled: list[Any] = field(default_factory=list)
    spared: list[Any] = field(default_factory=list)  # the last active manager, past the limit
    altered: list[Any] = field(default_factory=list)  # refused rows, left as found


def _current_managers(users: list[Any], now: dt.datetime) -> set[int]:
    return {u.pk for u in users if role_of(u, now) == Role.MANAGER}


def _another_manager(user: Any, now: dt.datetime) -> bool:
    """Another active, intact account holds the manager's role now; their rows stay locked until
    the caller's transaction ends, so that two runs at once cannot disable the last two."""
    others = get_user_model().objects.select_for_update().filter(is_active=True, role=Role.MANAGER)
    return any(role_of(u, now) == Role.MANAGER and intact(u) for u in others.exclude(pk=user.pk))


def disable_inactive(actor: Actor | None = None) -> InactivityRun:
    """Disable every active account unused for the practice's ``inactive_days``, oldest first,
    except the last active manager; each disabling ends the account's sessions and is audited
    with its reason. A second run finds nothing more to do."""
    actor = actor or Actor.system()
    days = services.practice_settings().inactive_days
    now = timezone.now()
    run = InactivityRun(days)
    User = get_user_model()
    active: list[Any] = []
    for user in User.objects.filter(is_active=True):
        # A row altered outside Secretum is left as found: saving it would seal what the
        # attacker wrote (accounts.integrity); it is refused at every login anyway.
        (active if integrity.checked(user, actor.source) else run.altered).append(user)
    # Oldest first: of two managers past the limit, the one used more recently stays.
    due = sorted((u for u in active if limit_at(u, days) <= now), key=unused_since)
    for user in due:
        with transaction.atomic():
            # The row again, locked: a login or a manager may have changed it since the list.
            fresh = User.objects.select_for_update().filter(pk=user.pk, is_active=True).first()
            if fresh is None or limit_at(fresh, days) > now:
                continue
            if role_of(fresh, now) == Role.MANAGER and not _another_manager(fresh, now):
                run.spared.append(fresh)
                continue
            fresh.save(update_fields=fresh.switch_active(False, INACTIVE))
            services.account_event(
                actor,
                Action.UPDATE,
                "accounts.User",
                ref=fresh.pk,
                detail={
                    "change": "disabled",
                    "reason": INACTIVE,
                    "inactive_days": days,
                    "unused_since": unused_since(fresh).date().isoformat(),
                },
            )
            services.end_all_sessions(fresh, reason="disabled-inactive")
        run.disabled.append(fresh)
    return run


# --- the manager's report ---------------------------------------------------------------------


@dataclass(frozen=True)
class AccountLine:
    username: str
    name: str
    role: str
    when: dt.datetime  # the moment the line is about (see each list)
    days: int  # days from now to ``when`` (negative: past)


@dataclass(frozen=True)
class PermissionsReport:
    inactive_days: int
    soon_days: int
    near_days: int
    disabled: list[AccountLine]  # disabled for inactivity: ``when`` they were
    roles_ending: list[AccountLine]  # active accounts whose role ended or ends soon: ``when``
    near_limit: list[AccountLine]  # active accounts near (or past) the limit: ``when`` reached
    spared: list[str]  # past the limit but the last active manager: user names


def _role_label(role: str) -> str:
    return str(ROLE_LABELS[Role(role)]) if role in set(Role) else _("no role")


def _line(user: Any, when: dt.datetime, now: dt.datetime) -> AccountLine:
    return AccountLine(
        user.username,
        user.get_full_name(),
        _role_label(user.role),
        when,
        (timezone.localdate(when) - timezone.localdate(now)).days,
    )


def report() -> PermissionsReport:
    """The report's contents; its callers check the reader's permission (``permissions_report``,
    and the yearly access review, ``compliance.access_review``)."""
    now = timezone.now()
    days = services.practice_settings().inactive_days
    soon, near_at = now + dt.timedelta(days=SOON_DAYS), now + dt.timedelta(days=NEAR_DAYS)
    users: list[Any] = list(get_user_model().objects.order_by("username"))
    active = [u for u in users if u.is_active]
    managers = _current_managers(active, now)
    disabled = sorted(
        (u for u in users if not u.is_active and u.disabled_reason == INACTIVE),
        key=lambda u: u.disabled_at or now,
        reverse=True,
    )
    ending = sorted(
        (u for u in active if u.role_ends_at is not None and u.role_ends_at <= soon),
        key=lambda u: u.role_ends_at,
    )
    near = sorted(
        (u for u in active if limit_at(u, days) <= near_at),
        key=lambda u: limit_at(u, days),
    )
    return PermissionsReport(
        inactive_days=days,
        soon_days=SOON_DAYS,
        near_days=NEAR_DAYS,
        disabled=[_line(u, u.disabled_at or now, now) for u in disabled],
        roles_ending=[_line(u, u.role_ends_at, now) for u in ending],
        near_limit=[_line(u, limit_at(u, days), now) for u in near],
        spared=[u.username for u in near if limit_at(u, days) <= now and managers == {u.pk}],
    )


def permissions_report(actor: Actor) -> PermissionsReport:
    """The manager's report (C2): accounts disabled for inactivity, roles ended or ending within
    30 days, accounts within 14 days of the inactivity limit (or past it: the last manager)."""
    require(actor, Permission.USERS_MANAGE, EventDraft(Action.READ, "accounts.User"))
    return report()
