"""Only the practice's networks and its VPN reach Secretum (F1, F4): every request, the login
included, from any other address is refused before a session is read, in the browser's
language, and recorded in the audit log without flooding it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.urls import reverse
from django.utils import translation

from secretum.access import networks
from secretum.access.policy import Role
from secretum.accounts.models import SessionData, UserSession
from secretum.audit.models import AuditEvent
from secretum.core import host_checks
from secretum.lib.networks import RefusalThrottle
from tests.audit.elsewhere import witness_elsewhere
from tests.conftest import SecureClient, client_for, events, make_user

LAN, VPN, OUTSIDE = "192.168.1.0/24", "10.8.0.0/24", "203.0.113.9"
REFUSED = "Secretum cannot be reached from this network (address %(address)s)."


@pytest.fixture(autouse=True)
def _fresh_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test counts its own refusals (another test's within the minute would hold them)."""
    monkeypatch.setattr(networks, "REFUSALS", RefusalThrottle())


@pytest.fixture
def practice_networks(settings: Any) -> Any:
    settings.SECRETUM_ALLOWED_NETWORKS = [LAN, "2001:db8:5::/48"]
    settings.SECRETUM_REMOTE_NETWORKS = [VPN]
    return settings


def _refusals() -> list[AuditEvent]:
    return events(resource=networks.REASON)


def test_with_no_network_configured_every_address_may_connect(db: Any) -> None:
    """The default (F1 and F4 then not met in the register): nothing is refused."""
    assert SecureClient().get("/accounts/login/", REMOTE_ADDR=OUTSIDE).status_code == 200
    assert _refusals() == []


@pytest.mark.parametrize(
    "address", ["192.168.1.7", "10.8.0.20", "2001:db8:5:1::7", "::ffff:192.168.1.7"]
)
def test_the_practice_and_the_vpn_reach_the_login_page(
    practice_networks: Any, db: Any, address: str
) -> None:
    assert SecureClient().get("/accounts/login/", REMOTE_ADDR=address).status_code == 200
    assert _refusals() == []


@pytest.mark.parametrize("address", [OUTSIDE, "192.168.2.7", "2001:db8:6::1", "127.0.0.1", ""])
def test_any_other_address_is_refused_before_any_page(
    practice_networks: Any, db: Any, address: str
) -> None:
    """F1: the login page itself is refused: no form, no cookie, no session."""
    response = SecureClient().get("/accounts/login/", REMOTE_ADDR=address)
    assert response.status_code == 403
    assert not response.cookies  # neither a session nor a CSRF cookie
    assert b"<form" not in response.content
    assert response["Cache-Control"] == "no-store"  # the security headers still apply
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert SessionData.objects.count() == 0
    (event,) = _refusals()
    assert (event.outcome, event.action, event.source) == ("denied", "read", address)
    assert event.request_id == response["X-Request-Id"]
    assert json.loads(event.detail) == {
        "reason": "network",
        "method": "GET",
        "unrecorded_before": 0,
    }


def test_a_login_from_outside_is_refused_and_tries_nothing(practice_networks: Any, db: Any) -> None:
    """F1: the password is never checked (no failed-login count, no throttle entry)."""
    user = make_user(Role.PRACTITIONER, password="x" * 16)
    before = AuditEvent.objects.count()
    response = SecureClient().post(
        "/accounts/login/", {"username": user.username, "password": "x" * 16}, REMOTE_ADDR=OUTSIDE
    )
    assert response.status_code == 403
    (event,) = AuditEvent.objects.filter(seq__gt=before)
    assert (event.resource, event.action, event.outcome) == ("network", "update", "denied")
    assert SessionData.objects.count() == 0


def test_a_session_opened_inside_serves_nothing_from_outside_and_is_left_as_it_was(
    practice_networks: Any, practitioner: Any
) -> None:
    """F4: a laptop taken home without the VPN: its open session is refused there, untouched
    (neither read nor extended), and serves again back inside."""
    client = client_for(practitioner)
    assert client.get("/", REMOTE_ADDR="192.168.1.7").status_code == 200
    stored = list(SessionData.objects.values_list("session_key", "session_data", "expire_date"))
    records = list(UserSession.objects.values())
    refused = client.get("/", REMOTE_ADDR=OUTSIDE)
    assert refused.status_code == 403 and not refused.cookies
    assert list(SessionData.objects.values_list("session_key", "session_data", "expire_date")) == (
        stored
    )
    assert list(UserSession.objects.values()) == records
    assert client.get("/", REMOTE_ADDR="10.8.0.20").status_code == 200


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_the_refusal_is_in_the_browsers_language(
    practice_networks: Any, db: Any, language: str
) -> None:
    response = SecureClient().get(
        "/accounts/login/", REMOTE_ADDR=OUTSIDE, headers={"Accept-Language": language}
    )
    page = response.content.decode()
    assert response.status_code == 403 and response["Content-Language"] == language
    assert f'<html lang="{language}">' in page
    with translation.override(language):
        assert translation.gettext(REFUSED) % {"address": OUTSIDE} in page


def test_a_flood_of_refusals_does_not_flood_the_audit_log(practice_networks: Any, db: Any) -> None:
    """D1: one event per minute and address; the refusals in between are counted in the next."""
    client = SecureClient()
    for _ in range(200):
        assert client.get("/accounts/login/", REMOTE_ADDR=OUTSIDE).status_code == 403
    for address in ("198.51.100.1", "198.51.100.2"):
        assert client.get("/", REMOTE_ADDR=address).status_code == 403
    assert [e.source for e in _refusals()] == [OUTSIDE, "198.51.100.1", "198.51.100.2"]
    networks.REFUSALS.window = 0  # the minute has passed
    assert client.post("/accounts/login/", REMOTE_ADDR=OUTSIDE).status_code == 403
    last = _refusals()[-1]
    assert last.source == OUTSIDE and json.loads(last.detail)["unrecorded_before"] == 199


def test_ipv6_clients_of_one_network_are_counted_together(practice_networks: Any, db: Any) -> None:
    """One IPv6 host holds a whole /64: changing address within it does not earn new events."""
    client = SecureClient()
    for n in range(1, 30):
        assert client.get("/", REMOTE_ADDR=f"2001:db8:6::{n:x}").status_code == 403
    assert len(_refusals()) == 1


def test_healthz_answers_this_machine_whatever_the_policy(practice_networks: Any, db: Any) -> None:
    """Monitoring on the server itself reaches /healthz (its status, nothing personal); nothing
    else is open to loopback unless it is listed, and /healthz is not open to others."""
    assert reverse("healthz") == networks.HEALTH_PATH
    client = SecureClient()
    for loopback in ("127.0.0.1", "::1"):
        answer = client.get("/healthz", REMOTE_ADDR=loopback)
        assert answer.status_code == 200 and answer.json()["status"] == "ok"
    assert client.get("/accounts/login/", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert client.get("/healthz", REMOTE_ADDR=OUTSIDE).status_code == 403


def test_static_files_are_behind_the_check_too(practice_networks: Any, db: Any) -> None:
    assert SecureClient().get("/static/secretum.css", REMOTE_ADDR=OUTSIDE).status_code == 403
    assert SecureClient().get("/static/secretum.css", REMOTE_ADDR="10.8.0.2").status_code == 200


def test_x_forwarded_for_does_not_open_the_door(practice_networks: Any, db: Any) -> None:
    """Without a trusted proxy the header is a client's claim, never read."""
    response = SecureClient().get(
        "/accounts/login/", REMOTE_ADDR=OUTSIDE, HTTP_X_FORWARDED_FOR="192.168.1.7"
    )
    assert response.status_code == 403
    assert _refusals()[0].source == OUTSIDE


def test_behind_a_trusted_proxy_the_forwarded_client_decides_and_is_recorded(
    practice_networks: Any, db: Any
) -> None:
    practice_networks.SECRETUM_TRUSTED_PROXIES = ["172.16.0.10"]
    client = SecureClient()
    inside = client.post(
        "/accounts/login/",
        {"username": "nobody-here", "password": "wrong password 1"},
        REMOTE_ADDR="172.16.0.10",
        HTTP_X_FORWARDED_FOR="192.168.1.7",
    )
    assert inside.status_code == 200
    # Everything after sees the client's address: here the failed login's audit event.
    assert events(action="login-failed")[-1].source == "192.168.1.7"
    spoofed = client.get(
        "/accounts/login/",
        REMOTE_ADDR="172.16.0.10",
        HTTP_X_FORWARDED_FOR="192.168.1.7, 203.0.113.9",
    )
    assert spoofed.status_code == 403 and _refusals()[-1].source == OUTSIDE
    broken = client.get("/", REMOTE_ADDR="172.16.0.10", HTTP_X_FORWARDED_FOR="unknown")
    assert broken.status_code == 403 and _refusals()[-1].source == "172.16.0.10"
    # The proxy itself is not in the practice's networks: alone, it is refused.
    assert client.get("/", REMOTE_ADDR="172.16.0.10").status_code == 403


def test_the_check_runs_before_the_session() -> None:
    chain = list(django_settings.MIDDLEWARE)
    assert chain.index(networks.MIDDLEWARE) < chain.index(
        "django.contrib.sessions.middleware.SessionMiddleware"
    )
    assert chain.index(networks.MIDDLEWARE) < chain.index(
        "whitenoise.middleware.WhiteNoiseMiddleware"
    )


def test_a_setting_that_is_not_a_network_stops_serve_and_every_request(
    settings: Any, db: Any
) -> None:
    settings.SECRETUM_REMOTE_NETWORKS = ["10.8.0.0/24", "10.8.0.300/24"]
    found = [
        m for m in checks.run_checks(include_deployment_checks=True) if m.id == "secretum.E401"
    ]
    assert len(found) == 1 and "SECRETUM_REMOTE_NETWORKS" in found[0].msg
    assert found[0].level >= checks.ERROR
    with pytest.raises(ImproperlyConfigured, match=re.escape("'10.8.0.300/24' is not a network")):
        SecureClient(raise_request_exception=True).get("/accounts/login/")


def test_the_check_out_of_the_chain_is_an_error_when_networks_are_set(
    practice_networks: Any,
) -> None:
    practice_networks.MIDDLEWARE = [
        m for m in django_settings.MIDDLEWARE if m != networks.MIDDLEWARE
    ]
    ids = {m.id for m in host_checks.host_checks()}
    assert "secretum.E402" in ids


def test_networks_too_broad_are_warned_about(practice_networks: Any) -> None:
    practice_networks.SECRETUM_ALLOWED_NETWORKS = [LAN, "0.0.0.0/0"]
    found = [m for m in host_checks.host_checks() if m.id == "secretum.W401"]
    assert len(found) == 1 and "0.0.0.0/0" in found[0].msg


@pytest.mark.django_db(transaction=True)
def test_an_unrecordable_refusal_is_still_a_refusal(settings: Any) -> None:
    """The audit log refuses the event (a full disk, a database gone read-only: here a trigger
    that aborts every append): the request is refused all the same, and said in the log."""
    settings.SECRETUM_ALLOWED_NETWORKS = [LAN]
    refuse, allow = _appends_refused()
    with connection.cursor() as cur:
        cur.execute(refuse)
    try:
        assert SecureClient().get("/", REMOTE_ADDR=OUTSIDE).status_code == 403
    finally:
        with connection.cursor() as cur:
            cur.execute(allow)
    assert _refusals() == []


def _appends_refused() -> tuple[str, str]:
    if connection.vendor == "postgresql":
        return (
            "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'no space left'; END $$; "
            "CREATE TRIGGER test_refuse BEFORE INSERT ON audit_auditevent "
            "FOR EACH ROW EXECUTE FUNCTION test_refuse()",
            "DROP TRIGGER test_refuse ON audit_auditevent; DROP FUNCTION test_refuse()",
        )
    return (
        "CREATE TRIGGER test_refuse BEFORE INSERT ON audit_auditevent "
        "BEGIN SELECT RAISE(ABORT, 'no space left'); END",
        "DROP TRIGGER test_refuse",
    )


# --- the register's live evidence (F1, F4) ------------------------------------------------------


def _without_the_check() -> list[str]:
    return [m for m in django_settings.MIDDLEWARE if m != networks.MIDDLEWARE]


def _evidence(measure: str) -> Any:
    from secretum.compliance import evidence

    return evidence.gather([measure])[measure]


def test_f1_and_f4_are_not_met_until_networks_are_configured(settings: Any, db: Any) -> None:
    for measure in ("F1", "F4"):
        found = _evidence(measure)
        assert found.verdict == "not-met" and "No allowed networks are configured" in found.summary
        assert "SECRETUM_ALLOWED_NETWORKS" in found.action
    settings.SECRETUM_ALLOWED_NETWORKS = [LAN]
    f1, f4 = _evidence("F1"), _evidence("F4")
    assert f1.verdict == f4.verdict == "met"
    assert f1.summary.startswith(f"Only the practice's networks ({LAN}) reach Secretum")
    assert f4.summary == (
        f"Remote access is refused: only the practice's networks ({LAN}) reach Secretum (no VPN "
        "range is configured)."
    )
    settings.SECRETUM_ALLOWED_NETWORKS, settings.SECRETUM_REMOTE_NETWORKS = [], [VPN]
    assert _evidence("F1").summary.startswith(f"Only the VPN ({VPN}) reaches Secretum")
    assert _evidence("F4").summary.startswith(f"Remote access only through the VPN ({VPN})")


def test_f1_counts_the_refusals_it_recorded(practice_networks: Any, db: Any) -> None:
    for address in (OUTSIDE, "198.51.100.7"):
        SecureClient().get("/", REMOTE_ADDR=address)
    found = _evidence("F1")
    assert found.summary.startswith(f"Only the practice's networks ({LAN}, 2001:db8:5::/48) and")
    assert found.details == (
        "2 refusals of addresses outside them recorded in the last 30 days (at most one a minute "
        "per address).",
    )
    assert len(_refusals()) == 2  # the check itself recorded nothing


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            {"SECRETUM_ALLOWED_NETWORKS": ["192.168.1.300/24"]},
            "'192.168.1.300/24' is not a network",
        ),
        ({"SECRETUM_ALLOWED_NETWORKS": [LAN, "81.240.0.0/12"]}, "81.240.0.0/12 hold addresses"),
        (
            {"SECRETUM_ALLOWED_NETWORKS": ["0.0.0.0/0", "::/0"]},
            "even the documentation addresses are let in",
        ),
        (
            {"MIDDLEWARE": _without_the_check()},
            "the check is not in the request chain before the session",
        ),
        (
            {"MIDDLEWARE": [*_without_the_check(), networks.MIDDLEWARE]},  # after the session
            "the check is not in the request chain before the session",
        ),
    ],
)
def test_networks_not_enforced_as_they_should_be_fail_f1_and_f4(
    practice_networks: Any, db: Any, change: dict[str, Any], said: str
) -> None:
    for name, value in change.items():
        setattr(practice_networks, name, value)
    for measure in ("F1", "F4"):
        found = _evidence(measure)
        assert found.verdict == "not-met", found.summary
        assert found.summary.startswith("The allowed networks are not enforced as they should be")
        assert said in found.summary


def test_a_check_that_lets_an_outside_address_through_fails_f1(
    practice_networks: Any, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A regression of the middleware (here: its refusal undone) is caught by the live check,
    which puts it to the test with a documentation address."""
    monkeypatch.setattr(
        networks.ClientNetworkMiddleware,
        "_refuse",
        lambda self, request, client: self.get_response(request),
    )
    found = _evidence("F1")
    assert (
        found.verdict == "not-met" and "a request from 192.0.2.1 was not refused" in found.summary
    )


def test_a_distributed_flood_is_recorded_under_one_name(
    practice_networks: Any, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(networks, "REFUSALS", RefusalThrottle(max_clients=2))
    for n in range(1, 40):
        assert SecureClient().get("/", REMOTE_ADDR=f"198.51.100.{n}").status_code == 403
    recorded = _refusals()
    assert [e.source for e in recorded] == ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
    assert json.loads(recorded[-1].detail)["counted_as"] == "other"


def test_serve_and_check_refuse_a_setting_that_is_not_a_network(tmp_path: Any) -> None:
    """F1: a typo in the networks stops the server before it serves anyone, naming the entry."""
    import os
    from pathlib import Path

    from tests.instances import fresh
    from tests.serving import ROOT, secretum

    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(SECRETUM_HOME=str(tmp_path / "var"), PYTHONPATH=str(ROOT))
    # D2: the witness on another file system than the instance's (`check` warns otherwise).
    env["SECRETUM_AUDIT_WITNESS"] = str(witness_elsewhere(str(tmp_path)))
    fresh(tmp_path / "var", Path(env["SECRETUM_AUDIT_WITNESS"]))  # as `init` leaves it
    bad = {**env, "SECRETUM_ALLOWED_NETWORKS": "192.168.1.5/24"}
    said = (
        "SECRETUM_ALLOWED_NETWORKS: '192.168.1.5/24' has bits set after its prefix; did you "
        "mean 192.168.1.0/24?"
    )
    served = secretum(bad, "serve", "--port", "0", "--http-port", "0")
    assert served.returncode != 0 and f"refusing to serve: {said}" in served.stderr
    checked = secretum(bad, "check")
    assert checked.returncode != 0 and f"error: {said}" in checked.stderr
    fine = secretum({**env, "SECRETUM_ALLOWED_NETWORKS": "192.168.1.0/24"}, "check")
    assert fine.returncode == 0, fine.stderr
    assert "Allowed networks: practice 192.168.1.0/24; VPN none; trusted proxies none." in (
        fine.stdout
    )
