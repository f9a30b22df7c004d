"""The acting person behind every service call: who, in which role, from where, and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied

from secretum.access.policy import Permission, allows

if TYPE_CHECKING:
    from django.http import HttpRequest


class Purpose(StrEnum):
    CARE = "care"
    ADMINISTRATION = "administration"
    MAINTENANCE = "maintenance"
    # Emergency access outside a care relationship; its reason goes in the audit event (D2).
    BREAK_THE_GLASS = "break-the-glass"


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
        return self.user.username if self.user is not None else "system"

    def may(self, permission: Permission) -> bool:
        if self.user is None:
            return True  # the system actor: CLI commands run by the instance's owner
        return allows(self.role, permission)

    @classmethod
    def from_request(cls, request: HttpRequest) -> Actor:
        user = request.user
        return cls(
            user=user,
            role=getattr(user, "role", None),
            source=request.META.get("REMOTE_ADDR", ""),
            request_id=getattr(request, "request_id", ""),
            purpose=Purpose.CARE
            if getattr(user, "role", "") == "practitioner"
            else Purpose.ADMINISTRATION,
        )

    @classmethod
    def system(cls, purpose: Purpose = Purpose.MAINTENANCE) -> Actor:
        return cls(user=None, role=None, source="cli", purpose=purpose)
