"""Evidence of the access measures (C1, F1, F4, G1, H2), for the register.

C1 has two proofs: the separation of medical data by role is a property of the code (by
construction: ``access/policy.py`` and ``access/classification.py``, proven by the tests named
below), and who may open a medical record now (care relationships, the practice's shared-record
choice, emergency accesses the auditor must review) is the installation's live state. G1 and
the opaque routes of H2 are properties of the code; H2's access log is checked live in
``core/evidence.py``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.urls import URLResolver, get_resolver
from django.urls.converters import SlugConverter, UUIDConverter
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from secretum.access import care, networks
from secretum.access.classification import READ_PERMISSION, DataClass
from secretum.access.decorators import declared_permission
from secretum.access.policy import CARE_ROLES, ROLE_PERMISSIONS, Permission, Role
from secretum.access.relationships import policy
from secretum.compliance.evidence import Evidence, Proof, evidence, met, not_met
from secretum.lib.networks import Network, NetworkPolicy, too_broad

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


# --- allowed networks (F1, F4) -----------------------------------------------------------------

# Documentation addresses (RFC 5737, RFC 3849): no practice's network holds them, so one of them
# stands for "somewhere else" when the middleware is put to the test.
OUTSIDE_PROBES = ("192.0.2.1", "198.51.100.1", "203.0.113.1", "2001:db8::1")
REFUSALS_WINDOW_DAYS = 30


def _answer(address: str) -> int:
    """The status the network check gives a login page request from ``address`` (nothing is
    recorded: a check never writes)."""
    from django.http import HttpResponse
    from django.test import RequestFactory

    request = RequestFactory().get("/accounts/login/", REMOTE_ADDR=address)
    check = networks.ClientNetworkMiddleware(lambda r: HttpResponse(), record=False)
    return check(request).status_code


def _network_state() -> tuple[NetworkPolicy | None, list[str]]:
    """The policy the settings give (None when one is not a network), and why it is not enforced
    as it should be: the middleware's place, networks too broad, and the middleware itself put to
    the test with an address outside and one inside."""
    from django.conf import settings

    try:
        rules = networks.policy()
    except ValueError as exc:
        return None, [str(exc)]
    if not rules.configured:
        return rules, []
    problems = []
    chain = list(settings.MIDDLEWARE)
    session = "django.contrib.sessions.middleware.SessionMiddleware"
    if networks.MIDDLEWARE not in chain or (
        session in chain and chain.index(networks.MIDDLEWARE) > chain.index(session)
    ):
        problems.append(_("the check is not in the request chain before the session"))
    broad = [str(n) for n in (*rules.allowed, *rules.remote) if too_broad(n)]
    if broad:
        problems.append(
            _("%(networks)s hold addresses of people outside the practice")
            % {"networks": ", ".join(broad)}
        )
    outside = next((a for a in OUTSIDE_PROBES if not rules.permits(a)), None)
    if outside is None:
        problems.append(_("even the documentation addresses are let in"))
    elif _answer(outside) != 403:
        problems.append(_("a request from %(address)s was not refused") % {"address": outside})
    return rules, problems


def _network_failure(unconfigured: str) -> tuple[NetworkPolicy, Evidence | None]:
    """F1 and F4 fail alike: nothing configured (``unconfigured`` says what that means for the
    measure), or configured but not enforced as it should be."""
    rules, problems = _network_state()
    if rules is not None and not rules.configured:
        return rules, not_met(unconfigured, _networks_action())
    if rules is None or problems:
        return NetworkPolicy(), not_met(
            _("The allowed networks are not enforced as they should be: %(what)s.")
            % {"what": "; ".join(problems)},
            _networks_action(),
        )
    return rules, None


def _recorded_refusals() -> str:
    from django.utils import timezone

    from secretum.audit.models import AuditEvent, Outcome

    since = timezone.now() - dt.timedelta(days=REFUSALS_WINDOW_DAYS)
    n = AuditEvent.objects.filter(
        resource=networks.REASON, outcome=Outcome.DENIED, at__gte=since
    ).count()
    return ngettext(
        "%(n)d refusal of an address outside them recorded in the last %(days)d days (at most "
        "one a minute per address).",
        "%(n)d refusals of addresses outside them recorded in the last %(days)d days (at most "
        "one a minute per address).",
        n,
    ) % {"n": n, "days": REFUSALS_WINDOW_DAYS}


def _networks_named(found: tuple[Network, ...]) -> str:
    return ", ".join(str(n) for n in found)


def _networks_action() -> str:
    return _(
        "Set SECRETUM_ALLOWED_NETWORKS to the practice's networks and SECRETUM_REMOTE_NETWORKS to "
        "the VPN's address range (README, Configuration), then restart Secretum."
    )


@evidence("F1", proof=Proof.LIVE)
def allowed_networks() -> Evidence:
    """F1: only the practice's networks (and its VPN) reach Secretum: the setting, the
    middleware's place before the session, and the middleware refusing an outside address."""
    rules, failed = _network_failure(
        _(
            "No allowed networks are configured: every address that reaches the server may use "
            "Secretum, from any device."
        )
    )
    if failed is not None:
        return failed
    said = {"allowed": _networks_named(rules.allowed), "remote": _networks_named(rules.remote)}
    if rules.allowed and rules.remote:
        summary = _(
            "Only the practice's networks (%(allowed)s) and its VPN (%(remote)s) reach Secretum; "
            "any other address is refused before any page, the login included."
        )
    elif rules.allowed:
        summary = _(
            "Only the practice's networks (%(allowed)s) reach Secretum; any other address is "
            "refused before any page, the login included."
        )
    else:
        summary = _(
            "Only the VPN (%(remote)s) reaches Secretum; any other address is refused before any "
            "page, the login included."
        )
    return met(summary % said, _recorded_refusals())


@evidence("F4", proof=Proof.LIVE)
def remote_access_through_vpn() -> Evidence:
    """F4: a device away from the practice reaches Secretum only through the VPN's range, or not
    at all; the same enforcement as F1."""
    rules, failed = _network_failure(
        _(
            "No allowed networks are configured: a device away from the practice reaches "
            "Secretum from anywhere, without the VPN."
        )
    )
    if failed is not None:
        return failed
    if rules.remote:
        return met(
            _(
                "Remote access only through the VPN (%(remote)s): any other address outside the "
                "practice's networks is refused."
            )
            % {"remote": _networks_named(rules.remote)}
        )
    return met(
        _(
            "Remote access is refused: only the practice's networks (%(allowed)s) reach Secretum "
            "(no VPN range is configured)."
        )
        % {"allowed": _networks_named(rules.allowed)}
    )
