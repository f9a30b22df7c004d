"""The one gate (C1, D1): permission, transaction and audit event around every access."""

from __future__ import annotations

from typing import Any

import pytest
from django.views import View

from secretum.access.actor import AccessDenied, Actor
from secretum.access.decorators import declared_gates, declared_permission, requires
from secretum.access.policy import Permission, Role
from secretum.compliance import printing as compliance
from secretum.compliance.models import PrintLog
from tests.conftest import actor_for, events, make_user


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


def test_a_change_that_changes_nothing_writes_no_event_and_only_a_change_may(
    practitioner: Any, record: str
) -> None:
    """D1: a change block that finds nothing to change (``unchanged``) ends without a "success"
    event, and writes nothing else; a failure after it is still audited. A read, a search, a
    print, an export, or a change on a patient's medical record (opened on a care basis) is
    always recorded: asking for silence there fails, and the failure is the event."""
    from secretum.access.guard import guarded
    from secretum.audit.models import Action, AuditEvent

    manager = actor_for(make_user(Role.MANAGER))
    before = AuditEvent.objects.count()
    with guarded(manager, Permission.USERS_MANAGE, Action.UPDATE, "test.Guard") as draft:
        draft.unchanged()
    assert AuditEvent.objects.count() == before  # nothing written at all

    with (
        pytest.raises(ValueError),
        guarded(manager, Permission.USERS_MANAGE, Action.UPDATE, "test.Guard") as draft,
    ):
        draft.unchanged()
        raise ValueError("broken after all")
    (failed,) = events(resource="test.Guard")
    assert failed.outcome == "failure" and '"error":"ValueError"' in failed.detail

    for action in (Action.READ, Action.SEARCH, Action.PRINT, Action.EXPORT, Action.SEND):
        with (
            pytest.raises(RuntimeError, match="always recorded"),
            guarded(manager, Permission.USERS_MANAGE, action, "test.Guard") as draft,
        ):
            draft.unchanged()
        assert events(resource="test.Guard", action=action)[-1].outcome == "failure"
    doctor = actor_for(practitioner)
    with (
        pytest.raises(RuntimeError, match="always recorded"),
        guarded(
            doctor, Permission.CLINICAL_WRITE, Action.UPDATE, "test.Chart", patient_ref=record
        ) as draft,
    ):
        assert draft.basis is not None and draft.basis.kind == "relationship"
        draft.unchanged()
    (refused,) = events(resource="test.Chart")
    assert refused.outcome == "failure" and refused.patient_ref == record
