"""An instance made before row seals (B1, B3, C1, O2): at the upgrade, its rows that grant rights
are sealed as they are, once, so that from then on a change made outside Secretum shows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from secretum.access.policy import Role
from secretum.accounts import integrity, services
from secretum.accounts.models import Factor, PracticeSettings
from tests.conftest import make_user


def _migrate(*targets: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(list(targets) or executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_rows_of_an_older_instance_are_sealed_at_the_upgrade() -> None:
    doctor = make_user(Role.PRACTITIONER)
    services.practice_settings()
    _migrate(("accounts", "0003_sessions_and_links"))
    try:
        # What the older Secretum wrote, unsealed: a change of its own, then the upgrade.
        with connection.cursor() as cur:
            cur.execute("UPDATE accounts_user SET last_name = 'Renamed' WHERE id = %s", [doctor.pk])
    finally:
        _migrate()
    doctor.refresh_from_db()
    assert doctor.last_name == "Renamed" and integrity.intact(doctor)
    assert integrity.intact(Factor.objects.get(user=doctor))
    assert integrity.intact(PracticeSettings.objects.get())


# What Secretum sealed of an account before the dates of use were (migration 0008).
SEALED_IN_0007 = (
    "username", "first_name", "last_name", "role", "is_active", "is_staff", "is_superuser",
    "password", "must_enrol_factor", "must_change_password", "role_starts_at", "role_ends_at",
)  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_the_dates_of_use_are_sealed_at_the_upgrade_an_altered_row_stays_refused() -> None:
    """C2, B1: an account of an instance made before the dates of use were sealed keeps working;
    one whose sealed fields were altered before the upgrade is not laundered by it."""
    from secretum.crypto.rows import seal_of

    kept, altered = make_user(Role.PRACTITIONER), make_user(Role.SECRETARY)
    _migrate(("accounts", "0007_nurse_and_technician"))
    try:
        with connection.cursor() as cur:  # the older Secretum sealed its rows without the dates
            for user in (kept, altered):
                user.refresh_from_db()
                old = seal_of("accounts.User", user.pk, [getattr(user, f) for f in SEALED_IN_0007])
                cur.execute("UPDATE accounts_user SET row_seal = %s WHERE id = %s", [old, user.pk])
            cur.execute("UPDATE accounts_user SET role = 'manager' WHERE id = %s", [altered.pk])
    finally:
        _migrate()
    kept.refresh_from_db()
    altered.refresh_from_db()
    assert integrity.intact(kept)
    assert not integrity.intact(altered)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("altered", [False, True])
def test_the_archive_period_is_sealed_at_the_upgrade_altered_settings_stay_refused(
    altered: bool,
) -> None:
    """J1: the settings of an instance made before the archive period keep working, with its
    default (5 years); settings altered before the upgrade are not laundered by it."""
    from secretum.crypto.rows import seal_of

    services.practice_settings()
    _migrate(("accounts", "0008_seal_dates_of_use"))
    try:
        with connection.cursor() as cur:  # the older Secretum sealed the four settings
            cur.execute(
                "SELECT id, idle_timeout_minutes, session_lifetime_hours, password_renewal_days, "
                "inactive_days FROM accounts_practicesettings"
            )
            pk, *values = cur.fetchone()
            old = seal_of("accounts.PracticeSettings", pk, values)
            cur.execute("UPDATE accounts_practicesettings SET row_seal = %s", [old])
            if altered:
                cur.execute("UPDATE accounts_practicesettings SET inactive_days = 365")
    finally:
        _migrate()
    row = PracticeSettings.objects.get()
    assert row.archive_years == 5 and integrity.intact(row) is not altered
    assert services.practice_settings().inactive_days == 90  # altered: the defaults apply
