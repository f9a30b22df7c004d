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
