"""Keeping permissions current (C2): a role is given for a period.

* A role applies from ``role_starts_at`` until ``role_ends_at`` (sealed with the user row).
  ``access.actor.role_of`` alone decides whether it applies, at every request and every check:
  a role past its end stops at the next request, an open session included (the access
  middleware ends it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.access.policy import Role
from secretum.accounts import integrity, services
from secretum.audit.models import Action

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
    from the user's next request. A manager cannot change their own role (nor end it)."""
    user = services.managed_user(actor, user_id, "update")
    if user == actor.user:
        raise ValidationError(_("You cannot change your own role."))
    if not integrity.checked(user, actor.source):
        # A new seal would make the values written outside Secretum valid (accounts.integrity).
        raise ValidationError(_("This account was altered outside Secretum: it cannot be changed."))
    changed = user.give_role(role, starts_at, ends_at)
    if changed:
        with transaction.atomic():
            user.save(update_fields=["role", "role_starts_at", "role_ends_at"])
            services.account_event(
                actor,
                Action.UPDATE,
                "accounts.User",
                ref=user.pk,
                detail={"change": "role", "changed": changed},
            )
    return changed
