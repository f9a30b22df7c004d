from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from secretum.access.actor import role_of
from secretum.access.policy import ROLE_LABELS, Permission, Role, allows

# What ``SECRETUM_PRACTICE_NAME`` defaults to (settings.py) when the practice gave no name: that
# default is shown in the reader's language, not in French in every language (issue 16).
UNNAMED_PRACTICE = "Cabinet médical"


def practice_name() -> str | Promise:
    """The practice's name as configured, or the translated words for "medical practice"."""
    name = settings.PRACTICE_NAME
    return _("Medical practice") if name in ("", UNNAMED_PRACTICE) else name


def navigation(request: HttpRequest) -> dict[str, Any]:
    role = role_of(getattr(request, "user", None))  # the role held now (C2)
    return {
        "practice_name": practice_name(),
        "can_search": allows(role, Permission.PATIENT_SEARCH),
        "can_register": allows(role, Permission.PATIENT_IDENTITY_WRITE),
        "can_read_clinical": allows(role, Permission.CLINICAL_READ),
        "can_write_clinical": allows(role, Permission.CLINICAL_WRITE),
        "can_agenda": allows(role, Permission.APPOINTMENT_READ),
        "can_audit": allows(role, Permission.AUDIT_READ),
        "can_manage_users": allows(role, Permission.USERS_MANAGE),
        "can_manage_settings": allows(role, Permission.SETTINGS_MANAGE),
        "can_compliance": allows(role, Permission.COMPLIANCE_READ),
        "can_review_access": allows(role, Permission.ACCESS_REVIEW),
        "can_declare_care": allows(role, Permission.CARE_DECLARE),
        "can_break_glass": allows(role, Permission.GLASS_BREAK),
        "can_maintenance": allows(role, Permission.MAINTENANCE_LOG_READ),
        "can_record_maintenance": allows(role, Permission.MAINTENANCE_LOG_WRITE),
        "charter_available": bool(role),
        # E1: seconds until the idle lock; the page hides itself at that moment (secretum.js).
        "idle_lock_in": getattr(request, "idle_lock_in", None),
        "role_label": ROLE_LABELS.get(Role(role), "") if role in set(Role) else "",
    }
