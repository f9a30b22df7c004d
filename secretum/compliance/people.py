"""Who did what, as the registers show it: the person behind a service call and people's names.

Shared by the measures register and the breach register, whose rows name the user who recorded
them (``null`` for Secretum itself: the CLI, the demo data).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from secretum.access.actor import Actor


def acting_user(actor: Actor) -> Any:
    """The user to record as author, or None when the system acts."""
    user = actor.user
    return user if user is not None and user.pk else None


def display_name(user: Any) -> str:
    if user is None:
        return system_name()
    return user.get_full_name() or user.username


def system_name() -> str:
    return str(_("Secretum (system)"))


def display_names(ids: set[int]) -> dict[int, str]:
    """The names of these users, by primary key (a missing one is absent)."""
    return {u.pk: display_name(u) for u in get_user_model().objects.filter(pk__in=ids)}
