"""The archive (J1): a patient without contact for the practice's period (default 5 years) moves
to the archive, out of every search and list, readable only by a practitioner with a stated
reason (audited, time-limited, reviewed by the auditor like an emergency access), written by no
one until a practitioner restores it to active.

Each property is tried as its user would, and attacked: a secretary, a reason too short, a grant
expired, an emergency grant used on the archive, the archive flag cleared or set in the database
without the key file, a write racing the archiving."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from secretum import cli
from secretum.access import care
from secretum.access.actor import AccessDenied, Actor
from secretum.access.guard import ArchivedRecord, NoCareRelationship
from secretum.access.models import AccessPolicy, CareRelationship, GlassBreak
from secretum.access.policy import Role
from secretum.accounts import services as accounts
from secretum.audit import alerts
from secretum.audit.models import ARCHIVED, TAMPERED
from secretum.clinical import services as clinical
from secretum.core.management.commands import serve
from secretum.lib.dates import add_years
from secretum.patients import archive, integrity
from secretum.patients import services as patients
from secretum.patients.models import Patient
from secretum.scheduling import services as scheduling
from tests.conftest import actor_for, client_for, events, identity, make_user

REASON = "Patient back after years abroad, asks for his history"
ALLERGY = {"substance": "Arachide", "reaction": "œdème", "severity": "severe"}


def _later(years: int) -> dt.datetime:
    return add_years(timezone.now(), years)


@pytest.fixture
def record(practitioner: Any) -> tuple[str, dict[str, Any]]:
    """A patient registered by ``practitioner`` (who takes care of them), with an allergy."""
    data = identity()
    uid = patients.register_patient(actor_for(practitioner), data).uid
    clinical.record_entry(actor_for(practitioner), uid, "allergy", ALLERGY)
    return str(uid), data


@pytest.fixture
def archived(record: tuple[str, dict[str, Any]]) -> str:
    """The record, archived by a run six years from now (no contact for the 5 years default)."""
    run = archive.archive_due(now=_later(6))
    assert [uid for uid, _last in run.archived] == [record[0]]
    return record[0]


def _sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cur:
        cur.execute(statement, params)


def _row(uid: str) -> Any:
    return Patient.objects.get(uid=uid)


# --- the run ---------------------------------------------------------------------------------


def test_a_record_without_contact_for_the_period_is_archived_once(
    record: tuple[str, dict[str, Any]],
) -> None:
    uid = record[0]
    version = _row(uid).record_version
    assert archive.archive_due(now=_later(4)).archived == []  # 4 years: not yet
    run = archive.archive_due(now=_later(6))
    assert run.years == 5 and [u for u, _ in run.archived] == [uid]
    row = _row(uid)
    assert row.archived_at is not None and row.record_version == version + 1
    assert integrity.intact(row)  # the seal now covers "archived"
    (event,) = events(action="archive")
    assert event.actor_name == "system" and event.patient_ref == uid
    assert '"archive_years":5' in event.detail and '"record_version"' in event.detail
    # Idempotent: a second run archives nothing and writes nothing.
    again = archive.archive_due(now=_later(6))
    assert again.archived == [] and len(events(action="archive")) == 1


def test_the_practice_sets_the_period_within_bounds(
    manager: Any, record: tuple[str, dict[str, Any]]
) -> None:
    manager_actor = actor_for(manager)
    current = accounts.practice_settings()
    base = {
        "idle_timeout_minutes": current.idle_timeout_minutes,
        "session_lifetime_hours": current.session_lifetime_hours,
        "password_renewal_days": current.password_renewal_days,
    }
    for wrong in (1, 31):
        with pytest.raises(ValidationError):
            accounts.update_practice_settings(manager_actor, **base, archive_years=wrong)
    accounts.update_practice_settings(manager_actor, **base, archive_years=2)
    assert accounts.practice_settings().archive_years == 2
    assert '"archive_years":2' in events(resource="accounts.PracticeSettings")[-1].detail
    # Leaving it out keeps it (callers that predate it).
    accounts.update_practice_settings(manager_actor, **base)
    assert archive.archive_years() == 2
    assert [u for u, _ in archive.archive_due(now=_later(3)).archived] == [record[0]]


def test_the_manager_edits_the_period_on_the_settings_page(manager: Any) -> None:
    from tests.accounts.test_permissions_current import _manager_client

    client = _manager_client(manager)
    assert b'name="archive_years"' in client.get("/accounts/settings/").content
    base = {
        "idle_timeout_minutes": 15, "session_lifetime_hours": 10, "password_renewal_days": 0,
        "inactive_days": 90,
    }  # fmt: skip
    client.post("/accounts/settings/", {**base, "archive_years": 7})
    assert archive.archive_years() == 7
    client.post("/accounts/settings/", base)  # an older form without it: left as it is
    assert archive.archive_years() == 7
    page = client.post("/accounts/settings/", {**base, "archive_years": 31})
    assert page.status_code == 200 and archive.archive_years() == 7  # refused, said
    # Altered in the database: the default applies (the row's seal covers it).
    _sql("UPDATE accounts_practicesettings SET archive_years = 2")
    assert archive.archive_years() == 5


def test_each_kind_of_contact_keeps_a_record_active(
    practitioner: Any, record: tuple[str, dict[str, Any]]
) -> None:
    uid, _data = record
    old = timezone.now() - dt.timedelta(days=365 * 10)
    pk = _row(uid).pk

    def age() -> None:
        _sql("UPDATE patients_patient SET created_at = %s, updated_at = %s", old, old)
        _sql("UPDATE access_carerelationship SET last_contact_at = %s", old)
        _sql("UPDATE clinical_allergy SET recorded_at = %s", old)
        _sql("UPDATE scheduling_appointment SET starts_at = %s", old)

    before = timezone.now() - dt.timedelta(days=365 * 5)
    age()
    assert archive.due_uids(before) == [uid]
    assert archive.last_contact(_row(uid)) == old
    # An appointment (one booked ahead too) is a contact.
    soon = timezone.now() + dt.timedelta(days=3)
    scheduling.book_appointment(actor_for(practitioner), uid, practitioner.pk, soon, 15)
    assert archive.due_uids(before) == []
    age()
    # A clinical entry is a contact (and so is the care relationship it refreshes).
    clinical_at = timezone.now()
    _sql("UPDATE clinical_allergy SET recorded_at = %s WHERE patient_id = %s", clinical_at, pk)
    assert archive.due_uids(before) == [] and archive.last_contact(_row(uid)) == clinical_at
    age()
    # A care relationship's last contact ("I take care of this patient").
    _sql("UPDATE access_carerelationship SET last_contact_at = %s", clinical_at)
    assert archive.due_uids(before) == []
    age()
    # A cancelled appointment is none.
    _sql("UPDATE scheduling_appointment SET starts_at = %s, status = 'cancelled'", clinical_at)
    assert archive.due_uids(before) == [uid]


def test_a_contact_written_after_the_list_wins(
    practitioner: Any, record: tuple[str, dict[str, Any]]
) -> None:
    """The run reads the last contact again under the row's lock: a record listed as due but
    contacted meanwhile stays active, and nothing is recorded."""
    uid = record[0]
    before = _later(1)
    _sql("UPDATE access_carerelationship SET last_contact_at = %s", before)
    assert archive._archive_one(Actor.system(), uid, 5, before) is None
    assert _row(uid).archived_at is None and events(action="archive") == []


def test_the_command_prints_what_it_did(record: tuple[str, dict[str, Any]]) -> None:
    out = io.StringIO()
    call_command("records_archive", stdout=out)
    assert "records archive: 0 archived, 0 left as found" in out.getvalue()
    assert cli._command_name(["records", "archive", "--every", "60"]) == (
        "records_archive",
        ["--every", "60"],
    )
    assert "records archive" in cli.USAGE
    assert (("records", "archive"), 24 * 3600) in serve.PERIODIC
    _sql("UPDATE patients_patient SET created_at = %s, updated_at = %s", _later(-6), _later(-6))
    _sql("UPDATE access_carerelationship SET last_contact_at = %s", _later(-6))
    _sql("UPDATE clinical_allergy SET recorded_at = %s", _later(-6))
    out = io.StringIO()
    call_command("records_archive", stdout=out)
    assert f"archived {record[0]}: last contact " in out.getvalue()
    assert record[1]["family_name"] not in out.getvalue()  # never a name
    assert "records archive: 1 archived, 0 left as found" in out.getvalue()


def test_a_record_altered_outside_secretum_is_left_as_found(
    record: tuple[str, dict[str, Any]],
) -> None:
    uid = record[0]
    _sql("UPDATE patients_patient SET record_version = record_version + 5")
    run = archive.archive_due(now=_later(6))
    assert run.archived == [] and run.altered == [uid]
    assert _row(uid).archived_at is None
    assert any(TAMPERED in e.detail for e in events(patient_ref=uid))
    out = io.StringIO()
    call_command("records_archive", stdout=out)  # now: not due; the altered one not listed


# --- out of every search and list ------------------------------------------------------------


def test_an_archived_patient_is_in_no_search(
    practitioner: Any, secretary: Any, archived: str, record: tuple[str, dict[str, Any]]
) -> None:
    data = record[1]
    for user in (practitioner, secretary):
        for query in ("Zorbatova", data["niss"], data["birth_date"].strftime("%d/%m/%Y")):
            assert patients.search_patients(actor_for(user), query).patients == []


def test_an_archived_patient_is_in_no_agenda(practitioner: Any, secretary: Any) -> None:
    uid = patients.register_patient(actor_for(secretary), identity()).uid
    soon = timezone.now() + dt.timedelta(days=2)
    day = timezone.localtime(soon).date()  # the practice's day (UTC's differs after 23:00)
    booked = scheduling.book_appointment(actor_for(secretary), uid, practitioner.pk, soon, 15)
    scheduling.cancel_appointment(actor_for(secretary), booked.uid)
    assert [a.patient_uid for a in scheduling.agenda(actor_for(secretary), day)] == [uid]
    _sql("UPDATE access_carerelationship SET last_contact_at = %s", _later(-1))
    archive.archive_due(now=_later(6))
    assert scheduling.agenda(actor_for(secretary), day) == []


# --- opened only with a reason ---------------------------------------------------------------


def test_the_patients_page_refuses_an_archived_record_without_a_reason(
    practitioner: Any, secretary: Any, archived: str, record: tuple[str, dict[str, Any]]
) -> None:
    name = record[1]["family_name"].upper().encode()
    # Their own doctor, with a running care relationship: the archive asks a reason all the same.
    page = client_for(practitioner).get(f"/patients/{archived}/")
    assert page.status_code == 200 and b'data-testid="archive-open-form"' in page.content
    assert name not in page.content and b"Arachide" not in page.content
    refused = events(actor=practitioner, outcome="denied", patient_ref=archived)
    assert refused and all(ARCHIVED in e.detail for e in refused)
    # The secretary: refused, no form, no name.
    page = client_for(secretary).get(f"/patients/{archived}/")
    assert page.status_code == 403 and b'data-testid="archived-refused"' in page.content
    assert name not in page.content and b"archive-open-form" not in page.content
    for call in (
        lambda: patients.access_patient(actor_for(secretary), archived),
        lambda: scheduling.patient_appointments(actor_for(secretary), archived),
        lambda: clinical.access_chart(actor_for(practitioner), archived),
        lambda: patients.access_patient(actor_for(practitioner), archived),
    ):
        with pytest.raises(ArchivedRecord):
            call()


def test_the_shared_record_does_not_open_the_archive(practitioner: Any, archived: str) -> None:
    AccessPolicy(shared_record=True).save()
    colleague = make_user(Role.PRACTITIONER)
    with pytest.raises(ArchivedRecord):
        clinical.access_chart(actor_for(colleague), archived)


def test_the_patients_copy_does_not_open_the_archive(practitioner: Any, archived: str) -> None:
    """J1 × issue 14: exporting reads the whole record: the shared record and the caring
    practitioner alike are refused an archived one, until it is opened with a reason."""
    import io

    from secretum.exchange import services as exchange

    AccessPolicy(shared_record=True).save()
    for who in (make_user(Role.PRACTITIONER), practitioner):
        with pytest.raises(ArchivedRecord):
            exchange.export_patient(actor_for(who), archived, io.BytesIO())
    care.open_archived(actor_for(practitioner), archived, "Patient's copy asked for by post")
    done = exchange.export_patient(actor_for(practitioner), archived, io.BytesIO())
    assert done.entries["allergy"] == 1


def test_a_practitioner_opens_it_with_a_reason_for_a_limited_time(
    practitioner: Any,
    auditor: Any,
    archived: str,
    record: tuple[str, dict[str, Any]],
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.SECRETUM_SMTP_HOST = "smtp.example.invalid"
    auditor.email = "dpo@example.invalid"
    auditor.save()
    client = client_for(practitioner)
    # A reason too short, or too long, opens nothing.
    for wrong in ("short", "x" * 201):
        page = client.post(f"/patients/{archived}/archive/open/", {"reason": wrong})
        assert page.status_code == 200 and b'class="error"' in page.content
        with pytest.raises(ValidationError):
            care.open_archived(actor_for(practitioner), archived, wrong)
    assert not GlassBreak.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"/patients/{archived}/archive/open/", {"reason": REASON})
    assert answer.status_code == 302
    (grant,) = GlassBreak.objects.all()
    assert grant.category == GlassBreak.Category.ARCHIVE and grant.reason == REASON
    assert grant.expires_at - grant.started_at == dt.timedelta(hours=4)
    (opened,) = events(action="open-archived")
    assert opened.purpose == "archive" and REASON in opened.detail
    (message,) = mail.outbox
    assert "archived" in message.subject and record[1]["family_name"] not in message.body
    page = client.get(f"/patients/{archived}/")
    assert b'data-testid="archive-banner"' in page.content and b"Arachide" in page.content
    assert record[1]["family_name"].upper().encode() in page.content
    assert b"clinical/new" not in page.content.replace(b"%2F", b"/")  # no way to add an entry
    reads = events(actor=practitioner, resource="clinical.Chart", outcome="success")
    assert reads[-1].purpose == "archive" and str(grant.uid) in reads[-1].detail
    (alert,) = [a for a in alerts.detect(timezone.now() - dt.timedelta(hours=1))
                if a.kind == "archived-record"]  # fmt: skip
    assert alert.reason == REASON and alert.patient_ref == archived and alert.severity == "medium"
    assert (
        b"Archived record opened with a reason" in client_for(auditor).get("/audit/alerts/").content
    )
    # The auditor reviews it beside the emergency accesses.
    (row,) = care.glass_breaks(actor_for(auditor))
    assert row.reason == REASON and row.patient_ref == archived
    assert REASON.encode() in client_for(auditor).get("/access/reviews/").content
    care.review_glass_break(actor_for(auditor), grant.uid, True, "")
    # When its time is up, the record closes again.
    grant.expires_at = timezone.now() - dt.timedelta(seconds=1)
    grant.save()
    with pytest.raises(ArchivedRecord):
        clinical.access_chart(actor_for(practitioner), archived)


def test_a_grant_written_in_the_database_opens_nothing(practitioner: Any, archived: str) -> None:
    care.open_archived(actor_for(practitioner), archived, REASON)
    _sql("UPDATE access_glassbreak SET expires_at = %s", timezone.now() - dt.timedelta(hours=1))
    with pytest.raises(ArchivedRecord):
        clinical.access_chart(actor_for(practitioner), archived)
    _sql("UPDATE access_glassbreak SET expires_at = %s", timezone.now() + dt.timedelta(days=9))
    with pytest.raises(ArchivedRecord):  # the seal no longer matches
        clinical.access_chart(actor_for(practitioner), archived)
    assert any(TAMPERED in e.detail for e in events(resource="access.GlassBreak"))


def test_nobody_else_opens_the_archive(
    secretary: Any, manager: Any, auditor: Any, archived: str
) -> None:
    for user in (secretary, manager, auditor):
        with pytest.raises(AccessDenied):
            care.open_archived(actor_for(user), archived, REASON)
        with pytest.raises(AccessDenied):
            archive.restore_patient(actor_for(user), archived, REASON)
        client = client_for(user)
        for action in ("open", "restore"):
            answer = client.post(f"/patients/{archived}/archive/{action}/", {"reason": REASON})
            assert answer.status_code == 403
    nurse = make_user(Role.NURSE)
    with pytest.raises(AccessDenied):
        care.open_archived(actor_for(nurse), archived, REASON)
    assert not GlassBreak.objects.exists() and _row(archived).archived_at is not None


def test_an_active_record_is_not_opened_through_the_archive(
    practitioner: Any, record: tuple[str, dict[str, Any]]
) -> None:
    with pytest.raises(ValidationError):
        care.open_archived(actor_for(practitioner), record[0], REASON)
    with pytest.raises(ValidationError):
        archive.restore_patient(actor_for(practitioner), record[0], REASON)
    assert not GlassBreak.objects.exists()


def test_grants_of_one_kind_never_open_the_other(practitioner: Any, archived: str) -> None:
    colleague = make_user(Role.PRACTITIONER)
    # An emergency grant is refused on an archived record, and one written there opens nothing.
    with pytest.raises(ArchivedRecord):
        care.break_the_glass(actor_for(colleague), archived, "emergency", REASON)
    with pytest.raises(ValidationError):
        care.break_the_glass(actor_for(colleague), archived, "archive", REASON)
    now = timezone.now()
    GlassBreak(
        patient=_row(archived), practitioner=colleague, category="emergency", reason=REASON,
        started_at=now, expires_at=now + dt.timedelta(hours=1),
    ).save()  # fmt: skip
    with pytest.raises(ArchivedRecord):
        clinical.access_chart(actor_for(colleague), archived)
    # An archive grant opens nothing once the record is active again.
    GlassBreak.objects.filter(category="emergency").delete()
    care.open_archived(actor_for(colleague), archived, REASON)
    clinical.access_chart(actor_for(colleague), archived)
    archive.restore_patient(actor_for(practitioner), archived, REASON)
    with pytest.raises(NoCareRelationship):
        clinical.access_chart(actor_for(colleague), archived)


def test_nothing_is_written_into_an_archived_record(
    practitioner: Any, secretary: Any, archived: str
) -> None:
    doctor = actor_for(practitioner)
    care.open_archived(doctor, archived, REASON)
    soon = timezone.now() + dt.timedelta(days=2)
    for call in (
        lambda: clinical.record_entry(doctor, archived, "allergy", ALLERGY),
        lambda: patients.update_patient(doctor, archived, identity()),
        lambda: scheduling.book_appointment(doctor, archived, practitioner.pk, soon, 15),
        lambda: care.declare_care(doctor, archived),
        lambda: patients.update_patient(actor_for(secretary), archived, identity()),
    ):
        with pytest.raises(ArchivedRecord):
            call()
    # Past the gate too (the system's own writes; a write racing the archiving): under the
    # row's lock, the record refuses.
    with pytest.raises(ValidationError) as refused:
        patients.writable_patient(archived)
    assert refused.value.code == "record-archived"
    with pytest.raises(ValidationError):
        clinical.record_entry(Actor.system(), archived, "allergy", ALLERGY)
    # The system reads it (the owner's commands): no grant needed.
    assert patients.access_patient(Actor.system(), archived).uid == archived


# --- restored to active ----------------------------------------------------------------------


def test_a_practitioner_restores_it_with_a_reason(
    practitioner: Any, archived: str, record: tuple[str, dict[str, Any]]
) -> None:
    colleague = make_user(Role.PRACTITIONER)
    client = client_for(colleague)
    answer = client.post(f"/patients/{archived}/archive/restore/", {"reason": "short"})
    assert answer.status_code == 302 and _row(archived).archived_at is not None
    answer = client.post(f"/patients/{archived}/archive/restore/", {"reason": REASON})
    assert answer.status_code == 302
    row = _row(archived)
    assert row.archived_at is None and integrity.intact(row)
    (restored,) = events(action="restore")
    assert restored.actor == colleague and REASON in restored.detail
    # In the search again; the restoring practitioner takes care of the patient.
    found = patients.search_patients(actor_for(colleague), record[1]["niss"]).patients
    assert [p.uid for p in found] == [archived]
    assert CareRelationship.objects.filter(practitioner=colleague).exists()
    clinical.record_entry(actor_for(colleague), archived, "allergy", ALLERGY)
    # Restoring is a contact: the next run leaves it active for another period.
    assert archive.archive_due(now=_later(4)).archived == []
    # Restoring twice: refused, said.
    answer = client.post(f"/patients/{archived}/archive/restore/", {"reason": REASON})
    assert answer.status_code == 302 and len(events(action="restore", outcome="success")) == 1


# --- the archive flag, attacked in the database ----------------------------------------------


def test_the_flag_cleared_in_the_database_keeps_the_record_archived(
    practitioner: Any, archived: str, record: tuple[str, dict[str, Any]]
) -> None:
    _sql("UPDATE patients_patient SET archived_at = NULL")
    row = _row(archived)
    assert not integrity.intact(row) and integrity.sealed_as_archived(row)
    found = patients.search_patients(actor_for(practitioner), record[1]["niss"])
    assert found.patients == []
    with pytest.raises(ArchivedRecord):
        patients.access_patient(actor_for(practitioner), archived)
    assert any(TAMPERED in e.detail for e in events(patient_ref=archived))


def test_the_flag_set_in_the_database_is_an_alteration(
    practitioner: Any, record: tuple[str, dict[str, Any]]
) -> None:
    uid = record[0]
    _sql("UPDATE patients_patient SET archived_at = %s", timezone.now())
    row = _row(uid)
    assert not integrity.intact(row) and not integrity.sealed_as_archived(row)
    with pytest.raises(ArchivedRecord):
        clinical.access_chart(actor_for(practitioner), uid)
    care.open_archived(actor_for(practitioner), uid, REASON)
    assert clinical.access_chart(actor_for(practitioner), uid).altered  # shown, and reported
    with pytest.raises(ValidationError):  # restoring would seal what the attacker wrote
        archive.restore_patient(actor_for(practitioner), uid, REASON)


def test_restoring_ends_the_archive_grants(practitioner: Any, archived: str) -> None:
    """A grant opened the archived state only: archived again later, the record asks a new
    reason. A grant altered in the database is left as found (it opens nothing anyway)."""
    colleague = make_user(Role.PRACTITIONER)
    care.open_archived(actor_for(colleague), archived, REASON)
    care.open_archived(actor_for(practitioner), archived, REASON)
    _sql(
        "UPDATE access_glassbreak SET reason = %s WHERE practitioner_id = %s",
        "Altered in the database",
        practitioner.pk,
    )
    archive.restore_patient(actor_for(colleague), archived, REASON)
    (restored,) = events(action="restore")
    assert '"grants_ended":1' in restored.detail
    assert archive.archive_due(now=_later(6)).archived
    with pytest.raises(ArchivedRecord):
        clinical.access_chart(actor_for(colleague), archived)


# --- the register ----------------------------------------------------------------------------


def test_the_register_reads_the_setting_the_last_run_and_the_counts(
    record: tuple[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from secretum.compliance import evidence

    assert not evidence.gather(["J1"])["J1"].met  # never ran
    archive.archive_due(now=_later(6))
    found = evidence.gather(["J1"])["J1"]
    assert found.met, found.summary
    assert "after 5 years" in found.summary
    assert "1 archived. Now 1 archived records, 0 active, 0 due" in found.summary
    # Three days on without a run: the daily run has stopped; not met, and said.
    later = timezone.now() + dt.timedelta(days=3)
    monkeypatch.setattr(timezone, "now", lambda: later)
    stale = evidence.gather(["J1"])["J1"]
    assert not stale.met and "stopped" in stale.action
