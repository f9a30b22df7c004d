"""The acting person behind every service call: who, in which role, from where, and why.

A user's role is decided in one place, :func:`role_of` (C2): a role applies from its start until
its end, and outside those dates it holds no permission. Every request asks it
(``Actor.from_request``, through the access middleware), every actor made for a user asks it
(``Actor.for_user``), and ``Actor.may`` asks it again at each check: a role that ended an instant
ago, or a role written into an actor by hand, grants nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.utils import timezone

from secretum.access.policy import CARE_ROLES, Permission, allows

if TYPE_CHECKING:
    from django.http import HttpRequest

# The name the audit log gives an actor with no user: a command of the instance's owner, or a
# request of no one signed in (refused from outside the allowed networks, F1).
SYSTEM = "system"


class Purpose(StrEnum):
    CARE = "care"
    ADMINISTRATION = "administration"
    MAINTENANCE = "maintenance"
    # Emergency access outside a care relationship; its reason goes in the audit event (D2).
    BREAK_THE_GLASS = "break-the-glass"
    # J1: an archived record read under an archive grant; its reason goes in the audit event.
    ARCHIVE = "archive"


def role_of(user: Any, at: dt.datetime | None = None) -> str | None:
    """The role ``user`` holds at ``at`` (now), or None: no user, no role given, a role not yet
    started (``role_starts_at``) or already ended (``role_ends_at``, excluded) (C2). The dates
    are the sealed ones of the user row (``accounts.models.User.SEALED_FIELDS``)."""
    role = getattr(user, "role", None) or None
    if role is None:
        return None
    now = at or timezone.now()
    starts = getattr(user, "role_starts_at", None)
    ends = getattr(user, "role_ends_at", None)
    if (starts is not None and now < starts) or (ends is not None and now >= ends):
        return None
    return str(role)


class AccessDenied(PermissionDenied):
    """The actor lacks the permission. Services raise it; views turn it into a 403."""


@dataclass(frozen=True)
class Actor:
    user: Any  # accounts.User, or None for the system itself (CLI, demo data)
    role: str | None
    source: str = ""
    request_id: str = ""
    purpose: Purpose = Purpose.CARE

    @property
    def name(self) -> str:
        return self.user.username if self.user is not None else SYSTEM

    def may(self, permission: Permission) -> bool:
        if self.user is None:
            return True  # the system actor: CLI commands run by the instance's owner
        # C2: the role is decided again at each check (role_of), not only when the actor was made.
        return self.role == role_of(self.user) and allows(self.role, permission)

    @classmethod
    def for_user(
        cls, user: Any, source: str = "", request_id: str = "", purpose: Purpose = Purpose.CARE
    ) -> Actor:
        """``user`` acting now, in the role they hold now (``role_of``)."""
        return cls(user, role_of(user), source, request_id, purpose)

    @classmethod
    def from_request(cls, request: HttpRequest) -> Actor:
        """The request's user, in the role they hold at this request (C2)."""
        user = request.user
        role = role_of(user)
        return cls(
            user=user,
            role=role,
            source=request.META.get("REMOTE_ADDR", ""),
            request_id=getattr(request, "request_id", ""),
            purpose=Purpose.CARE if role in CARE_ROLES else Purpose.ADMINISTRATION,
        )

    @classmethod
    def system(cls, purpose: Purpose = Purpose.MAINTENANCE) -> Actor:
        return cls(user=None, role=None, source="cli", purpose=purpose)
