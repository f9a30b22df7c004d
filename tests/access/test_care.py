"""Care relationships and break-the-glass (C1, C2; issue 10): a practitioner reads and writes a
patient's medical record only within a care relationship, the practice's shared record, or an
emergency access that is reasoned, limited in time, alerted and reviewed. Each way in is tried
as its user would, and each is attacked as someone holding the database but not the key file
would (plain SQL on the real database: every such row opens nothing)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.http import Http404
from django.utils import timezone

from secretum.access import care, relationships
from secretum.access.actor import AccessDenied
from secretum.access.evidence import role_profiles
from secretum.access.guard import NoCareRelationship
from secretum.access.models import AccessPolicy, CareRelationship, GlassBreak
from secretum.access.policy import Role
from secretum.audit import alerts
from secretum.audit.models import NO_CARE, TAMPERED
from secretum.clinical import services as clinical
from secretum.patients import services as patients
from secretum.patients.models import Patient
from secretum.scheduling import services as scheduling
from tests.access.conftest import ALLERGY, REASON
from tests.conftest import actor_for, client_for, events, identity, make_user


@pytest.fixture
def auditor(db: Any) -> Any:
    user = make_user(Role.AUDITOR)
    user.email = "dpo@example.invalid"
    user.save()
    return user


def _opens(user: Any, uid: str) -> bool:
    try:
        clinical.access_chart(actor_for(user), uid)
    except NoCareRelationship:
        return False
    return True


def _sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cur:
        cur.execute(statement, params)


def _pk(uid: str) -> int:
    return int(Patient.objects.values_list("pk", flat=True).get(uid=uid))


def _tampered(label: str) -> bool:
    found = alerts.detect(timezone.now() - dt.timedelta(hours=1))
    return any(a.kind == "tampered" and a.reason.startswith(label) for a in found)


def test_without_a_care_relationship_no_medical_value_reaches_a_practitioner(
    record: str, colleague: Any
) -> None:
    """C1: the colleague's role reads medical records, but not this patient's: the service
    refuses (a "denied" event saying why), the page shows the identity and the ways in, and
    no medical value of the record is in any answer."""
    with pytest.raises(NoCareRelationship):
        clinical.access_chart(actor_for(colleague), record)
    with pytest.raises(NoCareRelationship):
        clinical.record_entry(actor_for(colleague), record, "allergy", ALLERGY)
    denied = events(actor=colleague, outcome="denied")
    assert len(denied) == 2 and all(NO_CARE in e.detail for e in denied)
    browser = client_for(colleague)
    page = browser.get(f"/patients/{record}/")
    assert page.status_code == 200 and 'data-testid="care-needed"' in page.text
    assert "Arachide" not in page.text and 'data-testid="chart"' not in page.text
    entry = clinical.access_chart(actor_for(record_owner(record)), record).entries["allergy"][0]
    history = browser.get(f"/clinical/allergy/{entry.uid}/history/")
    assert history.status_code == 403 and "no care relationship" in history.text
    assert "Arachide" not in history.text


def record_owner(uid: str) -> Any:
    return (
        CareRelationship.objects.select_related("practitioner").get(patient__uid=uid).practitioner
    )


def test_an_appointment_or_a_declaration_starts_a_relationship(
    record: str, colleague: Any, secretary: Any
) -> None:
    """C1: the secretary books the colleague an appointment with the patient: the colleague now
    reads the record. Another colleague says "I take care of this patient": recorded, audited,
    and the record opens to them too."""
    start = timezone.now() + dt.timedelta(days=1)
    scheduling.book_appointment(actor_for(secretary), record, colleague.pk, start, 15)
    assert _opens(colleague, record)
    third = make_user(Role.PRACTITIONER)
    assert not _opens(third, record)
    response = client_for(third).post(f"/access/care/{record}/")
    assert response.status_code == 302
    assert _opens(third, record)
    (declared,) = events(actor=third, resource="access.CareRelationship", action="create")
    assert declared.patient_ref == record and "declared" in declared.detail
    # A secretary registering a patient takes care of no one.
    uid = patients.register_patient(actor_for(secretary), identity()).uid
    assert not CareRelationship.objects.filter(patient__uid=uid).exists()


def test_only_caregivers_in_their_role_today_are_booked(
    record: str, practitioner: Any, secretary: Any
) -> None:
    """C1, C2: a nurse is booked like a practitioner, and the appointment lets her read the
    record; a practitioner whose role has ended (or not started), a disabled one, a secretary,
    or one whose role was written in the database are neither offered nor booked."""
    nurse = make_user(Role.NURSE)
    ended, future, disabled, forged = (make_user(Role.PRACTITIONER) for _ in range(4))
    now = timezone.now()
    ended.role_ends_at = now - dt.timedelta(minutes=1)
    future.role_starts_at = now + dt.timedelta(days=1)
    disabled.is_active = False
    for user in (ended, future, disabled):
        user.save()
    _sql("UPDATE accounts_user SET role = 'practitioner' WHERE id = %s", secretary.pk)
    _sql("UPDATE accounts_user SET last_name = 'Forged' WHERE id = %s", forged.pk)
    offered = {choice.id for choice in scheduling.practitioners()}
    assert practitioner.pk in offered and nurse.pk in offered
    assert offered.isdisjoint({ended.pk, future.pk, disabled.pk, secretary.pk, forged.pk})
    assert _tampered("accounts.User")
    start = now + dt.timedelta(days=2)
    front_desk = actor_for(make_user(Role.SECRETARY))
    for refused in (ended, future, disabled, secretary, forged):
        with pytest.raises(ValidationError, match="Choose a practitioner"):
            scheduling.book_appointment(front_desk, record, refused.pk, start, 15)
    assert not _opens(nurse, record)
    scheduling.book_appointment(front_desk, record, nurse.pk, start, 15)
    assert _opens(nurse, record)


def test_a_relationship_ends_after_the_period_without_contact_and_when_ended(
    record: str, practitioner: Any, manager: Any
) -> None:
    """C2: a relationship with no contact for ``relationship_months`` no longer opens the record,
    from the very next request; an appointment starts it again; ending it closes it at once."""
    care.set_policy(actor_for(manager), shared_record=False, relationship_months=6, glass_hours=4)
    row = CareRelationship.objects.get(patient__uid=record, practitioner=practitioner)
    row.last_contact_at = relationships.months_before(timezone.now(), 7)
    row.save()  # through Secretum: the seal matches, only the time has passed
    assert not _opens(practitioner, record)
    start = timezone.now() + dt.timedelta(hours=2)
    scheduling.book_appointment(actor_for(practitioner), record, practitioner.pk, start, 15)
    assert _opens(practitioner, record)
    care.end_care(actor_for(practitioner), record)
    assert not _opens(practitioner, record)
    care.end_care(actor_for(practitioner), record)  # nothing left to end: nothing happens
    # A new appointment starts it again, from that day.
    scheduling.book_appointment(
        actor_for(practitioner), record, practitioner.pk, start + dt.timedelta(days=1), 15
    )
    row = CareRelationship.objects.get(patient__uid=record, practitioner=practitioner)
    assert _opens(practitioner, record) and row.origin == "appointment" and row.ended_at is None


def test_months_before_keeps_the_day_or_the_last_of_a_shorter_month() -> None:
    at = dt.datetime(2026, 3, 31, 10, 0, tzinfo=dt.UTC)
    assert relationships.months_before(at, 1) == dt.datetime(2026, 2, 28, 10, 0, tzinfo=dt.UTC)
    assert relationships.months_before(at, 18) == dt.datetime(2024, 9, 30, 10, 0, tzinfo=dt.UTC)
    assert relationships.months_before(at, 3) == dt.datetime(2025, 12, 31, 10, 0, tzinfo=dt.UTC)


def test_the_shared_record_is_the_practices_choice_audited_and_in_the_register(
    record: str, colleague: Any, manager: Any
) -> None:
    """C1: a group practice may share its records among its practitioners: the choice opens
    every record to every practitioner, is audited with what changed, and the register says
    so; turning it off closes them again at the next request."""
    assert "care relationship" in role_profiles().summary
    page = client_for(manager).get("/access/policy/")
    assert page.status_code == 200 and 'data-testid="policy-form"' in page.text
    too_long = client_for(manager).post(
        "/access/policy/", {"shared_record": "no", "relationship_months": 18, "glass_hours": 48}
    )
    assert too_long.status_code == 200 and 'class="error"' in too_long.text
    assert not events(resource="access.AccessPolicy")
    response = client_for(manager).post(
        "/access/policy/", {"shared_record": "yes", "relationship_months": 18, "glass_hours": 4}
    )
    assert response.status_code == 302
    assert _opens(colleague, record)
    (change,) = events(resource="access.AccessPolicy", outcome="success")
    assert '"shared_record":true' in change.detail and "shared_record" in change.detail
    assert "shared record" in role_profiles().summary
    care.set_policy(actor_for(manager), shared_record=False, relationship_months=18, glass_hours=4)
    assert not _opens(colleague, record)
    with pytest.raises(ValidationError):
        care.set_policy(
            actor_for(manager), shared_record=False, relationship_months=18, glass_hours=48
        )
    with pytest.raises(AccessDenied):
        care.set_policy(
            actor_for(colleague), shared_record=True, relationship_months=18, glass_hours=4
        )


def test_break_the_glass_opens_for_a_limited_time_with_a_banner_and_an_alert(
    record: str, colleague: Any, auditor: Any, settings: Any
) -> None:
    """C1, D2: the reason and the category are required; the record opens for ``glass_hours``
    with a banner; the auditor is alerted at once (the log's alert, and an e-mail that names no
    patient); every read under it says so; when the time is up it closes."""
    settings.SECRETUM_SMTP_HOST = "smtp.example.invalid"  # the test mail backend is locmem
    actor = actor_for(colleague)
    with pytest.raises(ValidationError, match="10 to 200 characters"):
        care.break_the_glass(actor, record, "emergency", "urgent")
    with pytest.raises(ValidationError, match="emergency, replacement or other"):
        care.break_the_glass(actor, record, "curiosity", REASON)
    with pytest.raises(AccessDenied):
        care.break_the_glass(actor_for(make_user(Role.SECRETARY)), record, "emergency", REASON)
    with django_capture_on_commit():
        until = care.break_the_glass(actor, record, "emergency", REASON)
    assert dt.timedelta(hours=3, minutes=59) < until - timezone.now() <= dt.timedelta(hours=4)
    chart = clinical.access_chart(actor, record)
    assert chart.emergency_until == until and chart.emergency_reason == REASON
    page = client_for(colleague).get(f"/patients/{record}/")
    assert 'data-testid="emergency-banner"' in page.text and "Arachide" in page.text
    (alert,) = [
        a
        for a in alerts.detect(timezone.now() - dt.timedelta(hours=1))
        if a.kind == "break-the-glass"
    ]
    assert alert.reason == REASON and alert.patient_ref == record
    (message,) = mail.outbox
    assert message.to == ["dpo@example.invalid"] and colleague.username in message.body
    patient = patients.access_patient(actor_for(record_owner(record)), record)
    assert patient.family_name not in message.body and record not in message.body
    reads = events(actor=colleague, resource="clinical.Chart", outcome="success")
    assert reads and all(e.purpose == "break-the-glass" and '"grant":' in e.detail for e in reads)
    # A note written under it starts no relationship: when the time is up, the record closes.
    clinical.record_entry(actor, record, "allergy", {**ALLERGY, "substance": "Latex"})
    grant = GlassBreak.objects.get()
    grant.expires_at = timezone.now() - dt.timedelta(seconds=1)
    grant.save()
    assert not _opens(colleague, record)


class django_capture_on_commit:
    """Run the on-commit callbacks of the block (the test's transaction never commits)."""

    def __enter__(self) -> None:
        self.before = len(connection.run_on_commit)

    def __exit__(self, *exc: Any) -> None:
        for _sids, func, _robust in connection.run_on_commit[self.before :]:
            func()


def test_the_auditor_reviews_each_emergency_access(
    record: str, colleague: Any, auditor: Any
) -> None:
    """C2: each emergency access waits in the auditor's queue until judged, justified or not
    (a comment then required); judged once; unreviewed after 7 days it is a warning for the
    auditor and makes the register's C1 not met."""
    care.break_the_glass(actor_for(colleague), record, "replacement", REASON)
    grant = GlassBreak.objects.get()
    browser = client_for(auditor)
    queue = browser.get("/access/reviews/")
    assert queue.status_code == 200 and REASON in queue.text
    assert 'data-testid="grant"' in queue.text
    with pytest.raises(ValidationError, match="not justified"):
        care.review_glass_break(actor_for(auditor), grant.uid, False, "")
    grant.started_at = timezone.now() - dt.timedelta(days=8)
    grant.save()
    assert care.overdue_reviews() == 1 and not role_profiles().met
    assert "Unreviewed for more than 7 days" in browser.get("/access/reviews/").text
    response = browser.post(
        f"/access/reviews/{grant.uid}/", {"justified": "no", "comment": "No emergency that day."}
    )
    assert response.status_code == 302
    assert care.overdue_reviews() == 0 and role_profiles().met
    with pytest.raises(ValidationError, match="already reviewed"):
        care.review_glass_break(actor_for(auditor), grant.uid, True, "")
    (review,) = events(resource="access.GlassBreak", action="review", outcome="success")
    assert review.patient_ref == record and '"justified":false' in review.detail
    assert 'data-testid="none-pending"' in browser.get("/access/reviews/").text
    with pytest.raises(AccessDenied):
        care.glass_breaks(actor_for(colleague))


# --- someone holding the database but not the key file -----------------------------------


def test_a_relationship_written_in_the_database_opens_nothing(record: str, colleague: Any) -> None:
    now = timezone.now()
    _sql(
        "INSERT INTO access_carerelationship (patient_id, practitioner_id, origin, started_at, "
        "last_contact_at) VALUES (%s, %s, %s, %s, %s)",
        _pk(record),
        colleague.pk,
        "declared",
        now,
        now,
    )
    assert not _opens(colleague, record)
    assert _tampered("access.CareRelationship")


def test_an_ended_relationship_revived_in_the_database_opens_nothing(
    record: str, practitioner: Any
) -> None:
    care.end_care(actor_for(practitioner), record)
    _sql("UPDATE access_carerelationship SET ended_at = NULL")
    assert not _opens(practitioner, record)
    # Nor does a contact refresh it into a valid one: the altered row stays refused.
    start = timezone.now() + dt.timedelta(days=1)
    scheduling.book_appointment(actor_for(practitioner), record, practitioner.pk, start, 15)
    assert not _opens(practitioner, record)


def test_a_shared_record_switched_on_in_the_database_is_ignored(
    record: str, colleague: Any, manager: Any
) -> None:
    care.set_policy(actor_for(manager), shared_record=False, relationship_months=18, glass_hours=4)
    _sql("UPDATE access_accesspolicy SET shared_record = %s", True)
    assert not _opens(colleague, record)
    assert _tampered("access.AccessPolicy")
    assert relationships.policy().relationship_months == AccessPolicy().relationship_months


def test_an_emergency_access_written_or_stretched_in_the_database_opens_nothing(
    record: str, colleague: Any
) -> None:
    care.break_the_glass(actor_for(colleague), record, "emergency", REASON)
    grant = GlassBreak.objects.get()
    grant.expires_at = timezone.now() - dt.timedelta(minutes=1)
    grant.save()
    _sql(
        "UPDATE access_glassbreak SET expires_at = %s",
        timezone.now() + dt.timedelta(days=30),
    )
    assert not _opens(colleague, record)
    assert _tampered("access.GlassBreak")
    # A review written in the database does not take it out of the auditor's queue.
    _sql(
        "UPDATE access_glassbreak SET reviewed_at = %s, justified = %s, started_at = %s",
        timezone.now(),
        True,
        timezone.now() - dt.timedelta(days=9),
    )
    assert care.overdue_reviews() == 1


@pytest.mark.django_db(transaction=True)
def test_two_declarations_at_once_make_one_relationship(record: str, colleague: Any) -> None:
    """A race: two tabs press "I take care of this patient" at the same moment."""
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def declare() -> None:
        start.wait()
        try:
            care.declare_care(actor_for(colleague), record)
        except BaseException as exc:  # reported on the test's thread
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=declare) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert CareRelationship.objects.filter(practitioner=colleague).count() == 1
    assert _opens(colleague, record)
    assert not events(detail__contains=TAMPERED)


# --- the pages and the edges of each way in ------------------------------------------------


def test_the_emergency_page_keeps_what_was_typed_and_opens_on_a_valid_reason(
    record: str, colleague: Any
) -> None:
    browser = client_for(colleague)
    page = browser.get(f"/access/glass/{record}/")
    assert page.status_code == 200 and 'data-testid="glass-form"' in page.text
    short = browser.post(f"/access/glass/{record}/", {"category": "other", "reason": "Urgent"})
    assert short.status_code == 200 and "Urgent" in short.text and not _opens(colleague, record)
    # Spaces do not make a reason: ten characters of words are needed.
    spaced = browser.post(
        f"/access/glass/{record}/", {"category": "other", "reason": "a" + " " * 12 + "b"}
    )
    assert spaced.status_code == 200 and "10 to 200 characters" in spaced.text
    assert not _opens(colleague, record)
    done = browser.post(f"/access/glass/{record}/", {"category": "other", "reason": REASON})
    assert done.status_code == 302 and _opens(colleague, record)
    assert browser.post("/access/glass/00000000-0000-4000-8000-000000000000/", {
        "category": "other", "reason": REASON,
    }).status_code == 404  # fmt: skip
    with pytest.raises(Http404):
        care.declare_care(actor_for(colleague), "not-a-reference")


def test_the_review_page_refuses_an_incomplete_or_unknown_review(
    record: str, colleague: Any, auditor: Any
) -> None:
    care.break_the_glass(actor_for(colleague), record, "emergency", REASON)
    grant = GlassBreak.objects.get()
    assert "GlassBreak" in str(grant) and "CareRelationship" in str(
        CareRelationship.objects.first()
    )
    assert str(AccessPolicy()) == "Access policy"
    browser = client_for(auditor)
    browser.post(f"/access/reviews/{grant.uid}/", {"comment": "no judgement chosen"})
    unknown = "00000000-0000-4000-8000-000000000000"
    browser.post(f"/access/reviews/{unknown}/", {"justified": "yes"})
    with pytest.raises(ValidationError, match="No emergency access"):
        care.review_glass_break(actor_for(auditor), "not-a-reference", True, "")
    with pytest.raises(ValidationError, match="limited to 500"):
        care.review_glass_break(actor_for(auditor), grant.uid, True, "x" * 501)
    assert [g.uid for g in care.glass_breaks(actor_for(auditor), pending_only=True)] == [
        str(grant.uid)
    ]
    assert not events(resource="access.GlassBreak", action="review", outcome="success")


def test_the_auditors_email_goes_only_where_it_can_and_never_stops_the_access(
    record: str, colleague: Any, auditor: Any, settings: Any
) -> None:
    """No mail set up: no e-mail. No auditor with an address: none either. The mail server down:
    the access is granted, recorded and alerted all the same."""
    settings.SECRETUM_SMTP_HOST = ""
    with django_capture_on_commit():
        care.break_the_glass(actor_for(colleague), record, "emergency", REASON)
    assert mail.outbox == []
    settings.SECRETUM_SMTP_HOST = "smtp.example.invalid"
    auditor.email = ""
    auditor.save()
    with django_capture_on_commit():
        care.break_the_glass(actor_for(colleague), record, "emergency", REASON)
    assert mail.outbox == []
    auditor.email = "dpo@example.invalid"
    auditor.save()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = (
        "127.0.0.1",
        _closed_port(),
        2,
    )
    with django_capture_on_commit():
        care.break_the_glass(actor_for(colleague), record, "emergency", REASON)
    assert _opens(colleague, record) and GlassBreak.objects.count() == 3


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: connection refused
