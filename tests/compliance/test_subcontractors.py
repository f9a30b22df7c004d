"""L3: "check that the guarantees are effective (security audits, visits)". Met only by the
practice's records of audits and visits of its subcontractors (the subcontractor, the date, the
report attached, within 12 months), never by the mere existence of a report of the register."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from secretum.compliance import documents, register, reports
from secretum.compliance.models import EvidenceDocument
from tests.compliance.test_contradictions import _declare
from tests.conftest import actor_for, client_for, events

REPORT = b"%PDF-1.4 fictitious audit report: Zorbatova Hosting keeps the backups encrypted"


def _record(manager: Any, days_ago: int, who: str = "Zorbatova Hosting", **kw: Any) -> Any:
    values: dict[str, Any] = {
        "name": "audit.pdf",
        "content_type": "application/pdf",
        "data": REPORT,
        "record": "audit",
        "subcontractor": who,
        "performed_on": timezone.localdate() - dt.timedelta(days=days_ago),
    }
    values.update(kw)
    return documents.attach_document(actor_for(manager), "L3", **values)


def _l3(manager: Any) -> Any:
    return register.register(actor_for(manager)).row("L3")


def test_a_signed_report_or_a_plain_document_does_not_meet_l3(manager: Any) -> None:
    reports.issue_report(actor_for(manager))
    documents.attach_document(
        actor_for(manager), "L3", name="contract.pdf", content_type="application/pdf", data=REPORT
    )
    row = _l3(manager)
    assert (row.status, row.reason) == ("not-met", "No audit or visit of a subcontractor recorded.")
    assert "A signed report of this register does not prove it." in row.action
    assert row.documents == 1


def test_a_recent_audit_or_visit_with_its_report_meets_l3_and_an_old_one_does_not(
    manager: Any,
) -> None:
    _record(manager, 400)
    row = _l3(manager)
    assert row.status == "not-met"
    day = (timezone.localdate() - dt.timedelta(days=400)).isoformat()
    assert (
        row.reason
        == f"The latest audit or visit of a subcontractor was on {day}: over 12 months ago."
    )
    assert row.evidence is not None
    assert row.evidence.details == (
        f"A security audit of a subcontractor: Zorbatova Hosting, {day} (report: audit.pdf) "
        "(more than 12 months ago)",
    )
    _record(manager, 12, who="Quilline Backup", record="visit", name="visit.pdf")
    row = _l3(manager)
    assert row.status == "met"
    recent = (timezone.localdate() - dt.timedelta(days=12)).isoformat()
    assert row.reason == (
        "1 audit or visit of a subcontractor in the last 12 months, each with its report; the "
        f"latest on {recent}."
    )
    assert row.evidence is not None and len(row.evidence.details) == 2
    assert row.evidence.details[0].startswith("A visit of a subcontractor: Quilline Backup")


def test_a_record_names_its_subcontractor_and_a_past_date_on_l3_only(manager: Any) -> None:
    with pytest.raises(ValidationError, match="Name the subcontractor"):
        _record(manager, 5, who="  ")
    with pytest.raises(ValidationError, match="a past date"):
        _record(manager, -1)
    with pytest.raises(ValidationError, match="a past date"):
        _record(manager, 5, performed_on=None)
    with pytest.raises(ValidationError, match="recorded on measure L3"):
        documents.attach_document(
            actor_for(manager), "E2", name="a.pdf", content_type="", data=REPORT,
            record="audit", subcontractor="X", performed_on=timezone.localdate(),
        )  # fmt: skip
    with pytest.raises(ValidationError, match="belong to a record"):
        _record(manager, 5, record="document")
    with pytest.raises(ValidationError, match="what the document records"):
        _record(manager, 5, record="rumour")
    assert EvidenceDocument.objects.count() == 0 and not events(outcome="success")


def test_a_record_is_sealed_and_audited_its_date_and_subcontractor_stay_readable(
    manager: Any,
) -> None:
    found = _record(manager, 3)
    assert (found.record, found.subcontractor) == ("audit", "Zorbatova Hosting")
    with connection.cursor() as cur:
        cur.execute("SELECT sealed, subcontractor FROM compliance_evidencedocument")
        sealed, subcontractor = cur.fetchone()
    assert b"backups encrypted" not in bytes(sealed) and subcontractor == "Zorbatova Hosting"
    (created,) = events(resource="compliance.EvidenceDocument")
    assert created.action == "create" and '"record":"audit"' in created.detail


def test_not_needed_holds_only_while_no_record_is_more_recent(manager: Any) -> None:
    _record(manager, 500)
    _declare(manager, "L3", justification="We left our last subcontractor; the server is here now.")
    row = _l3(manager)
    assert (row.status, row.contradicted) == ("declared", False)
    assert row.evidence is not None and row.evidence.met
    assert "declared it has no subcontractor to check" in row.evidence.summary
    # A record after the declaration: the practice has a subcontractor after all.
    with pytest.MonkeyPatch.context() as mp:
        later = timezone.localdate() + dt.timedelta(days=400)
        mp.setattr(timezone, "localdate", lambda *a, **k: later)
        _record(manager, 2)
        mp.setattr(timezone, "localdate", lambda *a, **k: later + dt.timedelta(days=380))
        row = _l3(manager)
    assert (row.status, row.contradicted) == ("not-met", True)


def test_recording_an_audit_through_the_measure_page(manager: Any) -> None:
    client = client_for(manager)
    page = client.get("/compliance/measures/l3/").content.decode()
    assert 'name="subcontractor"' in page and 'name="performed_on"' in page
    assert 'name="subcontractor"' not in client.get("/compliance/measures/e2/").content.decode()
    day = (timezone.localdate() - dt.timedelta(days=20)).isoformat()
    upload = SimpleUploadedFile("audit.pdf", REPORT, "application/pdf")
    response = client.post(
        "/compliance/measures/l3/documents/",
        {"document": upload, "record": "audit", "subcontractor": "Zorbatova Hosting",
         "performed_on": day},
    )  # fmt: skip
    assert response.status_code == 302
    page = client.get("/compliance/measures/l3/").content.decode()
    assert 'data-status="met"' in page and 'data-testid="record"' in page
    refused = client.post(
        "/compliance/measures/l3/documents/",
        {"document": SimpleUploadedFile("b.pdf", REPORT, "application/pdf"), "record": "visit"},
    )
    assert refused.status_code == 400 and "Name the subcontractor" in refused.content.decode()
    assert EvidenceDocument.objects.count() == 1
