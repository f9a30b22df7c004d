"""E1, issue 16 (WCAG 2.2.1): what was typed when the idle lock came is kept, sealed in the
server-side session, and given back once, to its user, after the unlock; the lock itself is not
weakened (a POST to a locked session is never applied, "stay signed in" never outlasts the
session's lifetime nor the practice's idle time)."""

from __future__ import annotations

import json
import time
from typing import Any

import pyotp
import pytest

from secretum.access.policy import Role
from secretum.accounts import drafts, flow
from secretum.accounts.models import Factor, SessionData
from tests.conftest import TEST_TOTP_SECRET, SecureClient, make_user

PASSWORD = "fictitious correct horse 7"
TYPED = "Fictitious-Quillbrack sore throat since Tuesday"
CSRF_COOKIE = "__Host-secretum-csrf"


@pytest.fixture
def doctor(db: Any) -> Any:
    return make_user(Role.PRACTITIONER, password=PASSWORD)


def _signed_in(user: Any, **client_options: Any) -> SecureClient:
    # Each login here spends the current code; a code works once, so the test forgets it.
    Factor.objects.filter(user=user).update(totp_last_step=0)
    client = SecureClient(**client_options)
    client.handler.enforce_csrf_checks = False
    first = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    client.post(first["Location"], {"code": pyotp.TOTP(TEST_TOTP_SECRET).now()})
    return client


def _age(client: SecureClient, **seconds_ago: int) -> None:
    session = client.session
    now = int(time.time())
    for key, ago in seconds_ago.items():
        session[getattr(flow, key)] = now - ago
    session.save()


def _unlock(client: SecureClient) -> Any:
    code = pyotp.TOTP(TEST_TOTP_SECRET).at(time.time() + 30)  # the next step: the last was used
    return client.post("/accounts/unlock/", {"password": PASSWORD, "code": code})


def _entry_page(patient: Any) -> str:
    return f"/clinical/{patient.uid}/observation/new/"


def _draft(page: str, text: str = TYPED, **extra: Any) -> dict[str, Any]:
    return {
        "url": page,
        "action": page,
        "form": 2,
        "fields": [["code", "weight"], ["value", text]],
        **extra,
    }


def _send(client: SecureClient, draft: Any, **headers: Any) -> Any:
    return client.post(
        "/accounts/draft/",
        json.dumps(draft),
        content_type="application/json",
        HTTP_ACCEPT="application/json",
        **headers,
    )


def _kept(client: SecureClient) -> Any:
    return client.session.get(drafts.DRAFT)


def _lock(client: SecureClient) -> None:
    """The idle time passes; the next request finds the session idle (E1)."""
    _age(client, LAST_SEEN=15 * 60 + 2)
    assert client.get("/")["Location"] == "/accounts/unlock/"


def test_typed_text_survives_an_idle_lock_and_is_refilled_once(doctor: Any, patient: Any) -> None:
    """E1: the page sends its form as the lock comes; the unlock leads back to it; the page
    gets the draft once, with the notice, and the session forgets it."""
    client = _signed_in(doctor)
    page = _entry_page(patient)
    _age(client, LAST_SEEN=15 * 60 + 2)  # the page's timer fired: this is the first request
    assert _send(client, _draft(page)).json() == {"kept": True}
    assert client.get("/")["Location"] == "/accounts/unlock/"  # the session is locked
    unlocked = _unlock(client)
    assert unlocked["Location"] == page
    shown = client.get(page).content.decode()
    assert 'data-testid="draft-kept"' in shown
    assert "Your typing was kept while the session was locked." in shown
    assert TYPED in shown
    assert _kept(client) is None
    again = client.get(page).content.decode()
    assert TYPED not in again and "draft-kept" not in again


def test_a_form_posted_to_a_locked_session_is_kept_not_applied(doctor: Any, patient: Any) -> None:
    """E1: the server-side lock never applies a POST without re-authentication, and never
    loses it: its fields (not the CSRF token) become the draft of the page it came from."""
    client = _signed_in(doctor)
    page = _entry_page(patient)
    _age(client, LAST_SEEN=15 * 60 + 2)
    posted = client.post(
        page,
        {"code": "weight", "value": "71", "csrfmiddlewaretoken": "x" * 32},
        HTTP_REFERER=f"https://testserver{page}",
    )
    assert posted.status_code == 302 and posted["Location"] == "/accounts/unlock/"
    kept = _kept(client)
    assert kept["fields"] == [["code", "weight"], ["value", "71"]]
    assert kept["url"] == page and kept["user"] == doctor.pk
    assert _unlock(client)["Location"] == page
    shown = client.get(page).content.decode()
    assert "draft-kept" in shown and "71" in shown


def test_the_post_to_a_locked_session_writes_nothing(doctor: Any, patient: Any) -> None:
    from secretum.audit.models import AuditEvent

    client = _signed_in(doctor)
    _age(client, LAST_SEEN=15 * 60 + 2)
    client.post(_entry_page(patient), {"code": "weight", "value": "71"})
    assert not AuditEvent.objects.filter(action="create", resource__startswith="clinical")


def test_the_draft_endpoint_needs_the_csrf_token(doctor: Any, patient: Any) -> None:
    client = _signed_in(doctor)
    client.get("/")  # the page sets the CSRF cookie
    client.handler.enforce_csrf_checks = True
    same_site = {"HTTP_REFERER": "https://testserver/"}  # HTTPS: Django checks the Referer too
    refused = _send(client, _draft(_entry_page(patient)), **same_site)
    assert refused.status_code == 403 and _kept(client) is None
    token = client.cookies[CSRF_COOKIE].value
    forged = _send(client, _draft(_entry_page(patient)), HTTP_X_CSRFTOKEN="f" * 32, **same_site)
    assert forged.status_code == 403 and _kept(client) is None
    accepted = _send(client, _draft(_entry_page(patient)), HTTP_X_CSRFTOKEN=token, **same_site)
    assert accepted.status_code == 200 and _kept(client) is not None


def test_a_draft_over_64_kib_is_refused(doctor: Any, patient: Any) -> None:
    client = _signed_in(doctor)
    big = _send(client, _draft(_entry_page(patient), text="x" * (drafts.MAX_BYTES + 1)))
    assert big.status_code == 413 and _kept(client) is None
    # A body far larger than any draft is refused before it is parsed at all.
    huge = _send(client, _draft(_entry_page(patient), text="x" * (drafts.MAX_BYTES + 8192)))
    assert huge.status_code == 413 and _kept(client) is None
    many = _send(client, _draft(_entry_page(patient)) | {"fields": [["a", "b"]] * 201})
    assert many.status_code == 400 and _kept(client) is None


@pytest.mark.parametrize(
    "draft",
    [
        {"url": "//evil.example/x", "fields": [["value", TYPED]]},
        {"url": "https://evil.example/x", "fields": [["value", TYPED]]},
        {"url": "/accounts/password/", "fields": [["new", TYPED]]},
        {"url": "/patients/", "fields": "not a list"},
        {"url": "/patients/", "fields": [["value", 3]]},
        {"url": "/patients/", "fields": [["password", TYPED], ["csrfmiddlewaretoken", "x"]]},
    ],
)
def test_a_malformed_or_secret_draft_is_refused(doctor: Any, draft: Any) -> None:
    client = _signed_in(doctor)
    assert _send(client, draft).status_code == 400
    assert _kept(client) is None


def test_secrets_are_never_kept(doctor: Any, patient: Any) -> None:
    client = _signed_in(doctor)
    page = _entry_page(patient)
    fields = [["value", TYPED], ["password", "hunter2"], ["csrfmiddlewaretoken", "t" * 32]]
    assert _send(client, _draft(page) | {"fields": fields}).status_code == 200
    assert _kept(client)["fields"] == [["value", TYPED]]


def test_the_draft_is_sealed_at_rest(doctor: Any, patient: Any) -> None:
    """E10, issue 16: the typed text is nowhere in the session's row (sealed under the key
    file with the rest of the session: accounts.sessions)."""
    client = _signed_in(doctor)
    assert _send(client, _draft(_entry_page(patient))).status_code == 200
    rows = list(SessionData.objects.values_list("session_key", "session_data"))
    assert rows
    import base64

    for key, data in rows:
        raw = (key + data).encode()
        assert b"Quillbrack" not in raw
        assert b"Quillbrack" not in base64.b64decode(data)
    # Nor in a cookie: the browser holds only its session and CSRF identifiers.
    assert all("Quillbrack" not in morsel.value for morsel in client.cookies.values())


def test_another_user_never_gets_the_draft(doctor: Any, patient: Any) -> None:
    """User A's draft; user B signs in on the same browser: nothing of A's typing."""
    client = _signed_in(doctor)
    page = _entry_page(patient)
    _age(client, LAST_SEEN=15 * 60 + 2)
    assert _send(client, _draft(page)).status_code == 200
    # B, at the locked screen: "Not you? Log out", then signs in.
    client.post("/accounts/logout/")
    other = make_user(Role.PRACTITIONER, password=PASSWORD)
    Factor.objects.filter(user=other).update(totp_last_step=0)
    first = client.post("/accounts/login/", {"username": other.username, "password": PASSWORD})
    code = pyotp.TOTP(TEST_TOTP_SECRET).at(time.time() + 60)
    client.post(first["Location"], {"code": code})
    assert _kept(client) is None
    assert TYPED not in client.get(page).content.decode()


def test_a_draft_naming_another_user_is_dropped(doctor: Any, patient: Any) -> None:
    """Belt and braces: whatever the session holds, a draft goes to its own user only."""
    client = _signed_in(doctor)
    page = _entry_page(patient)
    other = make_user(Role.PRACTITIONER)
    session = client.session
    session[drafts.DRAFT] = {"user": other.pk, "url": page, "action": page, "form": None,
                             "fields": [["value", TYPED]], "at": int(time.time())}  # fmt: skip
    session.save()
    assert TYPED not in client.get(page).content.decode()
    assert _kept(client) is None


def test_signing_out_discards_the_draft(doctor: Any, patient: Any) -> None:
    client = _signed_in(doctor)
    assert _send(client, _draft(_entry_page(patient))).status_code == 200
    before = {key for key, _ in SessionData.objects.values_list("session_key", "record")}
    client.post("/accounts/logout/")
    assert not SessionData.objects.filter(session_key__in=before).exists()
    assert _kept(client) is None


def test_the_draft_ends_with_the_session_lifetime(doctor: Any, patient: Any) -> None:
    client = _signed_in(doctor)
    assert _send(client, _draft(_entry_page(patient))).status_code == 200
    _age(client, AUTH_AT=10 * 3600 + 1)
    assert client.get("/")["Location"].startswith("/accounts/login/")
    assert _kept(client) is None
    assert not SessionData.objects.exists()


def test_a_locked_session_takes_one_draft_just_after_its_lock(doctor: Any, patient: Any) -> None:
    """Nobody at a locked screen writes into what the next unlock refills: a locked session
    takes the page's draft just after the lock, and nothing after that nor a second one."""
    client = _signed_in(doctor)
    page = _entry_page(patient)
    _lock(client)
    assert _send(client, _draft(page)).status_code == 200
    assert _send(client, _draft(page, text="Fictitious-injected")).status_code == 409
    assert _kept(client)["fields"][1][1] == TYPED
    session = client.session
    session.pop(drafts.DRAFT)
    session[flow.LOCKED] = int(time.time()) - drafts.GRACE_SECONDS - 1
    session.save()
    assert _send(client, _draft(page)).status_code == 409
    assert _kept(client) is None


def test_a_refused_page_does_not_show_the_draft(doctor: Any, patient: Any) -> None:
    """The draft is given back only to a page its user may see now (C2)."""
    secretary = make_user(Role.SECRETARY, password=PASSWORD)
    client = _signed_in(secretary)
    page = _entry_page(patient)
    assert _send(client, _draft(page)).status_code == 200
    refused = client.get(page)
    assert refused.status_code == 403 and TYPED not in refused.content.decode()


def test_stay_signed_in_never_outlasts_the_session_lifetime(doctor: Any) -> None:
    """E1: the ping ("Stay signed in") postpones the lock by the practice's idle time, and
    never past the absolute lifetime."""
    client = _signed_in(doctor)
    _age(client, AUTH_AT=10 * 3600 - 100, LAST_SEEN=60)
    assert client.post("/accounts/ping/", HTTP_ACCEPT="application/json").json()["lock_in"] in (
        99,
        100,
    )
    page = client.get("/").content.decode()
    assert 'data-lock-in="100"' in page or 'data-lock-in="99"' in page
    assert 'data-idle-timeout="900"' in page


def test_the_idle_warning_is_on_every_signed_in_page(doctor: Any) -> None:
    """WCAG 2.2.1: an alert dialog, hidden until the page shows it, with its button."""
    page = _signed_in(doctor).get("/").content.decode()
    assert 'role="alertdialog"' in page and 'data-testid="idle-stay"' in page
    assert 'role="timer"' in page


def test_a_forged_post_to_a_locked_session_keeps_no_draft(doctor: Any, patient: Any) -> None:
    """A cross-site POST (no CSRF token) is refused before the lock keeps anything of it."""
    client = _signed_in(doctor)
    _age(client, LAST_SEEN=15 * 60 + 2)
    client.handler.enforce_csrf_checks = True
    forged = client.post(
        _entry_page(patient),
        {"code": "weight", "value": "Fictitious-forged"},
        HTTP_REFERER="https://testserver/",
    )
    assert forged.status_code == 403 and _kept(client) is None


# --- the edges, one by one, as an attacker would send them -----------------------------------


def _request(method: str = "GET", **meta: Any) -> Any:
    from django.test import RequestFactory

    request = getattr(RequestFactory(), method.lower())("/clinical/x/observation/new/", **meta)
    request.session = {}
    return request


@pytest.mark.parametrize(
    "value",
    ["/" + "a" * 3000, "/a\\b", "/a\nb", "//evil.example/a", "https://evil.example/", 7, None],
)
def test_a_draft_returns_to_no_odd_path(value: Any) -> None:
    assert drafts.local_path(value) is None
    assert drafts.local_path("/patients/") == "/patients/"


@pytest.mark.parametrize("marked", [True, "1700000000", 1.5])
def test_a_lock_mark_that_is_no_time_takes_no_draft(marked: Any) -> None:
    """A session whose lock mark is not the moment of the lock (an older format, a forged one)
    takes no draft: the 60-second window cannot be reckoned."""
    request = _request()
    request.session[flow.LOCKED] = marked
    assert drafts.may_keep(request) is False


def test_a_malformed_or_foreign_referer_names_no_page() -> None:
    assert drafts.referer_page(_request(HTTP_REFERER="https://[::1")) is None
    assert drafts.referer_page(_request(HTTP_REFERER="https://evil.example/patients/")) is None
    assert (
        drafts.referer_page(_request(HTTP_REFERER="http://testserver/patients/x/"))
        == "/patients/x/"
    )


def test_a_locked_post_with_nothing_worth_keeping_is_not_kept(doctor: Any) -> None:
    request = _request("POST", data={"password": "x", "csrfmiddlewaretoken": "y"})
    request.user = doctor
    assert drafts.keep_post(request) is False and drafts.DRAFT not in request.session


def test_a_locked_session_is_given_no_draft(doctor: Any) -> None:
    """Even its own page, even served: the draft waits for the unlock."""
    request = _request()
    request.user = doctor
    request.serves_page = True
    request.session[drafts.DRAFT] = {"user": doctor.pk, "url": request.path, "fields": []}
    request.session[flow.LOCKED] = int(time.time())
    assert drafts.take(request) is None and drafts.DRAFT in request.session
