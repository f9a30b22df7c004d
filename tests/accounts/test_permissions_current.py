"""Keeping permissions current (C2, issue 10): a role holds only between its dates, decided at
every request and every service call; the manager sets them, audited.

Time is moved by writing dates through the models, saved through Secretum so that their seals
match (never by patching the clock); attacks are plain SQL, as in test_stolen_database.py.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import uuid
import zoneinfo
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from secretum.access.actor import AccessDenied, Actor, role_of
from secretum.access.policy import Permission, Role
from secretum.accounts import lifecycle, services
from secretum.accounts.models import SessionData, UserSession
from secretum.audit import alerts
from secretum.crypto import rows
from tests.accounts.test_attacks import PASSWORD, _sudo
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


def _signed_out(response: Any) -> bool:
    return bool(response.status_code == 302 and response["Location"].startswith("/accounts/login"))


def _details(**filters: Any) -> list[dict[str, Any]]:
    return [json.loads(e.detail or "{}") for e in events(**filters)]


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
    with pytest.raises(AccessDenied):
        lifecycle.change_role(actor_for(doctor), doctor.pk, Role.MANAGER)


def test_an_altered_account_is_not_laundered_by_a_role_change(manager: Any, doctor: Any) -> None:
    """A new seal would make what was written outside Secretum valid: refused."""
    _sql("UPDATE accounts_user SET role = 'manager' WHERE id = %s", doctor.pk)
    with pytest.raises(ValidationError, match="altered outside Secretum"):
        lifecycle.change_role(actor_for(manager), doctor.pk, Role.MANAGER, None, _now() + DAY)
    doctor.refresh_from_db()
    assert not rows.intact(doctor)


# --- the upgrade ----------------------------------------------------------------------------------


def _executor() -> MigrationExecutor:
    return MigrationExecutor(connection)  # reads the migrations table afresh


@pytest.mark.django_db(transaction=True)  # migrations run outside the test's transaction
def test_the_upgrade_dates_existing_roles_and_seals_them_again() -> None:
    """An account made before roles had dates holds its role since it joined and stays intact;
    one altered before the upgrade stays refused: the migration never launders it into a valid
    seal."""
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
        for row in written:
            rows.stamp(row, sealed_before.SEALED_FIELDS[rows.label_of(row)])
            type(row).objects.filter(pk=row.pk).update(row_seal=row.row_seal)
        type(written[1]).objects.filter(pk=written[1].pk).update(role="manager")
        _executor().migrate(head)
    finally:
        _executor().migrate(head)  # the next tests need the database at the head
    kept = get_user_model().objects.get(username="kept")
    assert kept.role_starts_at == joined and kept.role_ends_at is None
    assert rows.intact(kept) and role_of(kept) == Role.SECRETARY
    assert not rows.intact(get_user_model().objects.get(username="altered"))
