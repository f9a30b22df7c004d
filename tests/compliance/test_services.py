"""The register's services: statuses, declarations kept with their history and audited,
documents sealed, the practice's hosting profile, and who may do what."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from secretum.access.actor import AccessDenied
from secretum.access.policy import Role
from secretum.breaches import services as breaches
from secretum.compliance import (
    access_review,
    catalogue,
    declarations,
    documents,
    register,
    reminders,
)
from secretum.compliance.models import AppendOnlyError, Declaration, EvidenceDocument
from tests.conftest import actor_for, events, make_user

NEXT_YEAR = dt.date.today() + dt.timedelta(days=365)


def _declare(manager: Any, measure: str = "E5", **kw: Any) -> Any:
    values = {
        "choice": "adopted",
        "justification": "",
        "owner_id": manager.pk,
        "next_review": timezone.localdate() + dt.timedelta(days=365),
    }
    values.update(kw)
    return declarations.declare(actor_for(manager), measure, **values)


def test_the_register_lists_every_measure_grouped_as_in_the_source(manager: Any) -> None:
    found = register.register(actor_for(manager))
    assert [r.id for r in found.rows] == list(catalogue.IDS)
    assert found.counts["total"] == 59
    codes = [category.code for category, _rows in found.groups]
    assert codes[:4] == ["P", "A", "B", "C"] and codes[-1] == "O"
    assert sum(len(rows) for _c, rows in found.groups) == 59


def test_a_measure_without_evidence_is_not_provided_rather_than_pretending(manager: Any) -> None:
    row = register.register(actor_for(manager)).row("M1")  # nothing provides it yet
    assert row.status == "not-met"
    assert row.reason == "Not provided by this installation."
    assert row.evidence is None and not row.failing_evidence


def test_an_organisational_measure_waits_for_its_declaration(manager: Any) -> None:
    row = register.register(actor_for(manager)).row("E5")
    assert (row.status, row.reason) == ("not-met", "No declaration yet.")
    _declare(manager, "E5")
    row = register.register(actor_for(manager)).row("E5")
    assert row.status == "declared" and row.status_label == "declared: adopted"


def test_hosting_decides_which_measures_apply(manager: Any) -> None:
    actor = actor_for(manager)
    register.set_hosting(actor, "local")
    found = register.register(actor)
    assert found.row("E10").status == "not-applicable"  # cloud part only
    assert found.row("P1").applies and found.row("B3").applies
    assert found.row("E6").category.code == "E"  # workstations, in the local part
    register.set_hosting(actor, "cloud")
    found = register.register(actor)
    assert found.row("P1").status == "not-applicable"
    assert found.row("E6").category.code == "EM"  # mobile devices, in the cloud part
    assert events(resource="compliance.PracticeProfile")[-1].detail == (
        '{"before":"local","hosting":"cloud"}'
    )


def test_an_equivalent_measure_needs_its_justification(manager: Any) -> None:
    with pytest.raises(ValidationError):
        _declare(manager, "B2", choice="equivalent", justification="")
    found = _declare(
        manager,
        "B2",
        choice="equivalent",
        justification="Renewal only on suspicion of compromise (NIST SP 800-63B-4).",
    )
    row = register.register(actor_for(manager)).row("B2")
    assert row.status == "declared" and "NIST" in row.reason
    assert found.version == 1


def test_declarations_keep_their_history_and_every_change_is_audited(manager: Any) -> None:
    other = make_user(Role.PRACTITIONER)
    _declare(manager, "F2")
    _declare(manager, "F2", choice="not-needed", justification="No Wi-Fi in the practice at all.")
    _declare(manager, "F2", choice="not-needed", justification="No Wi-Fi in the practice at all.",
             owner_id=other.pk)  # fmt: skip
    declarations.confirm_review(actor_for(manager), "F2", next_review=NEXT_YEAR)
    detail = register.measure_detail(actor_for(manager), "f2")
    assert [d.version for d in detail.history] == [4, 3, 2, 1]
    assert [d.change for d in detail.history] == ["reviewed", "changed", "changed", "declared"]
    assert detail.history[1].changed_fields == ("owner",)
    assert set(detail.history[2].changed_fields) == {"choice", "justification"}
    assert Declaration.objects.filter(measure="F2").count() == 4
    audited = events(resource="compliance.Declaration")
    assert [e.action for e in audited] == ["create", "update", "update", "update"]
    assert all(e.resource_ref == "F2" and e.actor_id == manager.pk for e in audited)


def test_declarations_are_never_changed_or_deleted(manager: Any) -> None:
    _declare(manager, "E8")
    row = Declaration.objects.get(measure="E8")
    row.justification = "rewritten"
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(AppendOnlyError):
        Declaration.objects.filter(measure="E8").update(choice="not-needed")
    with pytest.raises(AppendOnlyError):
        Declaration.objects.all().delete()


def test_a_declaration_past_its_review_date_is_a_reminder(manager: Any) -> None:
    _declare(manager, "E9")
    # A year later: the declaration's next review date has passed.
    later = timezone.localdate() + dt.timedelta(days=400)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(timezone, "localdate", lambda *a, **k: later)
        found = reminders.reminders(actor_for(manager))
    assert [r.id for r in found.overdue] == ["E9"]


def test_the_next_review_must_be_in_the_future_and_within_three_years(manager: Any) -> None:
    with pytest.raises(ValidationError):
        _declare(manager, next_review=timezone.localdate())
    with pytest.raises(ValidationError):
        _declare(manager, next_review=timezone.localdate() + dt.timedelta(days=4 * 365))


def test_the_owner_is_an_active_user(manager: Any) -> None:
    gone = make_user(Role.PRACTITIONER)
    gone.is_active = False
    gone.save()
    with pytest.raises(ValidationError):
        _declare(manager, owner_id=gone.pk)


DOCUMENT = b"%PDF-1.4 fictitious contract with the shredding company Zorbatova-Papier 4711"


def test_an_evidence_document_is_sealed_at_rest_and_read_back(manager: Any) -> None:
    actor = actor_for(manager)
    found = documents.attach_document(
        actor, "P1", name="../contract.pdf", content_type="application/pdf", data=DOCUMENT
    )
    assert found.name == "contract.pdf" and found.size == len(DOCUMENT)
    stored = bytes(EvidenceDocument.objects.get(uid=found.uid).sealed)
    assert b"Zorbatova-Papier" not in stored and stored[:1] == b"\x01"
    with connection.cursor() as cur:
        cur.execute("SELECT sealed FROM compliance_evidencedocument")
        assert b"Zorbatova" not in bytes(cur.fetchone()[0])
    opened = documents.open_document(actor, found.uid)
    assert opened.data == DOCUMENT and opened.content_type == "application/pdf"
    assert [e.action for e in events(resource="compliance.EvidenceDocument")] == ["create", "read"]
    assert register.register(actor).row("P1").documents == 1


def test_an_unsafe_document_type_is_served_as_bytes(manager: Any) -> None:
    found = documents.attach_document(
        actor_for(manager), "E2", name="x.html", content_type="text/html", data=b"<script>"
    )
    assert documents.open_document(actor_for(manager), found.uid).content_type == (
        "application/octet-stream"
    )


def test_a_moved_ciphertext_fails(manager: Any) -> None:
    from secretum.crypto.keyring import DecryptionError

    a = documents.attach_document(actor_for(manager), "E2", name="a", content_type="", data=b"a")
    b = documents.attach_document(actor_for(manager), "E2", name="b", content_type="", data=b"b")
    sealed_a = EvidenceDocument.objects.get(uid=a.uid).sealed
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE compliance_evidencedocument SET sealed = %s WHERE uid = %s",
            [sealed_a, b.uid.replace("-", "") if connection.vendor == "sqlite" else b.uid],
        )
    with pytest.raises(DecryptionError):
        documents.open_document(actor_for(manager), b.uid)


@pytest.mark.parametrize("role", [Role.PRACTITIONER, Role.SECRETARY, Role.MAINTAINER])
def test_only_managers_and_auditors_read_the_register(db: Any, role: Role) -> None:
    user = make_user(role)
    with pytest.raises(AccessDenied):
        register.register(actor_for(user))
    assert events(resource="compliance.Register")[-1].outcome == "denied"


def test_the_auditor_reads_but_does_not_declare(db: Any) -> None:
    auditor = make_user(Role.AUDITOR)
    assert register.register(actor_for(auditor)).counts["total"] == 59
    with pytest.raises(AccessDenied):
        _declare(auditor)
    with pytest.raises(AccessDenied):
        register.set_hosting(actor_for(auditor), "local")
    assert Declaration.objects.count() == 0


def test_the_access_review_is_recorded_and_audited(manager: Any) -> None:
    access_review.record_access_review(actor_for(manager), "Two accounts disabled.")
    overview = access_review.access_review_overview(actor_for(manager))
    assert overview.reviews[0].note == "Two accounts disabled."
    assert overview.next_due == timezone.localdate() + dt.timedelta(days=365)
    assert events(resource="compliance.AccessReview")[-1].action == "create"


def test_the_daily_summary_names_measures_and_dates_never_breach_text(manager: Any) -> None:
    manager.email = "gestion@example.invalid"
    manager.save()
    breaches.report_breach(
        actor_for(manager),
        aware_at=timezone.now() - dt.timedelta(hours=2),
        what_happened="Fictitious: the Quilline Zorbatova letter went to the wrong address.",
    )
    summary = reminders.daily_summary()
    assert summary.recipients == ["gestion@example.invalid"]
    assert "Zorbatova" not in summary.text
    assert "h left to notify the authority" in summary.text
    assert "measures are not met yet" in summary.text
