"""J2: the retention period and the expiry of key-store backups, practice settings within the
law's bounds, sealed with the others."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from secretum.accounts import services as accounts
from secretum.accounts.models import PracticeSettings
from tests.conftest import actor_for
from tests.maintenance.test_windows import sudo_client


def test_the_defaults_are_30_years_and_35_days(db: Any) -> None:
    current = accounts.practice_settings()
    assert (current.retention_years, current.key_backup_expiry_days) == (30, 35)


@pytest.mark.parametrize("years", [29, 51])
def test_a_retention_outside_30_to_50_years_is_refused(manager: Any, years: int) -> None:
    with pytest.raises(ValidationError):
        accounts.update_practice_settings(actor_for(manager), retention_years=years)
    assert accounts.practice_settings().retention_years == 30


def test_an_unknown_setting_is_refused(manager: Any) -> None:
    with pytest.raises(ValidationError, match="Unknown practice setting"):
        accounts.update_practice_settings(actor_for(manager), row_seal=1)


def test_the_manager_edits_them_on_the_settings_page_and_a_change_in_the_database_is_refused(
    manager: Any,
) -> None:
    form = {
        "idle_timeout_minutes": 15, "session_lifetime_hours": 10, "password_renewal_days": 0,
        "inactive_days": 90, "retention_years": 40, "key_backup_expiry_days": 60,
    }  # fmt: skip
    client = sudo_client(manager)
    assert b"after the last contact (30" in client.get("/accounts/settings/").content
    assert client.post("/accounts/settings/", form).status_code == 302
    current = accounts.practice_settings()
    assert (current.retention_years, current.key_backup_expiry_days) == (40, 60)
    # Whoever holds the database but not the key file cannot shorten the retention.
    PracticeSettings.objects.filter(pk=1).update(retention_years=30)
    assert accounts.practice_settings().retention_years == 30  # the defaults, reported
    PracticeSettings.objects.filter(pk=1).update(retention_years=50)
    assert accounts.practice_settings().retention_years == 30


def test_a_setting_not_given_is_left_as_it_is(manager: Any) -> None:
    accounts.update_practice_settings(actor_for(manager), retention_years=45)
    accounts.update_practice_settings(actor_for(manager), retention_years=None, inactive_days=60)
    current = accounts.practice_settings()
    assert (current.retention_years, current.inactive_days) == (45, 60)
