"""Evidence of the access measures (C1, G1, H2), for the register.

C1 has two proofs: the separation of medical data by role is a property of the code (by
construction: ``access/policy.py`` and ``access/classification.py``, proven by the tests named
below), and who may open a medical record now (care relationships, the practice's shared-record
choice, emergency accesses the auditor must review) is the installation's live state. G1 and
the opaque routes of H2 are properties of the code; H2's access log is checked live in
``core/evidence.py``."""

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
from secretum.compliance.evidence import Evidence, Proof, evidence, met, not_met

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


@evidence(
    "C1",
    proof=Proof.BY_CONSTRUCTION,
    tests=(
        "tests/access/test_policy.py::test_secretary_holds_no_medical_permission",
        "tests/access/test_policy.py::test_manager_auditor_and_maintainer_see_no_patient_data",
        "tests/access/test_matrix.py::test_reads_follow_the_classification",
        "tests/access/test_fields.py::"
        "test_a_medical_field_is_never_opened_for_a_role_without_medical_access",
    ),
)
def role_separation() -> Evidence:
    """C1: administrative and medical data are separated by role; medical fields need the
    clinical read permission (the permission table and the classification, in the code)."""
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
    return met(
        _(
            "%(n)d roles; only practitioners and nurses hold medical permissions: secretaries see "
            "identities and the agenda; managers, auditors, IT maintainers and outside technicians "
            "no patient data."
        )
        % {"n": len(Role)}
    )


@evidence("C1", proof=Proof.LIVE)
def role_profiles() -> Evidence:
    """C1: who may open a medical record in this practice now (its care-relationship settings
    or shared record), and no emergency access left unreviewed by the auditor."""
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
        _("In this practice, %(basis)s; no emergency access waits for review.") % {"basis": basis}
    )


@evidence(
    "G1",
    proof=Proof.BY_CONSTRUCTION,
    tests=(
        "tests/access/test_policy.py::test_every_url_pattern_declares_a_permission",
        "tests/access/test_policy.py::"
        "test_a_view_without_permission_is_refused_even_to_a_practitioner",
        "tests/access/test_matrix.py::test_every_url_has_a_row",
    ),
)
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


@evidence(
    "H2",
    proof=Proof.BY_CONSTRUCTION,
    tests=(
        "tests/patients/test_views.py::test_url_patterns_take_only_opaque_identifiers",
        "tests/patients/test_views.py::test_search_is_posted_so_no_identifier_reaches_a_url",
    ),
)
def opaque_urls() -> Evidence:
    """H2: routes take only opaque identifiers (uuid) and kinds (slug); searches are posted."""
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
        _("Every address takes only opaque references (uuid) or kinds (slug); searches are posted.")
    )
