"""The breach register (D3): anyone reports, the 72-hour clock runs, the guided assessment feeds
the drafts (GDPR art. 33, 34), nothing is ever deleted, and the text is sealed at rest."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from secretum.access.actor import AccessDenied
from secretum.access.policy import Role
from secretum.breaches import services
from secretum.breaches.models import Breach, BreachUpdate
from secretum.compliance.models import AppendOnlyError
from tests.conftest import actor_for, client_for, events, make_user

WHAT = "Fictitious: a USB stick with the Quilline Zorbatova referral letters was lost."
ASSESSMENT = {
    "nature": "Loss of an unencrypted USB stick (confidentiality).",
    "people_categories": ["patients"],
    "people_count": "12",
    "record_categories": ["identity", "health"],
    "records_count": "12",
    "consequences": "Disclosure of diagnoses to whoever finds it.",
    "measures_taken": "Lost-property office called; staff reminded that exports are encrypted.",
    "measures_proposed": "USB ports locked on the reception computer.",
    "contact": "Dr Martin, 02 000 00 00",
    "risk": "high",
}


def _report(user: Any, hours_ago: float = 1) -> str:
    return services.report_breach(
        actor_for(user),
        aware_at=timezone.now() - dt.timedelta(hours=hours_ago),
        what_happened=WHAT,
    )


@pytest.mark.parametrize(
    "role", [Role.SECRETARY, Role.PRACTITIONER, Role.MANAGER, Role.AUDITOR, Role.MAINTAINER]
)
def test_every_role_may_report_a_suspected_breach(db: Any, role: Role) -> None:
    uid = _report(make_user(role))
    assert Breach.objects.get(uid=uid).status == "open"
    assert events(resource="breaches.Breach")[-1].action == "create"


def test_a_secretary_reports_but_cannot_read_the_register(secretary: Any) -> None:
    uid = _report(secretary)
    with pytest.raises(AccessDenied):
        services.access_breach(actor_for(secretary), uid)
    with pytest.raises(AccessDenied):
        services.list_breaches(actor_for(secretary))


def test_the_72_hour_clock(manager: Any) -> None:
    fresh = services.access_breach(actor_for(manager), _report(manager, hours_ago=10))
    assert fresh.deadline == fresh.aware_at + dt.timedelta(hours=72)
    assert 61 <= fresh.hours_left <= 62 and not fresh.overdue
    late = services.access_breach(actor_for(manager), _report(manager, hours_ago=75))
    assert late.overdue and late.hours_left == -3 and late.hours_late == 3


def test_the_guided_assessment_drafts_the_notification_and_the_letter(manager: Any) -> None:
    uid = _report(manager)
    services.assess_breach(actor_for(manager), uid, ASSESSMENT)
    drafts = services.breach_drafts(actor_for(manager), uid)
    text = drafts.notification
    for part in ("(a)", "(b)", "(c)", "(d)"):
        assert part in text
    assert "Loss of an unencrypted USB stick" in text
    assert "patients; approximate number: about 12" in text
    assert "identity and contact details, health data" in text
    assert "Dr Martin" in text and "USB ports locked" in text
    assert drafts.letter and "Dear patient" in drafts.letter
    assert "Disclosure of diagnoses" in drafts.letter


def test_no_letter_below_a_high_risk(manager: Any) -> None:
    uid = _report(manager)
    services.assess_breach(actor_for(manager), uid, {**ASSESSMENT, "risk": "risk"})
    assert services.breach_drafts(actor_for(manager), uid).letter == ""


def test_a_late_notification_needs_its_reasons(manager: Any) -> None:
    uid = _report(manager, hours_ago=100)
    services.assess_breach(actor_for(manager), uid, ASSESSMENT)
    with pytest.raises(ValidationError):
        services.record_notification(
            actor_for(manager), uid, notified_at=timezone.now(), reference="DPA-1"
        )
    services.record_notification(
        actor_for(manager),
        uid,
        notified_at=timezone.now(),
        reference="DPA-1",
        delay_reason="The loss was noticed only at the weekly inventory.",
    )
    found = services.access_breach(actor_for(manager), uid)
    assert found.status == "notified" and found.late_notification
    assert (
        "noticed only at the weekly inventory"
        in services.breach_drafts(actor_for(manager), uid).notification
    )


def test_a_risky_breach_is_closed_only_once_notified(manager: Any) -> None:
    uid = _report(manager)
    with pytest.raises(ValidationError):  # not assessed yet
        services.close_breach(actor_for(manager), uid, reason="done")
    services.assess_breach(actor_for(manager), uid, ASSESSMENT)
    with pytest.raises(ValidationError):
        services.close_breach(actor_for(manager), uid, reason="done")
    services.record_notification(
        actor_for(manager), uid, notified_at=timezone.now(), reference="DPA-2"
    )
    services.record_people_informed(
        actor_for(manager), uid, informed_at=timezone.now(), how="Letter by post."
    )
    services.close_breach(actor_for(manager), uid, reason="Handled; USB ports locked.")
    found = services.access_breach(actor_for(manager), uid)
    assert found.status == "closed" and found.people_informed_at is not None
    assert [u.kind for u in found.history] == [
        "reported", "assessed", "notified", "informed", "closed",
    ]  # fmt: skip
    with pytest.raises(ValidationError):
        services.assess_breach(actor_for(manager), uid, ASSESSMENT)


def test_an_unlikely_risk_is_closed_without_notification_and_stays_recorded(manager: Any) -> None:
    uid = _report(manager)
    services.assess_breach(actor_for(manager), uid, {**ASSESSMENT, "risk": "unlikely"})
    services.close_breach(actor_for(manager), uid, reason="The stick was encrypted (E7).")
    assert Breach.objects.filter(uid=uid, status="closed").exists()


def test_entries_are_never_deleted(manager: Any) -> None:
    uid = _report(manager)
    breach = Breach.objects.get(uid=uid)
    with pytest.raises(AppendOnlyError):
        breach.delete()
    with pytest.raises(AppendOnlyError):
        Breach.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        BreachUpdate.objects.filter(breach=breach).delete()


def test_the_breach_text_is_sealed_at_rest(manager: Any) -> None:
    uid = _report(manager)
    services.assess_breach(actor_for(manager), uid, ASSESSMENT)
    with connection.cursor() as cur:
        cur.execute("SELECT narrative FROM compliance_breach")
        narrative = bytes(cur.fetchone()[0])
        cur.execute("SELECT sealed FROM compliance_breachupdate")
        updates = [bytes(r[0]) for r in cur.fetchall()]
    for blob in (narrative, *updates):
        assert b"Zorbatova" not in blob and b"Dr Martin" not in blob
    assert services.access_breach(actor_for(manager), uid).narrative["what_happened"] == WHAT


def test_the_audit_events_name_fields_never_their_text(manager: Any) -> None:
    uid = _report(manager)
    services.assess_breach(actor_for(manager), uid, ASSESSMENT)
    for event in events(resource="breaches.Breach"):
        assert "Zorbatova" not in event.detail and "USB" not in event.detail
    assert '"fields":["nature"' in events(resource="breaches.Breach", action="update")[0].detail


def test_only_the_manager_assesses(db: Any) -> None:
    auditor = make_user(Role.AUDITOR)
    uid = _report(auditor)
    services.access_breach(actor_for(auditor), uid)  # the auditor reads
    with pytest.raises(AccessDenied):
        services.assess_breach(actor_for(auditor), uid, ASSESSMENT)


def test_the_whole_flow_through_the_pages(manager: Any) -> None:
    secretary = make_user(Role.SECRETARY)
    page = client_for(secretary).get("/compliance/help/")
    assert page.status_code == 200 and b'data-testid="breach-procedure"' in page.content
    now = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    response = client_for(secretary).post(
        "/compliance/breaches/new/", {"aware_at": now, "what_happened": WHAT}
    )
    assert response.status_code == 302 and response["Location"] == "/compliance/help/"
    uid = str(Breach.objects.get().uid)
    assert client_for(secretary).get(f"/compliance/breaches/{uid}/").status_code == 403

    client = client_for(manager)
    assert client.get(f"/compliance/breaches/{uid}/").status_code == 200
    response = client.post(f"/compliance/breaches/{uid}/assess/", ASSESSMENT)
    assert response.status_code == 302
    drafts = client.get(f"/compliance/breaches/{uid}/drafts/").content.decode()
    assert "Loss of an unencrypted USB stick" in drafts and "Dear patient" in drafts
    response = client.post(f"/compliance/breaches/{uid}/notified/", {"notified_at": now})
    assert response.status_code == 302
    listing = client.get("/compliance/breaches/").content.decode()
    assert "authority notified" in listing


@pytest.mark.parametrize(
    ("what", "hours_ago", "message"),
    [
        ("", 1, "is required"),
        ("x" * 4001, 1, "longer than 4000 characters"),
        (WHAT, -24, "cannot be in the future"),
    ],
)
def test_a_report_is_refused_when_it_cannot_be_kept(
    manager: Any, what: str, hours_ago: float, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        services.report_breach(
            actor_for(manager),
            aware_at=timezone.now() - dt.timedelta(hours=hours_ago),
            what_happened=what,
        )
    assert not Breach.objects.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"risk": "severe"}, "Choose the level of risk"),
        ({"people_count": "many"}, "Give a number"),
        ({"records_count": "-1"}, "Give a plausible number"),
    ],
)
def test_an_assessment_is_refused_when_it_cannot_be_kept(
    manager: Any, change: dict[str, str], message: str
) -> None:
    uid = _report(manager)
    with pytest.raises(ValidationError, match=message):
        services.assess_breach(actor_for(manager), uid, {**ASSESSMENT, **change})
    assert services.access_breach(actor_for(manager), uid).risk == "unassessed"


def test_an_unknown_step_leads_back_to_the_entry(manager: Any) -> None:
    uid = _report(manager)
    response = client_for(manager).post(f"/compliance/breaches/{uid}/erase/", {})
    assert response.status_code == 302
    assert response["Location"] == f"/compliance/breaches/{uid}/"
    assert [u.kind for u in services.access_breach(actor_for(manager), uid).history] == ["reported"]
