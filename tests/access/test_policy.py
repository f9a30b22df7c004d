"""Deny by default (G1), one permission table (C1), views only through services."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from django.http import HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver, path

from secretum import urls as site_urls
from secretum.access.decorators import PUBLIC, declared_permission
from secretum.access.policy import ROLE_PERMISSIONS, Permission, Role, allows
from tests.conftest import client_for

SECRETUM = Path(__file__).resolve().parents[2] / "secretum"
# The only views that anyone may reach without logging in.
EXPECTED_PUBLIC = {
    "accounts:login", "accounts:verify", "accounts:verify_webauthn_options",
    "accounts:verify_webauthn", "accounts:enrol", "accounts:enrol_factors",
    "accounts:enrol_password", "healthz", "favicon", "set_language",
    # The external identity provider: start, the return from the provider, its continuation.
    "accounts:oidc_start", "accounts:oidc_callback", "accounts:oidc_complete",
}  # fmt: skip


def _walk(patterns: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{p.namespace}:" if p.namespace else prefix
            out += _walk(p.url_patterns, ns)
        elif isinstance(p, URLPattern):
            out.append((f"{prefix}{p.name}", p.callback))
    return out


def test_every_url_pattern_declares_a_permission() -> None:
    patterns = _walk(get_resolver().url_patterns)
    assert len(patterns) >= 15
    undeclared = [name for name, view in patterns if declared_permission(view) is None]
    assert undeclared == [], f"views without a declared permission: {undeclared}"


def test_only_the_expected_views_are_public() -> None:
    public = {n for n, v in _walk(get_resolver().url_patterns) if declared_permission(v) == PUBLIC}
    assert public == EXPECTED_PUBLIC


def undeclared_view(request: Any) -> HttpResponse:
    return HttpResponse("Xylo-undeclared-payload")


# The site's own routes, plus one view that forgot to declare its permission.
urlpatterns = [path("undeclared/", undeclared_view), *site_urls.urlpatterns]


@pytest.mark.urls("tests.access.test_policy")
def test_a_view_without_permission_is_refused_even_to_a_practitioner(practitioner: Any) -> None:
    response = client_for(practitioner).get("/undeclared/")
    assert response.status_code == 403
    assert b"Xylo-undeclared-payload" not in response.content


def test_secretary_holds_no_medical_permission() -> None:
    """C1: administrative and medical data are separated by role."""
    assert not allows(Role.SECRETARY, Permission.CLINICAL_READ)
    assert not allows(Role.SECRETARY, Permission.CLINICAL_WRITE)
    assert allows(Role.SECRETARY, Permission.PATIENT_IDENTITY_READ)
    assert allows(Role.PRACTITIONER, Permission.CLINICAL_READ)


def test_manager_auditor_and_maintainer_see_no_patient_data() -> None:
    for role in (Role.MANAGER, Role.AUDITOR, Role.MAINTAINER):
        held = ROLE_PERMISSIONS[role]
        assert not any(p.value.startswith(("patients:", "clinical:", "scheduling:")) for p in held)


def test_unknown_role_holds_nothing() -> None:
    assert not allows("superhero", Permission.SESSION_OWN)
    assert not allows(None, Permission.SESSION_OWN)


PATIENT_MODULES = ("patients.models", "clinical.models", "scheduling.models", "audit.models")


def test_no_view_reads_patient_models_directly() -> None:
    """Every access to patient data goes through a service (authorisation, audit, decryption)."""
    offenders = []
    for views in SECRETUM.rglob("*views.py"):  # views.py, and e.g. accounts/enrol_views.py
        tree = ast.parse(views.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.endswith(PATIENT_MODULES) or (
                    name.endswith(".models") and "secretum" in name
                ):
                    offenders.append(f"{views.relative_to(SECRETUM)}: {name}")
            if isinstance(node, ast.Attribute) and node.attr == "objects":
                offenders.append(f"{views.relative_to(SECRETUM)}: .objects at line {node.lineno}")
    assert offenders == []
