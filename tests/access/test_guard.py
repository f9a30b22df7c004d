"""The one gate (C1, D1): permission, transaction and audit event around every access."""

from __future__ import annotations

from typing import Any

import pytest
from django.views import View

from secretum.access.actor import AccessDenied, Actor
from secretum.access.decorators import declared_gates, declared_permission, requires
from secretum.access.policy import Permission
from secretum.compliance import printing as compliance
from secretum.compliance.models import PrintLog
from tests.conftest import events


def test_a_refusal_inside_the_gate_is_audited_and_leaves_nothing(patient: Any) -> None:
    """D1: a refusal raised inside a guarded block (here a print asked by the system, which is
    no person to hold the paper) is an audit event like any failure, and what the block wrote
    is rolled back."""
    with pytest.raises(AccessDenied, match="made by a person"):
        compliance.print_patient_summary(Actor.system(), patient.uid)
    (refused,) = events(action="print")
    assert refused.outcome == "failure" and refused.patient_ref == str(patient.uid)
    assert '"error":"AccessDenied"' in refused.detail
    assert not PrintLog.objects.exists()


def test_a_class_based_view_declared_on_its_class_is_refused() -> None:
    """G1, deny by default: only what the view function carries counts. A declaration on the
    class of a class-based view is not copied by as_view(), so that view serves nobody."""

    @requires(Permission.SESSION_OWN)
    class Declared(View):
        pass

    view = Declared.as_view()
    assert declared_permission(view) is None and declared_gates(view) == frozenset()
