"""The register's evidence of M4 and M5 (their passing and failing cases are in
tests/compliance/test_evidence.py; these are the other states each check tells apart)."""

from __future__ import annotations

from typing import Any

from secretum.compliance import evidence
from secretum.mail import services
from tests.conftest import actor_for
from tests.mail.conftest import CORRESPONDENT, Server


def _m(measure: str) -> evidence.Evidence:
    return evidence.gather([measure])[measure]


def test_m4_not_met_without_a_mail_server(settings: Any, db: Any) -> None:
    settings.SECRETUM_SMTP_HOST = ""
    found = _m("M4")
    assert not found.met and "No mail server" in found.summary


def test_m4_names_the_last_verified_handshake(mail_settings: Server, practitioner: Any) -> None:
    """M4, live: before any message, the setting; after one, its TLS session."""
    before = _m("M4")
    assert before.met and "No message sent yet." in before.details
    actor = actor_for(practitioner)
    row = services.add_correspondent(actor, name="Dr Fictif", kind="lab", email=CORRESPONDENT)
    services.send_verification(actor, row.uid)
    after = _m("M4")
    assert after.met and "127.0.0.1" in after.summary
    assert any("Last verified handshake" in d and "TLSv1" in d for d in after.details)


def test_m5_not_met_while_the_provider_is_not_stated(settings: Any, db: Any) -> None:
    settings.SECRETUM_MAIL_PROVIDER = ""
    found = _m("M5")
    assert not found.met and "not stated" in found.summary


def test_the_practice_ca_file_is_named(mail_settings: Server, db: Any) -> None:
    assert mail_settings.ca_file in _m("M4").summary
