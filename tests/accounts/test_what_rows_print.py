"""What an account row prints (O2, B1): str() of a row may reach a log, an error page or a
debugger, so no row of the accounts prints a secret, a hash, a digest or a device's address.
Every model of the app is filled the way Secretum fills it, then printed."""

from __future__ import annotations

from typing import Any

from django.apps import apps

from secretum.access.actor import Actor
from secretum.access.policy import Role
from secretum.accounts import charter as charters
from secretum.accounts import external, links, services
from tests.accounts.test_attacks import NEW_PASSWORD, PASSWORD, sign_in
from tests.conftest import SecureClient, actor_for, make_user


def _fill(manager: Any) -> None:
    doctor = make_user(Role.PRACTITIONER, password=PASSWORD)
    services.change_password(doctor, NEW_PASSWORD)  # password history
    sign_in(doctor, NEW_PASSWORD)  # sessions, their data, the device cookie
    SecureClient().post("/accounts/login/", {"username": doctor.username, "password": "wrong"})
    services.new_recovery_codes(doctor)
    charter = charters.publish_charter(Actor.system(), text_fr="fr", text_nl="nl", text_en="en")
    charters.accept_charter(doctor, charter.version)
    external.link_external_identity(
        doctor, "https://idp.example.invalid", external.external_subject_digest(
            "https://idp.example.invalid", "fictitious-subject")
    )  # fmt: skip
    newcomer = services.create_user(actor_for(manager), username="newcomer", role=Role.SECRETARY)
    links.issue(actor_for(manager), newcomer.pk)
    services.practice_settings().save()


def _secrets(row: Any) -> list[str]:
    """The values of a row that must never be printed: binary ones (digests, keys, sealed
    data) and every text field that holds a hash, a key, a digest or session data."""
    found = []
    for field in row._meta.concrete_fields:
        value = getattr(row, field.attname)
        if isinstance(value, bytes | memoryview) and bytes(value):
            found += [bytes(value).hex(), str(bytes(value))]
        elif field.name in ("password", "session_key", "session_data", "source", "device"):
            found.append(str(value))
    return [s for s in found if s]


def test_no_account_row_prints_a_secret(manager: Any) -> None:
    _fill(manager)
    printed = 0
    for model in apps.get_app_config("accounts").get_models():
        rows = list(model._default_manager.all())
        assert rows, f"{model.__name__}: no row to print"
        for row in rows:
            shown = str(row)
            assert shown, model.__name__
            for secret in _secrets(row):
                assert secret not in shown, (model.__name__, shown)
            printed += 1
    assert printed > 10
