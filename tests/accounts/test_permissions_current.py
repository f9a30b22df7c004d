"""Keeping permissions current (C2, issue 10): a role holds only between its dates, decided at
every request and every service call; an account unused for the practice's limit is disabled,
really, by `secretum accounts disable-inactive`, never the last active manager; the manager's
report says what ended, what is about to, and who is near the limit.

Time is moved by writing dates through the models, saved through Secretum so that their seals
match (never by patching the clock); attacks are plain SQL, as in test_stolen_database.py.
"""

from __future__ import annotations

import datetime as dt
import importlib
import io
import json
import uuid
import zoneinfo
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from secretum.access.actor import AccessDenied, Actor, role_of
from secretum.access.policy import Permission, Role
from secretum.accounts import lifecycle, services
from secretum.accounts.models import PracticeSettings, SessionData, UserSession
from secretum.audit import alerts
from secretum.audit.models import TAMPERED
from secretum.crypto import rows
from tests.accounts.test_attacks import PASSWORD, _sudo, sign_in
from tests.conftest import SecureClient, actor_for, client_for, events, identity, make_user

DAY = dt.timedelta(days=1)


def _sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cur:
        cur.execute(statement, params)


def _now() -> dt.datetime:
    return timezone.now()


def _set(user: Any, **values: Any) -> Any:
    """Move time for this account: its dates written through the model, its seal renewed."""
    for name, value in values.items():
        setattr(user, name, value)
    user.save()
    return user


def _unused(user: Any, days: int) -> Any:
    """Nobody signed in to the account for ``days`` days (joined before that)."""
    then = _now() - dt.timedelta(days=days)
    return _set(user, date_joined=then - DAY, last_login=then, enabled_at=None)


def _signed_out(response: Any) -> bool:
    return bool(response.status_code == 302 and response["Location"].startswith("/accounts/login"))


def _details(**filters: Any) -> list[dict[str, Any]]:
    return [json.loads(e.detail or "{}") for e in events(**filters)]


def _run() -> str:
    out = io.StringIO()
    call_command("accounts_disable_inactive", stdout=out)
    return out.getvalue()


@pytest.fixture
def doctor(db: Any) -> Any:
    return make_user(Role.PRACTITIONER, password=PASSWORD)


@pytest.fixture
def manager(db: Any) -> Any:
    return make_user(Role.MANAGER, password=PASSWORD)


# --- a role holds only between its dates, at every request and every call -------------------------


def test_a_role_past_its_end_stops_at_the_very_next_request(doctor: Any) -> None:
    """C2: an open session whose role ends is refused at its next request and ended there; the
    login that follows is refused too. Nothing waits for the next login."""
    client = client_for(doctor)
    assert client.get("/").status_code == 200
    _set(doctor, role_ends_at=_now() - dt.timedelta(seconds=1))
    assert role_of(doctor) is None and rows.intact(doctor)
    assert _signed_out(client.get("/"))
    (record,) = UserSession.objects.filter(user=doctor)
    assert record.ended_at is not None and record.end_reason == "no-role"
    assert not SessionData.objects.filter(record=record).exists()
    assert _details(outcome="denied", resource="session")[-1]["reason"] == "no-role"
    assert client.get("/patients/").status_code == 302  # and it stays signed out
    again = SecureClient().post(
        "/accounts/login/", {"username": doctor.username, "password": PASSWORD}
    )
    assert again.status_code == 200 and "Login failed" in again.text
    assert _details(action="login-failed")[-1]["reason"] == "no-role"


def test_a_role_past_its_end_stops_a_script_with_a_plain_answer(doctor: Any) -> None:
    """C2: a page's script (asking JSON: the idle lock's poll) whose session's role ended is told
    it is signed out (401), not sent a login page; the session is ended all the same."""
    client = client_for(doctor)
    assert client.get("/", HTTP_ACCEPT="application/json").status_code == 200
    _set(doctor, role_ends_at=_now() - dt.timedelta(seconds=1))
    answer = client.get("/", HTTP_ACCEPT="application/json")
    assert answer.status_code == 401 and answer.json() == {"state": "signed-out"}
    (record,) = UserSession.objects.filter(user=doctor)
    assert record.ended_at is not None and record.end_reason == "no-role"
    assert _signed_out(client.get("/"))


def test_a_role_past_its_end_stops_at_the_next_service_call(doctor: Any) -> None:
    """C2: an actor made while the role held refuses the next call once it has ended: the role is
    decided at each check, not when the actor was made (nor at login)."""
    from secretum.patients import services as patients

    actor = actor_for(doctor)
    patients.register_patient(actor, identity())
    _set(doctor, role_ends_at=_now() - dt.timedelta(seconds=1))
    with pytest.raises(AccessDenied):
        patients.register_patient(actor, identity())
    assert events(resource="patients.Patient")[-1].outcome == "denied"


def test_a_role_given_to_an_actor_by_hand_grants_nothing(doctor: Any) -> None:
    """C2: the one place that decides a role is ``role_of``: an actor that claims another role
    than the user holds now may do nothing."""
    claimed = Actor(user=doctor, role=Role.MANAGER)
    assert not claimed.may(Permission.USERS_MANAGE)
    assert not claimed.may(Permission.CLINICAL_READ)
    assert Actor.for_user(doctor).may(Permission.CLINICAL_READ)


def test_a_role_not_yet_started_gives_nothing(manager: Any) -> None:
    """C2: a role that starts tomorrow grants nothing today: no login, no page, no service call;
    from its start it holds as any other."""
    from secretum.patients import services as patients

    tomorrow = _now() + DAY
    newcomer = services.create_user(
        actor_for(manager),
        username="dr.later",
        role=Role.PRACTITIONER,
        password=PASSWORD,
        first_name="Quentin",
        last_name="Later",
        role_starts_at=tomorrow,
    )
    assert newcomer.role_starts_at == tomorrow and role_of(newcomer) is None
    assert role_of(newcomer, tomorrow) == Role.PRACTITIONER
    with pytest.raises(AccessDenied):
        patients.register_patient(Actor.for_user(newcomer), identity())
    refused = SecureClient().post(
        "/accounts/login/", {"username": "dr.later", "password": PASSWORD}
    )
    assert refused.status_code == 200 and "Login failed" in refused.text
    assert _signed_out(client_for(newcomer).get("/"))
    _set(newcomer, role_starts_at=_now() - dt.timedelta(seconds=1))
    # Signed in now, and asked to enrol a second factor as any new account is.
    assert client_for(newcomer).get("/")["Location"] == "/accounts/factors/new/"
    patients.register_patient(Actor.for_user(newcomer), identity())


def test_role_dates_written_in_the_database_are_refused(doctor: Any) -> None:
    """C2, B1: the dates are sealed with the user row. An ended role stretched in the database
    (its end removed, or its start moved) makes the account nobody: session over, login
    refused, the auditor alerted."""
    _set(doctor, role_ends_at=_now() - DAY)
    _sql("UPDATE accounts_user SET role_ends_at = NULL WHERE id = %s", doctor.pk)
    doctor.refresh_from_db()
    assert doctor.role_ends_at is None and not rows.intact(doctor)
    client = SecureClient()
    response = client.post("/accounts/login/", {"username": doctor.username, "password": PASSWORD})
    assert response.status_code == 200 and "Login failed" in response.text
    found = alerts.detect(_now() - dt.timedelta(hours=1))
    assert [a.reason for a in found if a.kind == "tampered"] == [f"accounts.User {doctor.pk}"]

    later = make_user(Role.SECRETARY, password=PASSWORD)
    _set(later, role_starts_at=_now() + DAY)
    session = client_for(later)
    _sql("UPDATE accounts_user SET role_starts_at = %s WHERE id = %s", _now() - DAY, later.pk)
    assert _signed_out(session.get("/"))


def test_dates_typed_in_another_time_zone_keep_their_seal(doctor: Any) -> None:
    """A moment typed in Brussels time comes back from the database in UTC: the seal names the
    moment, not the zone it was typed in (crypto.rows)."""
    brussels = zoneinfo.ZoneInfo("Europe/Brussels")
    end = (_now() + 10 * DAY).astimezone(brussels).replace(microsecond=0)
    doctor.give_role(Role.PRACTITIONER, ends_at=end)
    doctor.save()
    fresh = get_user_model().objects.get(pk=doctor.pk)
    assert fresh.role_ends_at == end and rows.intact(fresh)


# --- the manager sets the dates -------------------------------------------------------------------


def _with_factor(user: Any) -> Any:
    """The account as it stands once its owner enrolled an authenticator app."""
    from secretum.accounts.models import Factor
    from tests.conftest import TEST_TOTP_SECRET

    factor = Factor(user=user, kind=Factor.Kind.TOTP, name="Test app", confirmed=True)
    services.seal_totp_secret(factor, TEST_TOTP_SECRET)
    factor.save()
    return user


def _manager_client(manager: Any) -> SecureClient:
    client = client_for(manager)
    _sudo(client)
    return client


def test_the_manager_gives_a_role_for_a_period_audited(manager: Any) -> None:
    """C2: the dates set when creating a user and when editing one, each change audited with
    what changed (before, after); the change holds from the user's next request."""
    client = _manager_client(manager)
    client.post(
        "/accounts/users/new/",
        {
            "username": "temp.doc",
            "first_name": "Fictitious",
            "last_name": "Locum",
            "role": "practitioner",
            "role_ends_at": (timezone.localtime() + 5 * DAY).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    locum = _with_factor(get_user_model().objects.get(username="temp.doc"))
    assert locum.role_ends_at is not None and locum.role_starts_at <= _now()
    created = _details(action="create", resource="accounts.User")[-1]
    assert created["role"] == "practitioner" and created["role_ends_at"] is not None

    session = client_for(locum)
    assert session.get("/").status_code == 200
    response = client.post(
        "/accounts/users/role/",
        {"user": locum.pk, "role": "practitioner", "role_ends_at": ""},
    )
    assert response.status_code == 302
    locum.refresh_from_db()
    assert locum.role_ends_at is None and rows.intact(locum)
    changed = _details(action="update", resource="accounts.User")[-1]
    assert changed["change"] == "role" and list(changed["changed"]) == ["role_ends_at"]
    assert changed["changed"]["role_ends_at"][1] is None

    clinical_page = f"/clinical/{uuid.uuid4()}/observation/new/"  # CLINICAL_WRITE, no patient
    assert session.get(clinical_page).status_code == 404
    client.post("/accounts/users/role/", {"user": locum.pk, "role": "secretary"})
    locum.refresh_from_db()
    assert locum.role == "secretary" and locum.role_starts_at > locum.date_joined
    assert session.get(clinical_page).status_code == 403  # the secretary's, at once
    assert session.get("/patients/").status_code == 200
    changed = _details(action="update", resource="accounts.User")[-1]["changed"]
    assert changed["role"] == ["practitioner", "secretary"] and "role_starts_at" in changed


def test_the_manager_cannot_give_impossible_dates_nor_change_their_own_role(
    manager: Any, doctor: Any
) -> None:
    """C2, N2: an end before the start, a date beyond ten years, one's own role: refused,
    nothing changed; an unchanged role writes nothing."""
    actor = actor_for(manager)
    with pytest.raises(ValidationError, match="end after it starts"):
        lifecycle.change_role(actor, doctor.pk, Role.PRACTITIONER, _now(), _now() - DAY)
    with pytest.raises(ValidationError, match="Give dates between"):
        lifecycle.change_role(actor, doctor.pk, Role.PRACTITIONER, None, _now() + 4000 * DAY)
    with pytest.raises(ValidationError, match="your own role"):
        lifecycle.change_role(actor, manager.pk, Role.MANAGER, None, _now() + DAY)
    # Each refusal is the attempt's one event, a failure, on the account it aimed at (D1).
    refused = events(action="update", resource="accounts.User")
    assert [(e.outcome, e.resource_ref) for e in refused] == [
        ("failure", str(doctor.pk)),
        ("failure", str(doctor.pk)),
        ("failure", str(manager.pk)),
    ]
    assert all('"error":"ValidationError"' in e.detail for e in refused)
    before = len(events())
    assert lifecycle.change_role(actor, doctor.pk, Role.PRACTITIONER) == {}
    assert len(events()) == before
    doctor.refresh_from_db()
    assert doctor.role_ends_at is None and rows.intact(doctor)
    client = _manager_client(manager)
    page = client.post(
        "/accounts/users/role/", {"user": doctor.pk, "role": "practitioner"}, follow=True
    )
    assert "Nothing to change." in page.text
    page = client.post(
        "/accounts/users/role/", {"user": manager.pk, "role": "secretary"}, follow=True
    )
    assert "You cannot change your own role." in page.text
    manager.refresh_from_db()
    assert manager.role == Role.MANAGER and rows.intact(manager)
    # K2: an outside technician's role is a maintenance window, never given here, and never
    # longer than its hours whoever sets it.
    with pytest.raises(ValidationError, match="maintenance window"):
        lifecycle.change_role(actor, doctor.pk, Role.TECHNICIAN, None, _now() + DAY / 4)
    with pytest.raises(ValidationError, match="at most 8 hours"):
        doctor.give_role(Role.TECHNICIAN, None, None)
    doctor.refresh_from_db()
    assert doctor.role == Role.PRACTITIONER and rows.intact(doctor)
    with pytest.raises(AccessDenied):
        lifecycle.change_role(actor_for(doctor), doctor.pk, Role.MANAGER)


def test_an_altered_account_is_not_laundered_by_a_role_change(manager: Any, doctor: Any) -> None:
    """A new seal would make what was written outside Secretum valid: refused."""
    _sql("UPDATE accounts_user SET role = 'manager' WHERE id = %s", doctor.pk)
    manager_actor = Actor.for_user(manager, "192.0.2.7")
    with pytest.raises(ValidationError, match="altered outside Secretum"):
        lifecycle.change_role(manager_actor, doctor.pk, Role.MANAGER, None, _now() + DAY)
    doctor.refresh_from_db()
    assert not rows.intact(doctor)
    # The seal is checked once: one refusal reported to the auditor, from where it came.
    (tampered,) = [e for e in events(resource_ref=str(doctor.pk)) if TAMPERED in e.detail]
    assert tampered.source == "192.0.2.7"
    assert events(action="update", resource="accounts.User")[-1].outcome == "failure"


# --- unused accounts are disabled -----------------------------------------------------------------


def test_the_inactivity_run_disables_exactly_the_unused_accounts(manager: Any) -> None:
    """C2: unused = nobody signed in since the latest of the last login, the creation and the
    last re-enabling. Those past the limit (90 days) are disabled, their sessions ended, each
    disabling audited with its reason; the others are left alone; a second run does nothing."""
    old, never, recent = (make_user(r) for r in (Role.SECRETARY, Role.PRACTITIONER, Role.AUDITOR))
    sessions = {u.pk: client_for(u) for u in (old, never, recent)}  # then their dates, below
    _unused(old, 91)
    _set(never, date_joined=_now() - 120 * DAY, last_login=None)
    _unused(recent, 89)
    back = _set(_unused(make_user(Role.AUDITOR), 200), enabled_at=_now() - 5 * DAY)
    _set(_unused(make_user(Role.SECRETARY), 300), is_active=False)  # disabled already

    output = _run()

    disabled = set(get_user_model().objects.filter(disabled_reason="inactive"))
    assert disabled == {old, never}
    for user in disabled:
        assert not user.is_active and user.disabled_at is not None and rows.intact(user)
        assert f"disabled {user.username}: unused since" in output
        assert _signed_out(sessions[user.pk].get("/"))
        assert not UserSession.objects.filter(user=user, ended_at__isnull=True).exists()
    assert UserSession.objects.get(user=old).end_reason == "disabled-inactive"
    assert sessions[recent.pk].get("/").status_code == 200
    for user in (recent, back, manager):
        user.refresh_from_db()
        assert user.is_active
    assert "disable-inactive: 2 disabled, 0 spared (limit 90 days)" in output
    audited = [
        (e.resource_ref, json.loads(e.detail))
        for e in events(action="update", resource="accounts.User")
    ]
    assert sorted(ref for ref, _d in audited) == sorted(str(u.pk) for u in (old, never))
    for _ref, detail in audited:
        assert detail["change"] == "disabled" and detail["reason"] == "inactive"
        assert detail["inactive_days"] == 90
    assert all(e.purpose == "maintenance" and e.actor is None for e in events(action="update"))

    before = len(events())
    assert "disable-inactive: 0 disabled, 0 spared" in _run()
    assert len(events()) == before


def test_the_last_active_manager_is_never_disabled(manager: Any) -> None:
    """C2: the practice is never locked out: the last active manager stays enabled however long
    unused, and the run and the report say so."""
    _unused(manager, 200)
    output = _run()
    manager.refresh_from_db()
    assert manager.is_active
    assert f"not disabled {manager.username}" in output and "last active manager" in output
    assert "0 disabled, 1 spared" in output
    report = lifecycle.permissions_report(actor_for(manager))
    assert report.spared == [manager.username]

    # A manager whose role ended is no manager: it does not keep the last one company. Of two
    # managers past the limit, the one unused longer goes, and the other stays.
    _set(make_user(Role.MANAGER), role_ends_at=_now() - DAY)
    second = _unused(make_user(Role.MANAGER), 100)
    output = _run()
    assert "1 disabled, 1 spared" in output and f"not disabled {second.username}" in output
    second.refresh_from_db()
    manager.refresh_from_db()
    assert not manager.is_active and second.is_active


def test_a_manager_who_enables_an_account_again_restarts_its_clock(manager: Any) -> None:
    """C2: an account enabled again counts as used from then: the next run leaves it alone."""
    old = _unused(make_user(Role.SECRETARY), 100)
    _run()
    old.refresh_from_db()
    assert not old.is_active
    services.set_active(actor_for(manager), old.pk, True)
    old.refresh_from_db()
    assert old.is_active and old.enabled_at is not None and old.disabled_reason == ""
    assert rows.intact(old)
    enabled_at = old.enabled_at
    services.set_active(actor_for(manager), old.pk, True)  # enabled already: its clock stays
    old.refresh_from_db()
    assert old.is_active and old.enabled_at == enabled_at and rows.intact(old)
    assert "0 disabled" in _run()
    old.refresh_from_db()
    assert old.is_active


def test_an_account_used_while_the_run_works_is_left_active(manager: Any) -> None:
    """C2: the run reads each account again, locked, before disabling it: one signed in to
    since the run made its list (here while it disabled an older one) is no longer unused and
    stays active, unaudited."""
    from django.db.models.signals import post_save

    from secretum.accounts.signals import record_last_login

    older, busy = _unused(make_user(Role.SECRETARY), 200), _unused(make_user(Role.AUDITOR), 100)
    User = get_user_model()

    def signs_in_meanwhile(sender: Any, instance: Any, **kwargs: Any) -> None:
        if instance.pk == older.pk and not instance.is_active:  # the run disabled the older one
            record_last_login(User, None, User.objects.get(pk=busy.pk))  # as a login writes it

    post_save.connect(signs_in_meanwhile, sender=User)
    try:
        output = _run()
    finally:
        post_save.disconnect(signs_in_meanwhile, sender=User)
    assert "disable-inactive: 1 disabled, 0 spared" in output
    busy.refresh_from_db()
    older.refresh_from_db()
    assert busy.is_active and rows.intact(busy) and not older.is_active
    refs = [e.resource_ref for e in events(action="update", resource="accounts.User")]
    assert refs == [str(older.pk)]


def test_an_altered_account_is_left_as_found_by_the_run(manager: Any) -> None:
    """Disabling a row altered outside Secretum would seal what the attacker wrote: the run
    leaves it, says so, and the auditor is alerted."""
    victim = _unused(make_user(Role.SECRETARY), 100)
    _sql("UPDATE accounts_user SET role = 'practitioner' WHERE id = %s", victim.pk)
    output = _run()
    victim.refresh_from_db()
    assert victim.is_active and not rows.intact(victim)
    assert f"left as found {victim.username}" in output
    assert any(TAMPERED in e.detail for e in events())


@pytest.mark.parametrize("field", ["last_login", "date_joined", "enabled_at"])
def test_a_dormant_account_made_to_look_used_is_not_kept_by_the_run(
    manager: Any, field: str
) -> None:
    """C2, as an attacker holding the database but not the key file: bumping a dormant
    account's date of use to today would keep it from being disabled. The dates are sealed: the
    row no longer matches, the run leaves it as found and says so, and every login refuses it."""
    victim = _unused(make_user(Role.SECRETARY), 100)
    _sql(f"UPDATE accounts_user SET {field} = %s WHERE id = %s", _now(), victim.pk)  # noqa: S608 (a test's own names)
    output = _run()
    victim.refresh_from_db()
    assert not rows.intact(victim)
    assert f"left as found {victim.username}" in output
    assert any(TAMPERED in e.detail for e in events())


def test_the_command_has_its_secretum_name() -> None:
    """`secretum accounts disable-inactive`, like the other commands' aliases."""
    from secretum import cli

    assert cli._command_name(["accounts", "disable-inactive", "--every", "60"]) == (
        "accounts_disable_inactive",
        ["--every", "60"],
    )
    assert "accounts disable-inactive" in cli.USAGE


# --- the setting ----------------------------------------------------------------------------------


def _settings(manager: Any, days: int) -> PracticeSettings:
    return services.update_practice_settings(
        actor_for(manager),
        idle_timeout_minutes=15,
        session_lifetime_hours=10,
        password_renewal_days=0,
        inactive_days=days,
    )


def test_the_inactivity_limit_is_a_bounded_sealed_setting(manager: Any) -> None:
    """C2: 90 days by default, 30 to 365; set on the Settings page, audited; a limit stretched
    in the database is not obeyed (the defaults apply)."""
    assert services.practice_settings().inactive_days == 90
    for wrong in (0, 29, 366):
        with pytest.raises(ValidationError):
            _settings(manager, wrong)
    assert services.practice_settings().inactive_days == 90
    for right in (30, 365):
        assert _settings(manager, right).inactive_days == right
    assert _details(resource="accounts.PracticeSettings")[-1]["inactive_days"] == 365

    client = _manager_client(manager)
    assert "(30–365)" in client.get("/accounts/settings/").text
    client.post(
        "/accounts/settings/",
        {
            "idle_timeout_minutes": 15,
            "session_lifetime_hours": 10,
            "password_renewal_days": 0,
            "inactive_days": 45,
            "retention_years": 30,  # J2: the form's other settings, as the page sends them
            "key_backup_expiry_days": 35,
        },
    )
    assert services.practice_settings().inactive_days == 45
    old = _unused(make_user(Role.SECRETARY), 50)
    _sql("UPDATE accounts_practicesettings SET inactive_days = 365")
    assert services.practice_settings().inactive_days == 90  # altered: the default applies
    _run()
    old.refresh_from_db()
    assert old.is_active  # 50 days: within the default's 90, whatever was written


# --- the report -----------------------------------------------------------------------------------


def test_the_report_lists_what_it_should(manager: Any) -> None:
    """C2: accounts disabled for inactivity; roles ended or ending within 30 days (not later);
    accounts within 14 days of the inactivity limit (not earlier). On its own page for the
    manager, and in the yearly access review."""
    from secretum.compliance import access_review

    disabled = _unused(make_user(Role.SECRETARY), 120)
    _run()
    ended = _set(make_user(Role.PRACTITIONER), role_ends_at=_now() - 3 * DAY)
    ending = _set(make_user(Role.SECRETARY), role_ends_at=_now() + 10 * DAY)
    later = _set(make_user(Role.SECRETARY), role_ends_at=_now() + 40 * DAY)
    near = _unused(make_user(Role.AUDITOR), 80)
    fine = _unused(make_user(Role.AUDITOR), 30)

    report = lifecycle.permissions_report(actor_for(manager))
    assert [a.username for a in report.disabled] == [disabled.username]
    assert [a.username for a in report.roles_ending] == [ended.username, ending.username]
    assert [a.days for a in report.roles_ending] == [-3, 10]
    assert [a.username for a in report.near_limit] == [near.username]
    assert report.near_limit[0].days == 10 and report.spared == []

    page = client_for(manager).get("/accounts/users/permissions/").text
    for user in (disabled, ended, ending, near):
        assert user.username in page
    for user in (later, fine):
        assert user.username not in page
    assert "/accounts/users/permissions/" in client_for(manager).get("/accounts/users/").text
    overview = access_review.access_review_overview(actor_for(manager))
    assert overview.permissions == report
    review = client_for(manager).get("/compliance/access-review/").text
    assert disabled.username in review and ending.username in review


def test_the_report_is_the_managers(doctor: Any) -> None:
    """C2, G1: another role is refused the report, and the refusal is audited."""
    assert client_for(doctor).get("/accounts/users/permissions/").status_code == 403
    with pytest.raises(AccessDenied):
        lifecycle.permissions_report(actor_for(doctor))
    assert events(outcome="denied")[-1].resource == "accounts.User"


def test_the_register_counts_accounts_past_the_practices_limit(manager: Any) -> None:
    """C2: the register's evidence reads the practice's limit: an active account past it is
    "not met" until the run disables it."""
    from secretum.compliance import access_review, evidence

    access_review.record_access_review(actor_for(manager), "reviewed")
    idle = _unused(make_user(Role.SECRETARY), 95)
    found = evidence.gather(["C2"])["C2"]
    assert found.verdict == evidence.Verdict.NOT_MET and idle.username in found.details
    _run()
    assert evidence.gather(["C2"])["C2"].verdict == evidence.Verdict.MET


# --- together -------------------------------------------------------------------------------------


def test_an_account_disabled_while_signed_in_is_refused_at_its_next_request(
    manager: Any, doctor: Any
) -> None:
    """C2, B1: disabled by the manager or by the run, while its session is open: the very next
    request is refused, and the password no longer signs in."""
    by_manager = sign_in(doctor)
    services.set_active(actor_for(manager), doctor.pk, False)
    assert _signed_out(by_manager.get("/"))
    doctor.refresh_from_db()
    assert doctor.disabled_reason == "manager" and rows.intact(doctor)

    nurse = make_user(Role.SECRETARY, password=PASSWORD)
    by_run = sign_in(nurse)
    assert by_run.get("/").status_code == 200
    _unused(nurse, 91)
    _run()
    assert _signed_out(by_run.get("/"))
    refused = SecureClient().post(
        "/accounts/login/", {"username": nurse.username, "password": PASSWORD}
    )
    assert refused.status_code == 200 and "Login failed" in refused.text


# --- the upgrade ----------------------------------------------------------------------------------


def _executor() -> MigrationExecutor:
    return MigrationExecutor(connection)  # reads the migrations table afresh


@pytest.mark.django_db(transaction=True)  # migrations run outside the test's transaction
@pytest.mark.parametrize("settings_altered", [False, True])
def test_the_upgrade_dates_existing_roles_and_seals_them_again(settings_altered: bool) -> None:
    """An account made before roles had dates holds its role since it joined and stays intact,
    as do the practice's settings (90 days); one altered before the upgrade stays refused, and
    so do settings altered before it: the migration never launders a row into a valid seal."""
    sealed_before = importlib.import_module("secretum.accounts.migrations.0004_row_seals")
    head = _executor().loader.graph.leaf_nodes()
    joined = _now() - 400 * DAY
    try:
        _executor().migrate([("accounts", "0004_row_seals")])
        old = _executor().loader.project_state([("accounts", "0004_row_seals")]).apps
        written = [
            old.get_model("accounts", "User").objects.create(
                username=name, role="secretary", password="!", date_joined=joined
            )
            for name in ("kept", "altered")
        ]
        written.append(old.get_model("accounts", "PracticeSettings").objects.create(pk=1))
        for row in written:
            rows.stamp(row, sealed_before.SEALED_FIELDS[rows.label_of(row)])
            type(row).objects.filter(pk=row.pk).update(row_seal=row.row_seal)
        type(written[1]).objects.filter(pk=written[1].pk).update(role="manager")
        if settings_altered:  # a longer idle lock written in the database
            type(written[2]).objects.filter(pk=1).update(idle_timeout_minutes=600)
        _executor().migrate(head)
    finally:
        _executor().migrate(head)  # the next tests need the database at the head
    kept = get_user_model().objects.get(username="kept")
    assert kept.role_starts_at == joined and kept.role_ends_at is None
    assert rows.intact(kept) and role_of(kept) == Role.SECRETARY
    assert not rows.intact(get_user_model().objects.get(username="altered"))
    practice = PracticeSettings.objects.get(pk=1)
    assert practice.inactive_days == 90 and rows.intact(practice) != settings_altered
