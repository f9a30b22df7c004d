"""Live evidence of the access measures (C1, G1, H2), for the register."""

from __future__ import annotations

from typing import Any

from django.urls import URLResolver, get_resolver
from django.urls.converters import SlugConverter, UUIDConverter
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from secretum.access import care
from secretum.access.classification import READ_PERMISSION, DataClass
from secretum.access.decorators import declared_permission
from secretum.access.policy import CARE_ROLES, ROLE_PERMISSIONS, Permission, Role
from secretum.access.relationships import policy
from secretum.compliance.evidence import Evidence, evidence, met, not_met

MEDICAL_SCOPE = "clinical:"


def _patterns(patterns: list[Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(route, view, pattern) of every URL pattern."""
    out: list[tuple[str, Any, Any]] = []
    for p in patterns:
        if isinstance(p, URLResolver):
            out += [(prefix + str(p.pattern) + r, v, q) for r, v, q in _patterns(p.url_patterns)]
        else:  # a URLPattern: Django's URL lists hold nothing else
            out.append((prefix + str(p.pattern), p.callback, p.pattern))
    return out


@evidence("C1")
def role_profiles() -> Evidence:
    """Administrative and medical data are separated by role; medical fields need the clinical
    read permission."""
    problems = []
    for role in Role:
        held = ROLE_PERMISSIONS.get(role, frozenset())
        medical = sorted(p.value for p in held if p.value.startswith(MEDICAL_SCOPE))
        if role not in CARE_ROLES and medical:
            problems.append(
                _("the %(role)s role holds %(perms)s")
                % {"role": role.value, "perms": ", ".join(medical)}
            )
    if READ_PERMISSION.get(DataClass.MEDICAL) != Permission.CLINICAL_READ:
        problems.append(_("medical fields do not require the clinical read permission"))
    if problems:
        return not_met(
            _("Medical data are not reserved to practitioners and nurses: %(what)s.")
            % {"what": "; ".join(problems)},
            _(
                "Restore secretum/access/policy.py: only practitioners and nurses hold clinical "
                "permissions."
            ),
        )
    overdue = care.overdue_reviews()
    if overdue:
        return not_met(
            ngettext(
                "%(n)d emergency access (break the glass) has waited more than %(days)d days "
                "for the auditor's review.",
                "%(n)d emergency accesses (break the glass) have waited more than %(days)d days "
                "for the auditor's review.",
                overdue,
            )
            % {"n": overdue, "days": care.REVIEW_OVERDUE_DAYS},
            _("The auditor reviews them under Emergency accesses."),
        )
    practice = policy()
    if practice.shared_record:
        basis = _(
            "every practitioner and nurse reads every record of the practice (a shared record: the "
            "practice's choice, recorded in the audit log)"
        )
    else:
        basis = _(
            "a practitioner or a nurse reads a medical record only within a care relationship "
            "(it ends after %(months)d months without contact); a practitioner may also break the "
            "glass (%(hours)d hours, with a reason the auditor reviews)"
        ) % {"months": practice.relationship_months, "hours": practice.glass_hours}
    return met(
        _(
            "%(n)d roles; only practitioners and nurses hold medical permissions: secretaries see "
            "identities and the agenda; managers, auditors, IT maintainers and outside technicians "
            "no patient data; %(basis)s."
        )
        % {"n": len(Role), "basis": basis}
    )


@evidence("G1")
def declared_permissions() -> Evidence:
    """Every page declares who may use it; administration pages need a manager's permission."""
    routes = _patterns(get_resolver().url_patterns)
    undeclared = sorted(r for r, view, _p in routes if declared_permission(view) is None)
    if undeclared:
        return not_met(
            ngettext(
                "%(n)d page declares no permission.",
                "%(n)d pages declare no permission.",
                len(undeclared),
            )
            % {"n": len(undeclared)},
            _("Declare a permission on each of these views (they are refused meanwhile)."),
            *undeclared,
        )
    admin = sum(
        1
        for _r, view, _p in routes
        if declared_permission(view) in (Permission.USERS_MANAGE, Permission.SETTINGS_MANAGE)
    )
    return met(
        _(
            "%(n)d pages, each declaring its permission (deny by default); the %(a)d "
            "administration pages are for managers only."
        )
        % {"n": len(routes), "a": admin}
    )


@evidence("H2")
def opaque_urls() -> Evidence:
    """Routes take only opaque identifiers (uuid) and kinds (slug); searches are posted."""
    wrong = []
    for route, _view, pattern in _patterns(get_resolver().url_patterns):
        converters = getattr(pattern, "converters", {})
        if any(not isinstance(c, UUIDConverter | SlugConverter) for c in converters.values()):
            wrong.append(route)
        if (
            getattr(pattern, "regex", None) is not None
            and "(?P<" in pattern.regex.pattern
            and (not converters)
        ):
            wrong.append(route)
    if wrong:
        return not_met(
            _("Some addresses take identifiers other than opaque references."),
            _("Use <uuid:…> or <slug:…> in these routes, and POST for searches."),
            *sorted(set(wrong)),
        )
    return met(
        _(
            "Every address takes only opaque references (uuid) or kinds (slug); searches are "
            "posted; the access log omits query strings."
        )
    )
