"""The holes found by attacking Secretum as an outsider and as each role (issue 8), each tried
again here the way the attacker tried it: two-factor authentication (B3), session revocation
(B1, E1), lock-out (B3), refusals in the audit log (D1), the current password (B2), throttling
per address, and cookies (H1)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pyotp
import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from secretum.access.policy import Role
from secretum.accounts import flow, links, services, throttle
from secretum.accounts.models import EnrolmentToken, Factor, SessionData, UserSession
from secretum.audit import alerts
from secretum.crypto import rows
from tests.conftest import (
    TEST_TOTP_SECRET,
    SecureClient,
    actor_for,
    client_for,
    events,
    identity,
    make_user,
)

PASSWORD = "fictitious correct horse 7"
NEW_PASSWORD = "another fictitious passphrase 8"


def _fresh_code(user: Any) -> str:
    # Each test login spends the current code; a code works once, so the test forgets it.
    Factor.objects.filter(user=user).update(totp_last_step=0)
    return pyotp.TOTP(TEST_TOTP_SECRET).now()


def sign_in(user: Any, password: str = PASSWORD, **client_kwargs: Any) -> SecureClient:
    client = SecureClient(**client_kwargs)
    first = client.post("/accounts/login/", {"username": user.username, "password": password})
    assert first["Location"].startswith("/accounts/login/verify/"), first
    done = client.post(first["Location"], {"code": _fresh_code(user)})
    assert done.status_code == 302 and done["Location"] == "/", done
    return client


def _sudo(client: SecureClient) -> None:
    session = client.session
    session[flow.REAUTH_AT] = int(time.time())
    session.save()


@pytest.fixture
def doctor(db: Any) -> Any:
    return make_user(Role.PRACTITIONER, password=PASSWORD)


@pytest.fixture
def manager(db: Any) -> Any:
    return make_user(Role.MANAGER, password=PASSWORD)


@pytest.fixture
def patient_uid(doctor: Any) -> Any:
    from secretum.patients import services as patients

    return patients.register_patient(actor_for(doctor), identity()).uid


def _reads_chart(client: Any, uid: Any) -> bool:
    return bool(client.get(f"/patients/{uid}/").status_code == 200)


# --- 1. an enrolment link never signs into an enrolled account (B3, C1) ----------------------


def test_no_enrolment_link_for_an_account_that_has_factors(doctor: Any, manager: Any) -> None:
    """B3, C1: the manager's "new enrolment link" on an enrolled practitioner is refused, so a
    manager cannot become that practitioner; the refusal is audited."""
    with pytest.raises(ValidationError, match="already enrolled"):
        links.issue(actor_for(manager), doctor.pk)
    client = client_for(manager)
    _sudo(client)
    client.post("/accounts/users/action/", {"user": doctor.pk, "action": "enrolment-link"})
    page = client.get("/accounts/users/").content.decode()
    assert "/accounts/enrol/#" not in page and "already enrolled" in page
    assert not EnrolmentToken.objects.filter(user=doctor).exists()
    assert [e.outcome for e in events(resource="accounts.EnrolmentToken")] == ["denied"] * 2


def test_after_a_factor_reset_neither_the_password_nor_the_link_alone_signs_in(
    doctor: Any, manager: Any, patient_uid: Any
) -> None:
    """B3: after "reset factors" the password alone gives no session, and the link the manager
    holds gives none without the password; both together only lead to enrolling a factor."""
    client = client_for(manager)
    _sudo(client)
    client.post("/accounts/users/action/", {"user": doctor.pk, "action": "reset-factors"})
    shown = client.session["sx_enrol_link"]
    assert shown["purpose"] == "factors" and "/accounts/enrol/factors/#" in shown["url"]
    token = shown["url"].split("#", 1)[1]

    thief = SecureClient()  # knows the password
    thief.post("/accounts/login/", {"username": doctor.username, "password": PASSWORD})
    assert thief.get("/accounts/factors/new/").status_code == 302
    assert not _reads_chart(thief, patient_uid)

    holder = SecureClient()  # holds the link (the manager, or whoever it leaked to)
    refused = holder.post("/accounts/enrol/factors/", {"token": token, "password": "a guess!"})
    assert refused.status_code == 200 and "not the password of this account" in refused.text
    assert holder.get("/accounts/factors/new/").status_code == 302
    assert not _reads_chart(holder, patient_uid)
    doctor.refresh_from_db()
    assert doctor.failed_logins == 1  # the guess counted like a login's

    owner = SecureClient()
    done = owner.post("/accounts/enrol/factors/", {"token": token, "password": PASSWORD})
    assert done["Location"] == "/accounts/factors/new/"
    assert owner.get(f"/patients/{patient_uid}/")["Location"] == "/accounts/factors/new/"


def test_a_manager_who_opens_someone_elses_link_is_refused_and_alerted(manager: Any) -> None:
    """B1: a manager can never end up signed in as another user. A link opened in a browser
    signed in as someone else is refused and withdrawn; the attempt is a denial and an alert."""
    newcomer = services.create_user(actor_for(manager), username="newnurse", role=Role.PRACTITIONER)
    _purpose, token = links.issue(actor_for(manager), newcomer.pk)
    client = client_for(manager)
    response = client.post(
        "/accounts/enrol/",
        {"token": token, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 200 and "signed in as someone else" in response.text
    newcomer.refresh_from_db()
    assert not newcomer.has_usable_password()
    # Withdrawn: not even its owner can use it now; a new one is needed.
    with pytest.raises(ValidationError, match="invalid, already used or expired"):
        links.redeem_enrol(token, NEW_PASSWORD)
    (denied,) = events(resource="enrolment", outcome="denied")
    assert denied.actor == manager and denied.on_behalf_of == "newnurse"
    found = alerts.detect(timezone.now() - dt.timedelta(hours=1))
    assert [(a.kind, a.who) for a in found if a.kind == "link-misuse"] == [
        ("link-misuse", manager.username)
    ]


def test_a_password_link_asks_for_a_second_factor(doctor: Any, manager: Any) -> None:
    """B3: a forgotten password: the link and one of the owner's factors, never the link alone;
    every other session of the account ends."""
    other_session = sign_in(doctor)
    _purpose, token = links.issue(actor_for(manager), doctor.pk, links.Purpose.PASSWORD)
    holder = SecureClient()
    refused = holder.post(
        "/accounts/enrol/password/",
        {
            "token": token,
            "code": "000000",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert refused.status_code == 200 and "not valid" in refused.text
    assert holder.get("/").status_code == 302
    done = holder.post(
        "/accounts/enrol/password/",
        {
            "token": token,
            "code": _fresh_code(doctor),
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert done["Location"] == "/"
    assert holder.get("/").status_code == 200
    assert other_session.get("/").status_code == 302
    doctor.refresh_from_db()
    assert doctor.check_password(NEW_PASSWORD)


def test_a_password_link_is_refused_for_an_account_without_factors(manager: Any) -> None:
    newcomer = services.create_user(actor_for(manager), username="newsec", role=Role.SECRETARY)
    with pytest.raises(ValidationError, match="no second factor to prove"):
        links.issue(actor_for(manager), newcomer.pk, links.Purpose.PASSWORD)


def test_a_link_issued_before_enrolment_cannot_be_replayed_afterwards(manager: Any) -> None:
    """The link's purpose must still fit the account when it is used."""
    newcomer = services.create_user(actor_for(manager), username="newdoc2", role=Role.SECRETARY)
    _purpose, token = links.issue(actor_for(manager), newcomer.pk)
    EnrolmentToken.objects.filter(user=newcomer).update(used_at=None)
    newcomer.set_password(PASSWORD)
    newcomer.save()
    with pytest.raises(ValidationError, match="invalid, already used or expired"):
        links.redeem_enrol(token, NEW_PASSWORD)
    assert events(resource="enrolment")[-1].detail == '{"reason":"account-state-changed"}'


# --- 2. every revocation ends every session, whatever happened to it before (B1, E1) ---------


def _change_password(client: SecureClient, user: Any) -> None:
    response = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response["Location"] == "/", response


def _unlock(client: SecureClient, user: Any) -> None:
    session = client.session
    session[flow.LAST_SEEN] = int(time.time()) - 21 * 60
    session.save()
    assert client.get("/")["Location"] == "/accounts/unlock/"
    done = client.post(
        "/accounts/unlock/", {"password": PASSWORD, "code": _fresh_code(user), "next": "/"}
    )
    assert done["Location"] == "/"


def _confirm(client: SecureClient, user: Any) -> None:
    done = client.post(
        "/accounts/confirm/", {"password": PASSWORD, "code": _fresh_code(user), "next": "/"}
    )
    assert done["Location"] == "/"


def _switch_language(client: SecureClient, user: Any) -> None:
    client.post("/i18n/setlang/", {"language": "nl", "next": "/"})


PATHS = {
    "password-change": _change_password,
    "unlock": _unlock,
    "sudo": _confirm,
    "language": _switch_language,
}


def _end_one(user: Any, manager: Any, victim: SecureClient) -> None:
    user.refresh_from_db()  # its password may have changed since
    laptop = client_for(user)
    laptop.post("/accounts/sessions/end/", {"session": victim.session[flow.RECORD]})


REVOCATIONS = {
    "end-session": _end_one,
    "end-all-sessions": lambda u, m, v: services.manager_end_sessions(actor_for(m), u.pk),
    "reset-factors": lambda u, m, v: services.reset_factors(actor_for(m), u.pk),
    "password-compromised": lambda u, m, v: services.flag_password_compromised(actor_for(m), u.pk),
    "disable": lambda u, m, v: services.set_active(actor_for(m), u.pk, False),
}


@pytest.mark.parametrize("revocation", list(REVOCATIONS))
@pytest.mark.parametrize("path", list(PATHS))
def test_every_revocation_ends_a_session_whatever_happened_to_it(
    doctor: Any, manager: Any, patient_uid: Any, path: str, revocation: str
) -> None:
    """B1, E1: the session changed its identifier (password change, unlock, sudo) or its language
    first; each way of ending it still ends it, at its next request, under any identifier."""
    victim = sign_in(doctor)
    PATHS[path](victim, doctor)
    assert _reads_chart(victim, patient_uid)
    record = victim.session[flow.RECORD]
    REVOCATIONS[revocation](doctor, manager, victim)
    response = victim.get(f"/patients/{patient_uid}/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not _reads_chart(victim, patient_uid)
    assert UserSession.objects.get(pk=record).ended_at is not None
    assert not SessionData.objects.filter(record_id=record).exists()


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(doctor: Any) -> None:
    """B2: a password is changed because someone else may know it."""
    other, this = sign_in(doctor), sign_in(doctor)
    _change_password(this, doctor)
    assert this.get("/").status_code == 200
    assert other.get("/").status_code == 302


def test_the_database_holds_no_usable_session_identifier(doctor: Any, patient_uid: Any) -> None:
    """B1, O2 (issue 9): whoever reads the session tables gets no identifier a browser could
    present: only keyed digests, and data sealed under the key file."""
    victim = sign_in(doctor)
    cookie = victim.cookies["__Host-secretum-session"].value
    rows = list(SessionData.objects.all())
    assert rows and all(cookie not in (r.session_key + r.session_data) for r in rows)
    for row in rows:
        attacker = SecureClient()
        attacker.cookies["__Host-secretum-session"] = row.session_key
        assert not _reads_chart(attacker, patient_uid)
    # A row's data moved onto another row (a session of the attacker's own) is refused.
    mine = sign_in(make_user(Role.SECRETARY, password=PASSWORD))
    theirs = SessionData.objects.get(record_id=victim.session[flow.RECORD])
    own = SessionData.objects.get(record_id=mine.session[flow.RECORD])
    SessionData.objects.filter(pk=own.pk).update(session_data=theirs.session_data)
    assert not _reads_chart(mine, patient_uid)


def test_an_authenticated_session_without_a_record_serves_nothing(doctor: Any) -> None:
    """Fail closed: a session that was never recorded (or whose record is gone) is refused."""
    client = SecureClient()
    client.force_login(doctor)
    assert client.get("/")["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("change", [{"role": Role.MANAGER}, {"is_active": False}])
def test_a_user_row_changed_in_the_database_ends_its_signed_in_sessions(
    doctor: Any, patient_uid: Any, change: dict[str, Any]
) -> None:
    """B1, C1: the user is read afresh at every request (its one query written by hand since
    issue 17, never cached): a role raised in the database (the row's seal no longer holds) or
    an account disabled there serves no further request of a session already signed in."""
    client = sign_in(doctor)
    assert _reads_chart(client, patient_uid)
    type(doctor).objects.filter(pk=doctor.pk).update(**change)
    assert client.get(f"/patients/{patient_uid}/")["Location"].startswith("/accounts/login/")
    assert client.get("/")["Location"].startswith("/accounts/login/")


# --- 3. the lock applies to every pending login at once (B3) ----------------------------------


def test_a_lockout_stops_every_pending_login(doctor: Any, patient_uid: Any) -> None:
    """B3: N pending logins with the right password; the wrong code that locks the account in
    one of them stops the others too: a right code there no longer signs in."""
    pending = []
    for _ in range(3):
        client = SecureClient()
        first = client.post("/accounts/login/", {"username": doctor.username, "password": PASSWORD})
        pending.append((client, first["Location"]))
    type(doctor).objects.filter(pk=doctor.pk).update(failed_logins=throttle.LOCKOUT_AFTER - 1)
    client, url = pending[0]
    locked = client.post(url, {"code": "000000"})
    assert locked["Location"] == "/accounts/login/"
    for client, url in pending[1:]:
        response = client.post(url, {"code": _fresh_code(doctor)})
        assert response["Location"] == "/accounts/login/"
        assert not _reads_chart(client, patient_uid)
    assert Factor.objects.get(user=doctor).totp_last_step == 0  # the code was never checked


def test_wrong_codes_are_throttled_like_passwords(doctor: Any) -> None:
    """B3: after three wrong codes the next try waits, even with the right code."""
    client = SecureClient()
    first = client.post("/accounts/login/", {"username": doctor.username, "password": PASSWORD})
    for _ in range(throttle.FREE_ATTEMPTS):
        assert client.post(first["Location"], {"code": "000000"}).status_code == 200
    throttled = client.post(first["Location"], {"code": _fresh_code(doctor)})
    assert throttled.status_code == 429 and "wait" in throttled.text
    assert client.get("/").status_code == 302


def test_a_unicode_digit_code_is_a_counted_wrong_code(doctor: Any) -> None:
    """N2, B3: "²²²²²²" is not a code; it is refused and counted, never a server error."""
    assert services.verify_code_factor(doctor, "²²²²²²") is None
    assert services.verify_code_factor(doctor, "١٢٣٤٥٦") is None
    doctor.refresh_from_db()
    assert doctor.failed_logins == 2


# --- 5. every refusal is an audit event, and survives the request's rollback (D1) ------------


def test_a_role_refusal_is_audited(db: Any, patient_uid: Any) -> None:
    """D1: the secretary asking for a clinical page gets 403 and the log says so."""
    secretary = make_user(Role.SECRETARY)
    response = client_for(secretary).get(f"/clinical/{patient_uid}/observations/new/")
    assert response.status_code == 403
    (denied,) = events(outcome="denied")
    assert denied.actor == secretary and denied.resource == "page"
    assert denied.resource_ref == "clinical:new"
    assert str(patient_uid) not in denied.detail


def test_role_probing_raises_the_refusals_alert(db: Any, patient_uid: Any) -> None:
    secretary = make_user(Role.SECRETARY)
    client = client_for(secretary)
    for _ in range(alerts.REFUSALS):
        client.get(f"/clinical/{patient_uid}/observations/new/")
    found = alerts.detect(timezone.now() - dt.timedelta(hours=1))
    assert [a.who for a in found if a.kind == "refusals"] == [secretary.username]


def test_a_failure_inside_a_views_transaction_is_still_audited(
    doctor: Any, patient_uid: Any
) -> None:
    """D1: the patient page wraps its reads in one transaction; when a read fails (here a data
    key altered in the database), the failure event outlives the rollback."""
    from secretum.patients.models import Patient

    Patient.objects.filter(uid=patient_uid).update(wrapped_key=b"\x01" + b"\x00" * 60)
    client = Client(raise_request_exception=False)
    client.force_login(doctor)
    session = client.session
    session[flow.RECORD] = UserSession.objects.create(
        user=doctor, last_activity_at=timezone.now()
    ).pk
    session.save()
    response = client.get(f"/patients/{patient_uid}/", secure=True)
    assert response.status_code == 500
    failed = events(outcome="failure", patient_ref=str(patient_uid))
    assert len(failed) == 1 and '"error":"DecryptionError"' in failed[0].detail


# --- 6. the current password is guarded like a login (B2) -------------------------------------


def test_guessing_the_current_password_is_throttled_counted_and_locks(doctor: Any) -> None:
    """B2: a stolen session cannot try current passwords without end."""
    client = sign_in(doctor)
    guess = {"old_password": "guess", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    for _ in range(throttle.FREE_ATTEMPTS):
        page = client.post("/accounts/password/", guess)
        assert page.status_code == 200 and "not this one" in page.text
    assert "wait" in client.post("/accounts/password/", guess).text
    failed = events(action="login-failed")
    assert [e.detail.count("current-password") for e in failed] == [1] * len(failed)
    type(doctor).objects.filter(pk=doctor.pk).update(failed_logins=throttle.LOCKOUT_AFTER - 1)
    throttle.forget_account(doctor.username)
    locked = client.post("/accounts/password/", guess)
    assert locked["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302
    doctor.refresh_from_db()
    assert doctor.locked_until is not None and doctor.check_password(PASSWORD)


# --- 7. one office address does not punish its legitimate users -----------------------------


def test_unknown_names_from_a_shared_address_do_not_delay_the_next_user(doctor: Any) -> None:
    office = {"REMOTE_ADDR": "203.0.113.10"}
    for n in range(5):
        SecureClient(**office).post("/accounts/login/", {"username": f"typo-{n}", "password": "x"})
    first = SecureClient(**office).post(
        "/accounts/login/", {"username": doctor.username, "password": PASSWORD}
    )
    assert first.status_code == 302 and "verify" in first["Location"]


def test_the_address_counter_decays_and_spares_known_devices(doctor: Any, monkeypatch: Any) -> None:
    """A fast guesser fills the bucket of its address; it empties by itself, and a browser that
    already completed a login on the account is never slowed by its address."""
    clock = [timezone.now()]
    monkeypatch.setattr(throttle, "_now", lambda: clock[0])
    known = sign_in(doctor, REMOTE_ADDR="203.0.113.20")
    assert throttle.DEVICE_COOKIE in known.cookies
    for n in range(throttle.ADDRESS_FREE_ATTEMPTS + 2):
        services.check_password_step(f"guess-{n}", "x", "203.0.113.20")
    assert throttle.wait_seconds(doctor.username, "203.0.113.20") > 0
    stranger = SecureClient(REMOTE_ADDR="203.0.113.20").post(
        "/accounts/login/", {"username": doctor.username, "password": PASSWORD}
    )
    assert stranger.status_code == 429
    again = known.post("/accounts/login/", {"username": doctor.username, "password": PASSWORD})
    assert again.status_code == 302  # a known device of this account
    clock[0] += dt.timedelta(seconds=throttle.ADDRESS_LEAK_SECONDS * 30)
    assert throttle.wait_seconds(doctor.username, "203.0.113.20") == 0


# --- 11. every cookie follows the session cookie's rules (H1) ----------------------------------


def test_every_cookie_is_host_prefixed_secure_httponly_and_strict(doctor: Any) -> None:
    client = SecureClient()
    seen = []
    responses = [client.get("/accounts/login/")]
    responses.append(
        client.post("/accounts/login/", {"username": doctor.username, "password": "wrong"})
    )
    first = client.post("/accounts/login/", {"username": doctor.username, "password": PASSWORD})
    responses += [first, client.post(first["Location"], {"code": _fresh_code(doctor)})]
    responses.append(client.post("/i18n/setlang/", {"language": "nl", "next": "/"}))
    responses.append(client.post("/accounts/logout/"))
    for response in responses:
        for name, morsel in response.cookies.items():
            seen.append(name)
            assert name.startswith("__Host-"), name
            assert morsel["secure"], name
            assert morsel["httponly"] or morsel["max-age"] == 0, name  # or a deletion
            assert morsel["samesite"] == "Strict" and morsel["path"] == "/", name
            assert not morsel["domain"], name
    assert "messages" not in seen and "__Host-secretum-session" in seen


# --- the edges of the links and sessions ------------------------------------------------------


def test_an_account_with_nothing_to_prove_gets_no_link(manager: Any) -> None:
    """B1: an account that was used but has neither a password nor a factor is never handed
    over by a link: the manager creates a new account."""
    used = services.create_user(actor_for(manager), username="usedup", role=Role.SECRETARY)
    used.last_login = timezone.now()  # as Django's login writes it: sealed again (C2)
    used.save(update_fields=["last_login"])
    assert links.purpose_for(used) is None
    with pytest.raises(ValidationError, match="neither a password nor a second factor"):
        links.issue(actor_for(manager), used.pk)


def test_emptying_the_last_login_opens_no_enrolment_link(manager: Any) -> None:
    """B1, as an attacker holding the database: a used account with its last login emptied
    would look new and get an enrolment link (no password asked). The date is sealed: refused."""
    used = services.create_user(actor_for(manager), username="wasused", role=Role.SECRETARY)
    used.last_login = timezone.now()
    used.save(update_fields=["last_login"])
    type(used).objects.filter(pk=used.pk).update(last_login=None)
    with pytest.raises(ValidationError, match="altered outside Secretum"):
        links.issue(actor_for(manager), used.pk)


def test_a_login_seals_its_date_over_the_row_as_stored_never_a_stale_copy(
    manager: Any, rf: Any
) -> None:
    """C2: the last login is written on the locked row as the database holds it. A copy read
    before a manager's change logs in: the row stays intact with the change. A row altered
    outside Secretum is left as found: its date is not written, no new seal launders it."""
    from django.contrib.auth.signals import user_logged_in

    user = make_user(Role.SECRETARY)
    stale = type(user).objects.get(pk=user.pk)
    services.flag_password_compromised(actor_for(manager), user.pk)
    user_logged_in.send(sender=type(user), request=rf.get("/"), user=stale)
    user.refresh_from_db()
    assert user.must_change_password and user.last_login is not None
    assert rows.intact(user) and stale.last_login == user.last_login

    type(user).objects.filter(pk=user.pk).update(role=Role.MANAGER)
    before = user.last_login
    user_logged_in.send(sender=type(user), request=rf.get("/"), user=stale)
    user.refresh_from_db()
    assert user.last_login == before and not rows.intact(user)


def test_a_link_works_only_on_its_own_page(manager: Any) -> None:
    """A new account's link typed on the "forgotten password" page is refused, audited."""
    newcomer = services.create_user(actor_for(manager), username="newpage", role=Role.SECRETARY)
    _purpose, token = links.issue(actor_for(manager), newcomer.pk)
    with pytest.raises(ValidationError, match="invalid, already used or expired"):
        links.redeem_password(token, "123456", NEW_PASSWORD)
    assert events(resource="enrolment")[-1].outcome == "failure"


def test_links_are_throttled_like_logins(doctor: Any, manager: Any) -> None:
    """B3: a factors link and a password link wait like a login once the account's counter is
    full: the link does not buy extra guesses."""
    throttle.record_failure(doctor.username, "192.0.2.9")
    for _ in range(throttle.FREE_ATTEMPTS):
        throttle.record_failure(doctor.username, "192.0.2.9")
    _purpose, token = links.issue(actor_for(manager), doctor.pk, links.Purpose.PASSWORD)
    with pytest.raises(ValidationError, match="wait"):
        links.redeem_password(token, _fresh_code(doctor), NEW_PASSWORD, "192.0.2.9")
    services.reset_factors(actor_for(manager), doctor.pk)
    _purpose, token = links.issue(actor_for(manager), doctor.pk)
    with pytest.raises(ValidationError, match="wait"):
        links.redeem_factors(token, PASSWORD, "192.0.2.9")


def test_an_ended_session_answers_json_pages_with_401(doctor: Any, manager: Any) -> None:
    client = sign_in(doctor)
    services.manager_end_sessions(actor_for(manager), doctor.pk)
    ping = client.post("/accounts/ping/", HTTP_ACCEPT="application/json")
    assert ping.status_code == 401 and ping.json() == {"state": "signed-out"}


def test_an_unrecorded_session_answers_a_json_request_for_a_page_with_401(doctor: Any) -> None:
    """B1, fail closed: a page's script asking for JSON in a session that has no record (never
    recorded, or its record gone) is told "signed out", not sent a redirect it cannot follow;
    the refusal is audited."""
    client = SecureClient()
    client.force_login(doctor)
    response = client.get("/", HTTP_ACCEPT="application/json")
    assert response.status_code == 401 and response.json() == {"state": "signed-out"}
    (denied,) = events(outcome="denied", resource="session")
    assert denied.actor == doctor and "session-ended" in denied.detail
    assert client.get("/").status_code == 302  # and the session is over


def test_a_malformed_referer_on_a_sudo_refusal_is_no_error(doctor: Any) -> None:
    """N2: a POST that needs sudo, with a Referer that is not a URL, goes back home."""
    client = sign_in(doctor)
    session = client.session
    session[flow.REAUTH_AT] = 0
    session.save()
    factor = services.list_factors(doctor)[0]
    response = client.post(
        "/accounts/factors/remove/", {"factor": factor.pk}, HTTP_REFERER="http://["
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/confirm/?next=/"


# --- the idle lock: a wrong password there is a counted guess too (B2, E1) ---------------------


def _locked(client: SecureClient) -> None:
    session = client.session
    session[flow.LAST_SEEN] = int(time.time()) - 21 * 60
    session.save()
    assert client.get("/")["Location"] == "/accounts/unlock/"


def test_a_wrong_password_at_the_lock_is_refused_and_the_last_allowed_one_locks_out(
    doctor: Any,
) -> None:
    client = sign_in(doctor)
    _locked(client)
    wrong = client.post("/accounts/unlock/", {"password": "a guess", "code": "123456"})
    assert wrong.status_code == 200 and "Wrong password." in wrong.text
    type(doctor).objects.filter(pk=doctor.pk).update(failed_logins=throttle.LOCKOUT_AFTER - 1)
    throttle.forget_account(doctor.username)
    locked = client.post("/accounts/unlock/", {"password": "another guess", "code": "123456"})
    assert locked["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302
    doctor.refresh_from_db()
    assert doctor.locked_until is not None


def test_a_password_link_waits_out_the_lock_of_its_account(doctor: Any, manager: Any) -> None:
    """B3: a locked account's password link asks for no code until the lock ends: the link
    gives no extra guesses."""
    _purpose, token = links.issue(actor_for(manager), doctor.pk, links.Purpose.PASSWORD)
    type(doctor).objects.filter(pk=doctor.pk).update(
        locked_until=timezone.now() + dt.timedelta(minutes=throttle.LOCKOUT_MINUTES)
    )
    with pytest.raises(ValidationError, match="wait"):
        links.redeem_password(token, _fresh_code(doctor), NEW_PASSWORD)
    assert Factor.objects.get(user=doctor).totp_last_step == 0  # no code was checked


def test_a_password_due_for_renewal_is_changed_at_the_next_login(doctor: Any, manager: Any) -> None:
    """B2: when the practice sets a renewal period, a password older than it leads to the
    password page before anything else."""
    services.update_practice_settings(
        actor_for(manager), idle_timeout_minutes=15, session_lifetime_hours=10,
        password_renewal_days=90,
    )  # fmt: skip
    type(doctor).objects.filter(pk=doctor.pk).update(
        password_changed_at=timezone.now() - dt.timedelta(days=91)
    )
    client = sign_in(doctor)
    assert client.get("/")["Location"] == "/accounts/password/"
    doctor.refresh_from_db()
    assert doctor.must_change_password


def test_a_code_of_the_wrong_shape_is_a_counted_wrong_code(doctor: Any) -> None:
    """N2, B3: five digits, or letters, are no code: refused and counted."""
    assert services.verify_code_factor(doctor, "12345") is None
    assert services.verify_code_factor(doctor, "abcdef") is None
    doctor.refresh_from_db()
    assert doctor.failed_logins == 2


def test_the_owner_is_told_at_login_that_the_account_was_locked(doctor: Any) -> None:
    """B3: a lock-out since the last login is told to the owner, who may not have caused it."""
    doctor.last_login = timezone.now() - dt.timedelta(days=2)
    doctor.last_lockout_at = timezone.now() - dt.timedelta(days=1)
    doctor.save(update_fields=["last_login", "last_lockout_at"])
    client = sign_in(doctor)
    assert "Your account was locked after repeated failed logins" in client.get("/").text


def _racing_update(times: int, source: str) -> Any:
    """Another process counts a failure of the same address just before each of this
    process's conditional updates, ``times`` times."""
    from django.db.models import F

    from secretum.accounts.models import LoginThrottle

    state = {"updates": 0, "raced": 0}

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        where = sql.partition(" WHERE ")[2]  # the conditional update names the count it read
        conditional = sql.startswith('UPDATE "accounts_loginthrottle"') and '"failures" =' in where
        if conditional and state["raced"] < times and not state.get("inside"):
            state["raced"] += 1
            state["inside"] = True
            try:
                LoginThrottle.objects.filter(key=throttle.address_key(source)).update(
                    failures=F("failures") + 1
                )
            finally:
                state["inside"] = False
        return execute(sql, params, many, context)

    return wrapper, state


@pytest.mark.parametrize("races", [1, 5])
def test_failures_from_one_address_at_once_are_counted_and_the_retries_end(
    db: Any, races: int
) -> None:
    """B3: two failures from one address at the same moment both count (the update is
    conditional, retried); under endless contention the retries stop after five."""
    from django.db import connection

    from secretum.accounts.models import LoginThrottle

    source = "203.0.113.40"
    throttle.record_failure("someone", source)
    wrapper, state = _racing_update(races, source)
    with connection.execute_wrapper(wrapper):
        throttle.record_failure("someone", source)
    row = LoginThrottle.objects.get(key=throttle.address_key(source))
    assert state["raced"] == races
    assert row.failures == 1 + races + (1 if races < 5 else 0)


def test_one_code_sent_twice_at_once_signs_in_once(doctor: Any) -> None:
    """B3: two requests carry the same code at the same moment; the database lets one of them
    spend it (a conditional update), the other is a wrong code."""
    from django.db import connection

    code = _fresh_code(doctor)
    spent = [False]

    def the_other_request_first(execute: Any, sql: str, params: Any, many: bool, ctx: Any) -> Any:
        if sql.startswith('UPDATE "accounts_factor"') and "totp_last_step" in sql and not spent[0]:
            spent[0] = True
            assert services.verify_totp(doctor, code) is not None  # the other request
        return execute(sql, params, many, ctx)

    with connection.execute_wrapper(the_other_request_first):
        assert services.verify_totp(doctor, code) is None
    assert spent[0]
