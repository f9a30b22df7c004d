"""An attacker holding the database but not the key file (issue 9): every change they make to
the rows that grant rights is refused, never obeyed, and the auditor is alerted (B1, B3, C1,
O2). Each attack is plain SQL on the real database (SQLite or PostgreSQL), as the attacker would
write it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from secretum.access.policy import Role
from secretum.accounts import links, services
from secretum.accounts.models import EnrolmentToken, Factor, PracticeSettings
from secretum.audit import alerts
from secretum.audit.models import TAMPERED
from secretum.crypto import rows
from tests.accounts.test_attacks import PASSWORD, sign_in
from tests.conftest import SecureClient, actor_for, events, identity, make_user

ATTACKER_PASSWORD = "the attacker's own passphrase 1"


def _sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cur:
        cur.execute(statement, params)


@pytest.fixture
def secretary(db: Any) -> Any:
    return make_user(Role.SECRETARY, password=PASSWORD)


@pytest.fixture
def doctor(db: Any) -> Any:
    return make_user(Role.PRACTITIONER, password=PASSWORD)


def _tampered_alerts() -> list[str]:
    found = alerts.detect(timezone.now() - dt.timedelta(hours=1))
    return [a.reason for a in found if a.kind == "tampered"]


def test_a_role_written_in_the_database_is_refused(secretary: Any, doctor: Any) -> None:
    """C1: `UPDATE accounts_user SET role='practitioner'` for the secretary: her session stops,
    her login is refused like an unknown name, and no clinical page is served to her."""
    from secretum.clinical import services as clinical
    from secretum.patients import services as patients

    uid = patients.register_patient(actor_for(doctor), identity()).uid
    clinical_page = f"/patients/{uid}/"
    client = sign_in(secretary)
    _sql("UPDATE accounts_user SET role = %s WHERE id = %s", "practitioner", secretary.pk)
    response = client.get(clinical_page)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    again = SecureClient().post(
        "/accounts/login/", {"username": secretary.username, "password": PASSWORD}
    )
    assert again.status_code == 200 and "Login failed" in again.text
    assert _tampered_alerts() == [f"accounts.User {secretary.pk}"]
    assert clinical  # the chart stays out of reach: nothing above served it


def test_an_offline_password_hash_and_deleted_factors_give_nothing(doctor: Any) -> None:
    """B1, B3: the attacker writes an Argon2 hash of their own and deletes the factors: the
    account is refused (its seal no longer matches), and the password alone never signs in."""
    _sql(
        "UPDATE accounts_user SET password = %s WHERE id = %s",
        make_password(ATTACKER_PASSWORD),
        doctor.pk,
    )
    _sql("DELETE FROM accounts_factor WHERE user_id = %s", doctor.pk)
    client = SecureClient()
    response = client.post(
        "/accounts/login/", {"username": doctor.username, "password": ATTACKER_PASSWORD}
    )
    assert response.status_code == 200 and client.get("/").status_code == 302
    assert client.get("/accounts/factors/new/").status_code == 302
    assert _tampered_alerts() == [f"accounts.User {doctor.pk}"]


def test_a_security_key_inserted_in_the_database_proves_nothing(doctor: Any) -> None:
    """B3: a WebAuthn credential of the attacker's, inserted as a row, is not a factor."""
    _sql(
        "INSERT INTO accounts_factor (user_id, kind, name, confirmed, created_at, totp_last_step,"
        " credential_id, public_key, sign_count, is_demo) VALUES (%s, 'webauthn', 'key', %s, %s,"
        " 0, %s, %s, 0, %s)",
        doctor.pk,
        True,
        timezone.now(),
        b"attacker-credential",
        b"attacker-public-key",
        False,
    )
    inserted = Factor.objects.get(user=doctor, kind="webauthn")
    assert [f.kind for f in services.list_factors(doctor)] == ["totp"]
    assert not rows.intact(inserted)
    assert f"accounts.Factor {inserted.pk}" in _tampered_alerts()


def test_a_factor_switched_back_on_in_the_database_is_ignored(doctor: Any) -> None:
    """B3: after a reset, the attacker re-confirms an old unconfirmed factor: it proves nothing."""
    factor, _secret = services.start_totp(doctor, "Old phone")
    _sql("UPDATE accounts_factor SET confirmed = %s WHERE id = %s", True, factor.pk)
    assert factor.pk not in [f.pk for f in services.list_factors(doctor)]


def test_weakened_practice_settings_are_replaced_by_the_defaults(db: Any) -> None:
    """E1: a longer idle lock or session lifetime written in the database is not obeyed."""
    current = services.practice_settings()
    current.idle_timeout_minutes = 5
    current.save()
    _sql(
        "UPDATE accounts_practicesettings"
        " SET idle_timeout_minutes = 20, session_lifetime_hours = 12"
    )
    effective = services.practice_settings()
    assert (effective.idle_timeout_minutes, effective.session_lifetime_hours) == (15, 10)
    assert PracticeSettings.objects.get().idle_timeout_minutes == 20  # left as found, for evidence
    assert "accounts.PracticeSettings 1" in _tampered_alerts()


def test_changes_through_secretum_keep_their_seals(doctor: Any) -> None:
    """The seal follows every legitimate change: a password change, a factor added, a reset."""
    services.change_password(doctor, "a brand new fictitious passphrase")
    doctor.refresh_from_db()
    assert rows.intact(doctor)
    factor, _secret = services.start_totp(doctor, "Tablet")
    assert rows.intact(Factor.objects.get(pk=factor.pk))
    services.reset_factors(actor_for(make_user(Role.MANAGER)), doctor.pk)
    doctor.refresh_from_db()
    assert rows.intact(doctor) and doctor.must_enrol_factor
    assert [e for e in events() if TAMPERED in e.detail] == []


def test_swapped_user_names_do_not_move_reads_to_another_doctor(doctor: Any) -> None:
    """D2: two doctors' names swapped in accounts_user: the access report still attributes each
    read to whoever the hashed event recorded, and flags the lines whose account changed."""
    from secretum.audit.services import patient_access_report
    from secretum.clinical import services as clinical
    from secretum.patients import services as patients

    other = make_user(Role.PRACTITIONER, password=PASSWORD)
    uid = patients.register_patient(actor_for(doctor), identity()).uid
    clinical.access_chart(actor_for(doctor), uid)
    _sql(
        "UPDATE accounts_user SET username = CASE WHEN id = %s THEN %s ELSE %s END "
        "WHERE id IN (%s, %s)",
        doctor.pk,
        "swap-tmp",
        doctor.username,
        doctor.pk,
        other.pk,
    )
    _sql("UPDATE accounts_user SET username = %s WHERE id = %s", other.username, doctor.pk)
    report = patient_access_report(actor_for(make_user(Role.AUDITOR)), str(uid))
    assert len(report.lines) == 2  # the registration and the chart read, both the doctor's
    assert {line.who for line in report.lines} == {doctor.username}
    assert all(line.mismatch for line in report.lines)


def test_a_managers_action_never_seals_an_altered_account(doctor: Any, manager: Any) -> None:
    """B1, C1: the secretary made practitioner in the database stays refused: disabling,
    enabling, resetting her factors or flagging her password would save the row, sealing the
    attacker's values into a valid one; each is refused and the row keeps its broken seal."""
    secretary = make_user(Role.SECRETARY, password=PASSWORD)
    _sql("UPDATE accounts_user SET role = %s WHERE id = %s", "practitioner", secretary.pk)
    actor = actor_for(manager)
    for act in (
        lambda: services.set_active(actor, secretary.pk, False),
        lambda: services.set_active(actor, secretary.pk, True),
        lambda: services.reset_factors(actor, secretary.pk),
        lambda: services.flag_password_compromised(actor, secretary.pk),
        lambda: links.issue(actor, secretary.pk),
    ):
        with pytest.raises(ValidationError, match="altered outside Secretum"):
            act()
    row = get_user_model().objects.get(pk=secretary.pk)
    assert row.role == "practitioner" and not rows.intact(row)
    # Each refusal reaches the auditor (the tampered alert), though the refused change's own
    # transaction is rolled back; and each attempt is its failure event.
    refs = [e.resource_ref for e in events(outcome="failure") if TAMPERED in e.detail]
    assert refs == [str(secretary.pk)] * 5
    attempts = [e for e in events(outcome="failure") if "AlteredAccount" in e.detail]
    assert len(attempts) == 4  # the link is refused before any change begins
    assert not EnrolmentToken.objects.filter(user_id=secretary.pk).exists()
