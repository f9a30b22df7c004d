"""The maintenance log (K1): every intervention recorded, with the consent of the workstation's
user (E3) and a supervisor of the practice for an outside company (K2); append-only in the model
and in the database; corrections; who may read and write; the audit events; the CSV export; the
register's evidence."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from secretum.access.actor import AccessDenied, Actor
from secretum.access.policy import Role
from secretum.audit.models import AuditEvent
from secretum.compliance import declarations, evidence
from secretum.compliance.models import AppendOnlyError, Choice, Declaration
from secretum.maintenance import services
from secretum.maintenance.entries import Intervention
from secretum.maintenance.models import MaintenanceEntry
from tests.conftest import actor_for, client_for, events, make_user

RESOURCE = "maintenance.MaintenanceEntry"
WHAT = "Fictitious: replaced the reception computer's disk; restored its profile."


def intervention(**overrides: Any) -> Intervention:
    data: dict[str, Any] = {
        "intervened_at": timezone.now() - dt.timedelta(hours=2),
        "intervener": "Xavier Testdepanne",
        "company": "",
        "equipment": "Reception computer",
        "what": WHAT,
        "on_workstation": True,
        "consent": True,
        "consent_by": "Quilline Accueil",
    }
    data.update(overrides)
    return Intervention(**data)


def record(user: Any, **overrides: Any) -> str:
    return services.record_intervention(actor_for(user), intervention(**overrides))


def write_past_secretum(uid: str, **flags: Any) -> MaintenanceEntry:
    """A row written without the service's checks and without its audit event, as someone
    holding the database and the key file could (the register's evidence must see it)."""
    entry = MaintenanceEntry.objects.get(uid=uid)
    values = {"outside": entry.outside, "on_workstation": True, "consent": True, **flags}
    texts = {"intervener": "Someone", "equipment": "Laptop", "what": "Past Secretum"}
    return services.append_entry(Actor.system(), entry.intervened_at, texts, values)


def form(**overrides: str) -> dict[str, str]:
    data = {
        "intervened_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "intervener": "Xavier Testdepanne",
        "company": "",
        "supervisor": "",
        "equipment": "Reception computer",
        "consent": "yes",
        "consent_by": "Quilline Accueil",
        "what": WHAT,
    }
    data.update(overrides)
    return data


@pytest.fixture
def maintainer(db: Any) -> Any:
    return make_user(Role.MAINTAINER)


def _refused(user: Any, **overrides: Any) -> dict[str, list[str]]:
    before = MaintenanceEntry.objects.count(), AuditEvent.objects.count()
    with pytest.raises(ValidationError) as caught:
        record(user, **overrides)
    assert (MaintenanceEntry.objects.count(), AuditEvent.objects.count()) == before
    return caught.value.message_dict


# --- entries ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.MANAGER, Role.MAINTAINER])
def test_an_intervention_is_recorded_with_its_audit_event(db: Any, role: Role) -> None:
    """K1: who, when, what, on which equipment; one "maintenance" event naming the entry, its
    flags and never its text (D1)."""
    user = make_user(role)
    uid = record(user)
    entry = MaintenanceEntry.objects.get(uid=uid)
    assert entry.recorded_by == user and entry.origin == "form"
    assert entry.on_workstation and entry.consent and not entry.outside
    event = events(resource=RESOURCE)[-1]
    assert (event.action, event.outcome, event.resource_ref) == ("maintenance", "success", uid)
    assert event.actor == user
    assert "Testdepanne" not in event.detail and "disk" not in event.detail
    assert '"consent":true' in event.detail and '"on_workstation":true' in event.detail


def test_the_names_and_the_text_are_sealed_at_rest(manager: Any) -> None:
    """The text may name a colleague or a patient: sealed under the key file (E10)."""
    uid = record(manager, consent_by="Quilline Zorbatova")
    with connection.cursor() as cur:
        cur.execute("SELECT * FROM maintenance_maintenanceentry")
        raw = repr(cur.fetchall())
    for text in ("Testdepanne", "Zorbatova", "Reception", "disk"):
        assert text not in raw
    entry = MaintenanceEntry.objects.get(uid=uid)
    other = MaintenanceEntry.objects.get(uid=record(manager))
    # The sealed text is bound to its row: moved to another row, it no longer opens.
    from secretum.crypto.keyring import DecryptionError

    with pytest.raises(DecryptionError):
        services._open(entry.sealed, other.uid)


def test_the_entry_reads_back_as_it_was_recorded(manager: Any) -> None:
    record(manager, company="Fictive IT sprl", supervisor_id=manager.pk)
    (group,) = services.list_entries(actor_for(manager))
    e = group.current
    assert (e.intervener, e.company, e.equipment, e.what) == (
        "Xavier Testdepanne",
        "Fictive IT sprl",
        "Reception computer",
        WHAT,
    )
    assert e.supervisor == manager.get_full_name() and e.consent_by == "Quilline Accueil"
    assert e.outside and group.earlier == ()


# --- E3: the consent of the workstation's user --------------------------------------------------


def test_an_intervention_on_a_workstation_without_consent_is_refused(maintainer: Any) -> None:
    """E3: refused, saying why and what to do; nothing written."""
    errors = _refused(maintainer, consent=False, consent_by="")
    assert "consent beforehand (E3)" in errors["consent"][0]
    assert "not on a user's workstation" in errors["consent"][0].replace("was not", "not")


def test_an_intervention_off_workstations_needs_no_consent(maintainer: Any) -> None:
    uid = record(maintainer, equipment="Server", on_workstation=False, consent=False)
    entry = MaintenanceEntry.objects.get(uid=uid)
    assert not entry.on_workstation and not entry.consent


def test_the_consent_is_a_required_answer_and_names_the_user(maintainer: Any) -> None:
    assert "consented beforehand" in _refused(maintainer, consent=None)["consent"][0]
    assert "who consented" in _refused(maintainer, consent_by=" ")["consent_by"][0]


def test_a_refused_consent_keeps_no_name(maintainer: Any) -> None:
    record(maintainer, on_workstation=False, consent=False, consent_by="Left over")
    (group,) = services.list_entries(actor_for(maintainer))
    assert group.current.consent_by == ""


# --- K2: an outside company's intervention is supervised ---------------------------------------


def test_an_outside_company_needs_a_supervisor_of_the_practice(maintainer: Any) -> None:
    """K2: refused without one, saying so."""
    errors = _refused(maintainer, company="Fictive IT sprl")
    assert "supervised by someone of the practice (K2)" in errors["supervisor"][0]


def test_the_supervisor_is_an_active_user_of_the_practice(maintainer: Any, manager: Any) -> None:
    gone = make_user(Role.SECRETARY)
    gone.is_active = False
    gone.save()
    for wrong in (gone.pk, 999_999):
        errors = _refused(maintainer, company="Fictive IT sprl", supervisor_id=wrong)
        assert "active user" in errors["supervisor"][0]
    uid = record(maintainer, company="Fictive IT sprl", supervisor_id=manager.pk)
    entry = MaintenanceEntry.objects.get(uid=uid)
    assert entry.outside and entry.supervisor == manager


def test_someone_of_the_practice_may_intervene_unsupervised(maintainer: Any) -> None:
    assert not MaintenanceEntry.objects.get(uid=record(maintainer, company="")).outside


# --- bounded text, plausible dates (N2) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("intervener", "", "Say who intervened."),
        ("equipment", "  ", "Say on which equipment."),
        ("what", "", "Say what was done."),
        ("intervener", "x" * 151, "At most 150 characters."),
        ("company", "x" * 151, "At most 150 characters."),
        ("what", "x" * 2001, "At most 2000 characters."),
        ("consent_by", "x" * 151, "At most 150 characters."),
    ],
)
def test_the_text_is_required_and_bounded(
    maintainer: Any, field: str, value: str, message: str
) -> None:
    assert _refused(maintainer, **{field: value})[field] == [message]


def test_the_moment_is_neither_in_the_future_nor_decades_ago(maintainer: Any) -> None:
    future = timezone.now() + dt.timedelta(days=1)
    assert "future" in _refused(maintainer, intervened_at=future)["intervened_at"][0]
    ancient = timezone.now() - dt.timedelta(days=11 * 366)
    assert "ten years" in _refused(maintainer, intervened_at=ancient)["intervened_at"][0]


# --- append-only --------------------------------------------------------------------------------


def test_the_model_refuses_to_change_or_delete_an_entry(manager: Any) -> None:
    entry = MaintenanceEntry.objects.get(uid=record(manager))
    entry.consent = False
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        MaintenanceEntry.objects.filter(pk=entry.pk).update(consent=False)
    with pytest.raises(AppendOnlyError):
        MaintenanceEntry.objects.all().delete()


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("UPDATE maintenance_maintenanceentry SET consent = %s", [False]),
        ("UPDATE maintenance_maintenanceentry SET intervened_at = intervened_at", []),
        ("DELETE FROM maintenance_maintenanceentry WHERE consent = %s", [True]),
        ("DELETE FROM maintenance_maintenanceentry", []),
    ],
)
def test_the_database_refuses_plain_sql_update_and_delete(
    manager: Any, sql: str, params: list[Any]
) -> None:
    """K1: whoever asks, on SQLite and PostgreSQL (triggers, maintenance/db.py)."""
    uid = record(manager)
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, params)
    entry = MaintenanceEntry.objects.get(uid=uid)
    assert entry.consent and services.access_entry(actor_for(manager), uid).what == WHAT


def test_the_database_refuses_truncate_on_postgresql(manager: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    record(manager)
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cur.execute("TRUNCATE maintenance_maintenanceentry CASCADE")
    assert MaintenanceEntry.objects.count() == 1


# --- corrections --------------------------------------------------------------------------------


def test_a_correction_is_a_new_entry_that_names_the_one_it_corrects(maintainer: Any) -> None:
    first = record(maintainer, equipment="Reception computr")
    actor = actor_for(maintainer)
    second = services.correct_intervention(
        actor, first, intervention(equipment="Reception computer"), "Typo in the equipment."
    )
    old, new = (MaintenanceEntry.objects.get(uid=u) for u in (first, second))
    assert new.corrects == old
    event = events(resource=RESOURCE)[-1]
    assert event.action == "maintenance" and event.resource_ref == second
    assert f'"corrects":"{first}"' in event.detail
    assert services.access_entry(actor, first).equipment == "Reception computr"  # kept as it was
    (group,) = services.list_entries(actor)
    assert group.current.number == new.pk and group.current.corrects == old.pk
    assert group.current.correction_reason == "Typo in the equipment."
    assert [e.number for e in group.earlier] == [old.pk]
    assert group.earlier[0].corrected_by == new.pk


def test_an_entry_is_corrected_once_then_its_correction_is(maintainer: Any) -> None:
    actor = actor_for(maintainer)
    first = record(maintainer)
    second = services.correct_intervention(actor, first, intervention(), "First correction.")
    with pytest.raises(ValidationError, match="already corrected"):
        services.correct_intervention(actor, first, intervention(), "Second try.")
    third = services.correct_intervention(actor, second, intervention(), "Second correction.")
    (group,) = services.list_entries(actor)
    assert group.current.uid == third
    assert [e.uid for e in group.earlier] == [second, first]


def test_a_correction_follows_the_same_rules_and_needs_a_reason(maintainer: Any) -> None:
    actor = actor_for(maintainer)
    first = record(maintainer)
    with pytest.raises(ValidationError) as caught:
        services.correct_intervention(actor, first, intervention(consent=False), " ")
    assert set(caught.value.message_dict) == {"reason", "consent"}
    assert MaintenanceEntry.objects.count() == 1


def test_the_database_allows_one_correction_per_entry(maintainer: Any) -> None:
    """The race of two simultaneous corrections is closed by a unique link."""
    from django.db import IntegrityError

    first = MaintenanceEntry.objects.get(uid=record(maintainer))
    texts = {"intervener": "A", "equipment": "B", "what": "C"}
    flags = {"outside": False, "on_workstation": False, "consent": False}
    services.append_entry(Actor.system(), timezone.now(), texts, flags, corrects=first)
    with pytest.raises(IntegrityError), transaction.atomic():
        services.append_entry(Actor.system(), timezone.now(), texts, flags, corrects=first)


# --- who may read and write ---------------------------------------------------------------------

READERS = (Role.MANAGER, Role.MAINTAINER, Role.AUDITOR)
WRITERS = (Role.MANAGER, Role.MAINTAINER)


@pytest.mark.parametrize("role", list(Role))
def test_who_reads_and_writes_the_log(db: Any, role: Role) -> None:
    """Manager and IT maintainer keep the log; the auditor reads it; nobody else sees it (and
    a refusal is a "denied" event, D1). An outside technician records their intervention but
    neither reads nor corrects the log (K2: never the record of their own window)."""
    uid = record(make_user(Role.MANAGER))
    actor = actor_for(make_user(role))
    if role in READERS:
        assert services.list_entries(actor)[0].current.uid == uid
        assert services.export_log(actor).count == 1
    else:
        for read in (services.list_entries, services.export_log):
            with pytest.raises(AccessDenied):
                read(actor)
        assert events(resource=RESOURCE, outcome="denied")[-1].actor == actor.user
    if role in WRITERS:
        services.record_intervention(actor, intervention())
        services.correct_intervention(actor, uid, intervention(), "A fictitious correction.")
    elif role == Role.TECHNICIAN:
        services.record_intervention(actor, intervention())
        with pytest.raises(AccessDenied):
            services.correct_intervention(actor, uid, intervention(), "A correction.")
        assert events(outcome="denied")[-1].resource == RESOURCE
        assert not MaintenanceEntry.objects.filter(corrects__isnull=False).exists()
    else:
        denied = len(events(outcome="denied"))
        with pytest.raises(AccessDenied):
            services.record_intervention(actor, intervention())
        with pytest.raises(AccessDenied):
            services.correct_intervention(actor, uid, intervention(), "A correction.")
        assert len(events(outcome="denied")) == denied + 2
        assert MaintenanceEntry.objects.count() == 1


@pytest.mark.parametrize(
    ("role", "log", "new"),
    [
        (Role.MANAGER, 200, 200),
        (Role.MAINTAINER, 200, 200),
        (Role.AUDITOR, 200, 403),
        (Role.PRACTITIONER, 403, 403),
        (Role.SECRETARY, 403, 403),
        (Role.TECHNICIAN, 403, 200),  # K2: records their intervention, reads nothing
    ],
)
def test_the_pages_and_the_menu_per_role(db: Any, role: Role, log: int, new: int) -> None:
    client = client_for(make_user(role))
    assert client.get("/maintenance/").status_code == log
    assert client.get("/maintenance/new/").status_code == new
    assert client.get("/maintenance/export.csv").status_code == log
    home = client.get("/").content.decode()
    assert ('data-testid="nav-maintenance"' in home) == (log == 200)
    if log == 200:
        page = client.get("/maintenance/").content.decode()
        assert ('data-testid="new-entry"' in page) == (new == 200)


# --- the pages, and the audit events each leaves (D1) --------------------------------------------


def _new_events(before: int) -> list[tuple[str, str, str]]:
    return [
        (e.action, e.resource, e.outcome)
        for e in AuditEvent.objects.filter(seq__gt=before).order_by("seq")
    ]


def _last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def test_the_form_records_an_intervention(maintainer: Any, manager: Any) -> None:
    client = client_for(maintainer)
    assert client.get("/maintenance/new/").status_code == 200
    before = _last_seq()
    data = form(company="Fictive IT sprl", supervisor=str(manager.pk))
    response = client.post("/maintenance/new/", data)
    assert response.status_code == 302 and response["Location"] == "/maintenance/"
    assert _new_events(before) == [("maintenance", RESOURCE, "success")]
    before = _last_seq()
    page = client.get("/maintenance/").content.decode()
    assert "Fictive IT sprl" in page and "Xavier Testdepanne" in page and "yes: Quilline" in page
    assert _new_events(before) == [("search", RESOURCE, "success")]


def test_the_form_says_why_an_intervention_is_refused(maintainer: Any) -> None:
    client = client_for(maintainer)
    response = client.post("/maintenance/new/", form(consent="no", consent_by=""))
    assert response.status_code == 400
    assert "consent beforehand (E3)" in response.content.decode().replace("&#x27;", "'")
    response = client.post("/maintenance/new/", form(company="Fictive IT sprl"))
    assert response.status_code == 400 and "(K2)" in response.content.decode()
    response = client.post(
        "/maintenance/new/", form(consent="no", consent_by="", not_workstation="on")
    )
    assert response.status_code == 302
    assert MaintenanceEntry.objects.get().on_workstation is False


def test_the_correction_form(maintainer: Any) -> None:
    first = record(maintainer, equipment="Reception computr")
    client = client_for(maintainer)
    before = _last_seq()
    page = client.get(f"/maintenance/{first}/correct/")
    assert page.status_code == 200 and 'value="Reception computr"' in page.content.decode()
    assert _new_events(before) == [("read", RESOURCE, "success")]
    before = _last_seq()
    response = client.post(f"/maintenance/{first}/correct/", form(reason="Typo."))
    assert response.status_code == 302
    assert _new_events(before) == [("maintenance", RESOURCE, "success")]
    html = client.get("/maintenance/").content.decode()
    assert "Corrects entry" in html and "Corrected by entry" in html
    already = client.get(f"/maintenance/{first}/correct/").content.decode()
    assert 'data-testid="already-corrected"' in already
    response = client.post(f"/maintenance/{first}/correct/", form(reason="Again."))
    assert response.status_code == 400 and "already corrected" in response.content.decode()
    assert client.post(f"/maintenance/{first}/correct/", form(reason="")).status_code == 400


def test_an_unknown_entry_is_a_404(maintainer: Any) -> None:
    client = client_for(maintainer)
    unknown = "00000000-0000-4000-8000-000000000000"
    assert client.get(f"/maintenance/{unknown}/correct/").status_code == 404
    assert client.post(f"/maintenance/{unknown}/correct/", form(reason="x")).status_code == 404


# --- the auditor's CSV export -------------------------------------------------------------------


def test_the_auditor_exports_the_whole_log_as_csv(maintainer: Any, auditor: Any) -> None:
    first = record(maintainer, what='=HYPERLINK("http://example.invalid")')
    services.correct_intervention(actor_for(maintainer), first, intervention(), "Wrong text.")
    client = client_for(auditor)
    before = _last_seq()
    # In clear to read it here; encrypted by default: tests/exchange/test_delivery.py (E7, M3).
    response = client.post(
        "/maintenance/export.csv",
        {"delivery": "plain", "delivery_reason": "Fictitious test of the file in clear."},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment;" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["number"] for r in rows] == [
        str(e.pk) for e in MaintenanceEntry.objects.order_by("id")
    ]
    old, new = rows
    assert old["what"].startswith("'=HYPERLINK")  # never run as a formula (CSV injection)
    assert old["corrected_by"] == new["number"] and new["corrects"] == old["number"]
    assert new["correction_reason"] == "Wrong text." and new["consent"] == "yes"
    assert new["intervened_at"].endswith("Z") and new["origin"] == "form"
    assert _new_events(before) == [("export", RESOURCE, "success")]
    assert '"entries":2' in events(action="export")[-1].detail


# --- the register's evidence (K1, E3) ------------------------------------------------------------


def _evidence(measure: str) -> evidence.Evidence:
    return evidence.gather([measure])[measure]


def test_k1_is_met_by_an_intervention_within_twelve_months(manager: Any) -> None:
    assert not _evidence("K1").met
    record(manager, intervened_at=timezone.now() - dt.timedelta(days=400))
    found = _evidence("K1")
    assert not found.met and "No maintenance intervention" in found.summary
    record(manager, intervened_at=timezone.now() - dt.timedelta(days=300))
    found = _evidence("K1")
    assert found.met and found.summary.startswith("1 intervention recorded")


def test_k1_is_met_when_the_practice_declared_none_was_needed(manager: Any) -> None:
    declarations.declare(
        actor_for(manager),
        "K1",
        choice="not-needed",
        justification="No IT equipment was serviced this year (fictitious).",
        owner_id=manager.pk,
        next_review=timezone.localdate() + dt.timedelta(days=100),
    )
    found = _evidence("K1")
    assert found.met and "declared that none was needed" in found.summary


def test_k1_wants_the_declaration_renewed_every_twelve_months(manager: Any) -> None:
    Declaration.objects.create(
        measure="K1",
        version=1,
        change=Declaration.Change.DECLARED,
        choice=Choice.NOT_NEEDED,
        justification="An old fictitious declaration.",
        owner=manager,
        next_review=timezone.localdate(),
        recorded_at=timezone.now() - dt.timedelta(days=400),
        recorded_by=manager,
    )
    assert not _evidence("K1").met


def test_e3_reports_the_share_of_workstation_interventions_with_consent(manager: Any) -> None:
    found = _evidence("E3")
    assert found.met and found.summary.startswith("0 of 0 interventions")
    record(manager)
    record(manager, on_workstation=False, consent=False)  # the server: not counted
    uid = record(manager)
    found = _evidence("E3")
    assert found.met and found.summary.startswith("2 of 2 interventions on a user's workstation")
    bad = write_past_secretum(uid, consent=False)
    found = _evidence("E3")
    assert not found.met and found.summary.startswith("2 of 3 interventions")
    assert found.details == (f"entry {bad.pk}",)
    # Corrected (it was not on a workstation after all), it counts as its correction.
    services.correct_intervention(
        actor_for(manager),
        bad.uid,
        intervention(on_workstation=False, consent=False),
        "It was the server.",
    )
    assert _evidence("E3").met
