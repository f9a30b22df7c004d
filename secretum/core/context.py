from __future__ import annotations

import functools
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.dateparse import parse_datetime

from secretum.access.actor import role_of
from secretum.access.policy import ROLE_LABELS, Permission, Role, allows
from secretum.accounts import drafts
from secretum.lib.continuity import read_marker
from secretum.lib.practice import practice_name


def navigation(request: HttpRequest) -> dict[str, Any]:
    role = role_of(getattr(request, "user", None))  # the role held now (C2)
    writes = not settings.SECRETUM_READ_ONLY
    return {
        "practice_name": practice_name(),  # in the reader's language when unnamed
        "can_search": allows(role, Permission.PATIENT_SEARCH),
        # I5: no link to a form on a continuity copy, where it would only be refused.
        "can_register": writes and allows(role, Permission.PATIENT_IDENTITY_WRITE),
        "can_read_clinical": allows(role, Permission.CLINICAL_READ),
        "can_write_clinical": writes and allows(role, Permission.CLINICAL_WRITE),
        "can_export_clinical": allows(role, Permission.CLINICAL_EXPORT),
        "can_send_mail": writes and allows(role, Permission.MAIL_SEND),  # M1, M3
        "can_correspondents": allows(role, Permission.CORRESPONDENTS_MANAGE),
        "can_prescribe": writes and allows(role, Permission.CLINICAL_SIGN),
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
        "can_retention": allows(role, Permission.RETENTION_READ),
        "can_request_erasure": writes and allows(role, Permission.ERASURE_REQUEST),
        "charter_available": bool(role),
        # E1: seconds until the idle lock; the page hides itself at that moment (secretum.js).
        "idle_lock_in": getattr(request, "idle_lock_in", None),
        "idle_timeout": getattr(request, "idle_timeout", None),
        # E1, issue 16: the typing kept when the lock came, given back once to the page that
        # shows it (called by the template only when it renders the page, at most once however
        # often the template names it: a draft then leaves the session).
        "kept_draft": functools.cache(lambda: drafts.take(request)),
        "role_label": ROLE_LABELS.get(Role(role), "") if role in set(Role) else "",
        "read_only_copy": _read_only_copy(),
    }


def _read_only_copy() -> dict[str, Any] | None:
    """I5: on a continuity copy, the date of the backup it serves (for the banner of every page);
    None on the server itself."""
    if not settings.SECRETUM_READ_ONLY:
        return None
    marker = read_marker(settings.INSTANCE.home) or {}
    return {"backup_at": parse_datetime(str(marker.get("backup_created_at", "")))}
