"""The auditor's pages (D2): search, export (itself audited), access report, alerts; and no
one else reaches them."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from secretum.access import care
from secretum.access.actor import Actor, Purpose
from secretum.access.policy import Role
from secretum.audit.log import record_event
from secretum.audit.models import AuditEvent
from secretum.patients import services as patients
from tests.conftest import actor_for, client_for, events, identity, make_user
from tests.pdf import pdf_text

AUDIT_URLS = ["/audit/", "/audit/report/", "/audit/alerts/"]
# The file in clear, to read it here; encrypted by default: tests/exchange/test_delivery.py (E7).
PLAIN = {"delivery": "plain", "delivery_reason": "Fictitious test of the file in clear."}


@pytest.fixture
def two_patients(practitioner: Any) -> tuple[Any, Any]:
    actor = actor_for(practitioner)
    a = patients.register_patient(actor, identity())
    b = patients.register_patient(actor, identity())
    patients.access_patient(actor, a.uid)
    patients.access_patient(actor, a.uid)
    patients.access_patient(actor, b.uid)
    return a, b


def _rows(response: Any) -> list[str]:
    html = response.content.decode()
    return [chunk.split('"')[0] for chunk in html.split('data-seq="')[1:]]


@pytest.mark.parametrize("role", [Role.PRACTITIONER, Role.SECRETARY, Role.MANAGER])
def test_only_the_auditor_reaches_the_audit_pages(db: Any, role: Role) -> None:
    client = client_for(make_user(role))
    for url in AUDIT_URLS:
        assert client.get(url).status_code == 403, url
    assert client.post("/audit/export/", {"format": "csv"}).status_code == 403


def test_auditor_filters_by_patient_national_number(
    auditor: Any, two_patients: tuple[Any, Any]
) -> None:
    a, _b = two_patients
    client = client_for(auditor)
    response = client.post("/audit/", {"patient": a.niss_display, "page": "1"})
    assert response.status_code == 200
    seqs = {int(s) for s in _rows(response)}
    expected = {e.seq for e in events(patient_ref=a.uid)}
    assert seqs == expected - {max(expected)}  # the search itself is newer than its results
    search = events(resource="audit.AuditEvent")[-1]
    assert (search.action, search.patient_ref) == ("search", a.uid)
    assert a.niss not in search.detail and json.loads(search.detail)["filters"] == ["patient"]


def test_auditor_filters_by_user_action_period_and_break_the_glass(
    auditor: Any, practitioner: Any, two_patients: tuple[Any, Any]
) -> None:
    a, _ = two_patients
    btg = Actor(
        user=practitioner, role="practitioner", source="127.0.0.1", purpose=Purpose.BREAK_THE_GLASS
    )
    emergency = record_event(
        btg, "read", "clinical.Chart", patient_ref=a.uid, detail={"reason": "found unconscious"}
    )
    assert emergency is not None
    client = client_for(auditor)
    by_user = client.post("/audit/", {"user": practitioner.username, "action": "read"})
    assert {int(s) for s in _rows(by_user)} == {
        e.seq for e in events(actor_name=practitioner.username, action="read")
    }
    only_btg = client.post("/audit/", {"break_the_glass": "on"})
    assert _rows(only_btg) == [str(emergency.seq)]
    assert "found unconscious" in only_btg.content.decode()
    tomorrow = client.post("/audit/", {"since": "2999-01-01"})
    assert _rows(tomorrow) == []
    wrong = client.post("/audit/", {"since": "2026-02-01", "until": "2026-01-01"})
    assert b"ends before it starts" in wrong.content


def test_ndjson_export_is_fhir_audit_event_and_is_audited(
    auditor: Any, two_patients: tuple[Any, Any]
) -> None:
    a, _ = two_patients
    client = client_for(auditor)
    before = AuditEvent.objects.count()
    response = client.post("/audit/export/", {"patient": a.uid, "format": "ndjson", **PLAIN})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+ndjson"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    lines = response.content.decode().splitlines()
    resources = [json.loads(line) for line in lines]
    assert len(resources) == len(events(patient_ref=a.uid, seq__lte=before))
    for r in resources:
        assert r["resourceType"] == "AuditEvent" and r["agent"][0]["requestor"] is True
        assert r["entity"][0]["what"]["identifier"]["value"] == a.uid
    export = AuditEvent.objects.order_by("-seq").first()
    assert export is not None
    assert (export.action, export.resource, export.patient_ref) == (
        "export",
        "audit.AuditEvent",
        a.uid,
    )
    detail = json.loads(export.detail)
    assert detail["format"] == "ndjson" and detail["events"] == len(resources)
    assert detail["encryption"] == "none" and detail["plain_reason"] == PLAIN["delivery_reason"]


def test_csv_export_has_one_row_per_event_and_defuses_formulas(
    auditor: Any, two_patients: tuple[Any, Any]
) -> None:
    record_event(Actor(user=None, role=None, source="=HYPERLINK(1)"), "read", "session")
    response = client_for(auditor).post("/audit/export/", {"format": "csv", **PLAIN})
    text = response.content.decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["seq", "recorded_utc", "user"]
    assert len(rows) - 1 == AuditEvent.objects.count() - 1  # all but the export itself
    assert "'=HYPERLINK(1)" in text and ",=HYPERLINK" not in text


def test_access_report_lists_who_what_when_why_as_page_and_pdf(
    auditor: Any, practitioner: Any, two_patients: tuple[Any, Any]
) -> None:
    a, _ = two_patients
    client = client_for(auditor)
    page = client.post("/audit/report/", {"patient": a.niss})
    assert page.status_code == 200
    html = page.content.decode()
    assert a.display_name in html and practitioner.get_full_name() in html
    assert len(_rows(page)) == len(events(patient_ref=a.uid)) - 1  # not the report itself
    report_event = events(resource="audit.AccessReport")[-1]
    assert (report_event.action, report_event.patient_ref) == ("read", a.uid)

    pdf = client.post(f"/audit/report/{a.uid}/pdf/", PLAIN)
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    printed = events(resource="audit.AccessReport")[-1]
    assert printed.action == "print"

    unknown = client.post("/audit/report/", {"patient": "00000000-0000-4000-8000-000000000000"})
    assert b"No patient has this" in unknown.content


def test_pdf_text_holds_the_accesses(
    auditor: Any, practitioner: Any, two_patients: tuple[Any, Any]
) -> None:
    from secretum.audit import pdf, services

    a, _ = two_patients
    report = services.patient_access_report(actor_for(auditor), a.uid)
    data = pdf.report_pdf(report, "Cabinet Œnologie – Test")
    assert data.startswith(b"%PDF-") and len(data) > 1000


def test_alerts_show_break_the_glass_and_many_patients(
    auditor: Any, practitioner: Any, settings: Any
) -> None:
    settings.SECRETUM_AUDIT_ALERT_PATIENTS = 4
    actor = actor_for(practitioner)
    created = [patients.register_patient(actor, identity()) for _ in range(5)]
    for p in created:
        patients.access_patient(actor, p.uid)
    care.break_the_glass(actor, created[0].uid, "emergency", "Unconscious in the waiting room.")
    html = client_for(auditor).get("/audit/alerts/").content.decode()
    assert 'data-kind="break-the-glass"' in html and 'data-kind="many-patients"' in html
    assert events(resource="audit.Alert")[-1].action == "search"


def test_auditor_filters_by_day_and_outcome(auditor: Any, practitioner: Any) -> None:
    """D2: the period covers whole days (from midnight to midnight), and the outcome filter
    lists the refusals alone."""
    from django.utils import timezone

    denied = record_event(actor_for(practitioner), "read", "page", outcome="denied")
    record_event(actor_for(practitioner), "read", "page")
    today = timezone.localdate().isoformat()
    client = client_for(auditor)
    response = client.post("/audit/", {"since": today, "until": today, "outcome": "denied"})
    assert denied is not None and _rows(response) == [str(denied.seq)]


def test_an_event_whose_detail_was_altered_is_still_listed(auditor: Any) -> None:
    """An owner rewrote an event's detail into something that is not JSON: the auditor's page
    still lists it (verification names it as changed), never a server error."""
    from tests.audit.conftest import as_owner

    event = record_event(Actor.system(), "read", "session", detail={"n": 1})
    assert event is not None
    as_owner("UPDATE audit_auditevent SET detail = %s WHERE seq = %s", ["{not json", event.seq])
    response = client_for(auditor).post("/audit/", {"action": "read"})
    assert response.status_code == 200 and str(event.seq) in _rows(response)


def test_an_export_in_an_unknown_format_is_refused_before_anything_is_read(auditor: Any) -> None:
    from secretum.audit.services import EventFilter, export_events

    before = AuditEvent.objects.count()
    with pytest.raises(ValueError, match="unknown export format"):
        export_events(actor_for(auditor), EventFilter(), "xml")
    assert AuditEvent.objects.count() == before


def test_the_access_report_names_the_system_for_its_own_events(auditor: Any) -> None:
    """D2: a patient registered by a command (the demo, an import) shows "Secretum (system)",
    never an empty name."""
    from secretum.audit.services import patient_access_report

    created = patients.register_patient(Actor.system(), identity())
    report = patient_access_report(actor_for(auditor), str(created.uid))
    assert [line.who for line in report.lines] == ["Secretum (system)"]


def test_the_printed_report_names_the_latest_signed_checkpoint(
    auditor: Any, two_patients: tuple[Any, Any]
) -> None:
    """D2: the paper says up to where the log was sealed when it was printed."""
    from secretum.audit import pdf, services
    from secretum.audit.checkpoints import create_checkpoint

    a, _ = two_patients
    before = pdf_text(
        pdf.report_pdf(services.patient_access_report(actor_for(auditor), a.uid), "x")
    )
    assert "Latest signed checkpoint" not in before
    checkpoint, _new = create_checkpoint()
    report = services.patient_access_report(actor_for(auditor), a.uid)
    text = pdf_text(pdf.report_pdf(report, "x"))
    assert f"Latest signed checkpoint of the log: {checkpoint.tree_size} events" in text


def test_the_auditor_reads_why_a_call_was_refused(
    auditor: Any, practitioner: Any, two_patients: tuple[Any, Any]
) -> None:
    """C1, D1: a colleague without a care relationship opens a chart: the log page and the
    patient's access report say why the gate refused, in the auditor's words."""
    from secretum.access.guard import NoCareRelationship
    from secretum.clinical import services as clinical

    a, _ = two_patients
    colleague = make_user(Role.PRACTITIONER)
    with pytest.raises(NoCareRelationship):
        clinical.access_chart(actor_for(colleague), a.uid)
    (refused,) = events(actor=colleague, outcome="denied")
    client = client_for(auditor)
    page = client.post("/audit/", {"outcome": "denied"}).content.decode()
    assert f'data-seq="{refused.seq}"' in page
    assert "no care relationship with this patient" in page
    report = client.post("/audit/report/", {"patient": a.niss}).content.decode()
    assert "no care relationship with this patient" in report
    # A success says no why-not; a word Secretum does not know is shown as it was recorded.
    allowed = client.post("/audit/", {"outcome": "success"}).content.decode()
    assert 'data-testid="why-not"' not in allowed
    record_event(actor_for(colleague), "read", "page", outcome="denied", detail={"error": "Xyz"})
    assert "Xyz" in client.post("/audit/", {"outcome": "denied"}).content.decode()
