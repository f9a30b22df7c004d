"""First login through a one-time link, second factor before anything else, recovery codes
shown once, the charter accepted (A1, A2, B3); factors managed; managers never see a password."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
import pytest
from django.core.exceptions import ValidationError

from secretum.access.actor import Actor
from secretum.access.policy import Role
from secretum.accounts import charter as charters
from secretum.accounts import flow, links, services
from secretum.accounts.models import EnrolmentToken, Factor
from tests.conftest import SecureClient, actor_for, client_for, events, make_user

NEW_PASSWORD = "my own fictitious passphrase"


@pytest.fixture
def manager_user(db: Any) -> Any:
    return make_user(Role.MANAGER)


@pytest.fixture
def charter(db: Any) -> Any:
    return charters.publish_charter(
        Actor.system(),
        text_fr="Charte v1 (fr)",
        text_nl="Charter v1 (nl)",
        text_en="Charter v1: every access is logged; report a breach at once.",
    )


def _invite(manager_user: Any) -> tuple[Any, str]:
    actor = actor_for(manager_user)
    user = services.create_user(
        actor,
        username="newdoc",
        role=Role.PRACTITIONER,
        first_name="Odalric",
        last_name="Vanmeulebroek",
    )
    return user, links.issue(actor, user.pk)[1]


def _enrol_totp(client: SecureClient) -> list[str]:
    page = client.get("/accounts/factors/new/").content.decode()
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page).group(1)
    factor = re.search(r'name="factor" value="(\d+)"', page).group(1)
    done = client.post(
        "/accounts/factors/new/",
        {"factor": factor, "name": "My phone", "code": pyotp.TOTP(secret).now()},
    )
    assert done["Location"] == "/accounts/recovery-codes/"
    codes_page = client.get("/accounts/recovery-codes/").content.decode()
    return re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", codes_page)


def test_full_first_login(manager_user: Any, charter: Any) -> None:
    user, token = _invite(manager_user)
    client = SecureClient()
    enrolled = client.post(
        "/accounts/enrol/",
        {"token": token, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert enrolled["Location"] == "/accounts/factors/new/"
    # Nothing else is served before a second factor is enrolled.
    assert client.get("/patients/")["Location"] == "/accounts/factors/new/"
    codes = _enrol_totp(client)
    assert len(codes) == 10
    # Recovery codes are shown once.
    assert "<code>" not in client.get("/accounts/recovery-codes/").content.decode()
    # Then the charter, before anything else.
    assert client.get("/patients/")["Location"] == "/accounts/charter/"
    assert "every access is logged" in client.get("/accounts/charter/").content.decode()
    client.post("/accounts/charter/", {"version": charter.version})
    assert client.get("/patients/").status_code == 200
    (acceptance,) = events(resource="accounts.CharterAcceptance")
    assert acceptance.actor == user and '"version":1' in acceptance.detail
    assert Factor.objects.get(user=user).name == "My phone"


def test_enrolment_link_is_single_use_and_expires(manager_user: Any) -> None:
    user, token = _invite(manager_user)
    links.redeem_enrol(token, NEW_PASSWORD)
    with pytest.raises(ValidationError, match="invalid, already used or expired"):
        links.redeem_enrol(token, "another fictitious passphrase")
    # The password is set: the next link of this account asks for it (purpose "factors").
    purpose, other = links.issue(actor_for(manager_user), user.pk)
    assert purpose == links.Purpose.FACTORS
    EnrolmentToken.objects.filter(used_at__isnull=True).update(expires_at="2000-01-01T00:00Z")
    with pytest.raises(ValidationError, match="expired"):
        links.redeem_factors(other, NEW_PASSWORD)


def test_enrolment_token_is_stored_hashed_and_never_in_a_url(manager_user: Any) -> None:
    _user, token = _invite(manager_user)
    assert not EnrolmentToken.objects.filter(token_hash=token.encode()).exists()
    client = client_for(manager_user)
    from secretum.accounts import flow

    session = client.session
    session[flow.REAUTH_AT] = 10**10  # confirmed just now (sudo mode)
    session.save()
    client.post(
        "/accounts/users/new/",
        {
            "username": "nurse1",
            "first_name": "Ysaline",
            "last_name": "Drooghmans",
            "role": "practitioner",
        },
    )
    page = client.get("/accounts/users/").content.decode()
    link = re.search(r"https://testserver/accounts/enrol/#([\w-]+)", page)
    assert link, "the link carries its token in the fragment, which browsers never send"


def test_new_charter_version_is_accepted_again(charter: Any) -> None:
    user = make_user(Role.SECRETARY)
    charters.accept_charter(user, charter.version)
    assert charters.charter_pending(user) is None
    v2 = charters.publish_charter(Actor.system(), text_fr="v2", text_nl="v2", text_en="v2")
    assert charters.charter_pending(user) == v2
    with pytest.raises(ValidationError):
        charters.accept_charter(user, charter.version)  # an old version cannot be accepted
    client = client_for(user)
    assert client.get("/patients/")["Location"] == "/accounts/charter/"


def test_last_factor_cannot_be_removed(db: Any) -> None:
    user = make_user(Role.PRACTITIONER)
    (only,) = services.list_factors(user)
    with pytest.raises(ValidationError, match="last second factor"):
        services.remove_factor(user, only.pk)
    second, secret = services.start_totp(user, "Tablet")
    assert services.confirm_totp(user, second.pk, pyotp.TOTP(secret).now())
    services.remove_factor(user, only.pk)
    assert [f.name for f in services.list_factors(user)] == ["Tablet"]


def test_removing_a_factor_needs_recent_reauthentication(db: Any) -> None:
    user = make_user(Role.PRACTITIONER)
    client = client_for(user)
    factor = services.list_factors(user)[0]
    response = client.post(
        "/accounts/factors/remove/",
        {"factor": factor.pk},
        HTTP_REFERER="https://testserver/accounts/",
    )
    assert response["Location"].startswith("/accounts/confirm/?next=/accounts/")
    assert services.list_factors(user) == [factor]


def test_manager_reset_makes_the_user_enrol_again(manager_user: Any) -> None:
    """B3: after a reset the password alone no longer signs in; the owner's link and password
    together lead to enrolling a new factor."""
    user = make_user(Role.PRACTITIONER, password="fictitious passphrase 9")
    services.new_recovery_codes(user)
    services.reset_factors(actor_for(manager_user), user.pk)
    assert services.list_factors(user) == [] and services.remaining_recovery_codes(user) == 0
    client = SecureClient()
    response = client.post(
        "/accounts/login/", {"username": user.username, "password": "fictitious passphrase 9"}
    )
    assert response.status_code == 200 and "no second factor yet" in response.content.decode()
    assert client.get("/")["Location"].startswith("/accounts/login/")
    purpose, token = links.issue(actor_for(manager_user), user.pk)
    assert purpose == links.Purpose.FACTORS
    done = client.post(
        "/accounts/enrol/factors/", {"token": token, "password": "fictitious passphrase 9"}
    )
    assert done["Location"] == "/accounts/factors/new/"
    assert client.get("/patients/")["Location"] == "/accounts/factors/new/"


def test_manager_cannot_see_or_set_passwords(manager_user: Any) -> None:
    client = client_for(manager_user)
    page = client.get("/accounts/users/").content.decode()
    assert 'type="password"' not in page and "argon2" not in page


def test_only_managers_manage_users(db: Any) -> None:
    doctor = make_user(Role.PRACTITIONER)
    assert client_for(doctor).get("/accounts/users/").status_code == 403
    from secretum.access.actor import AccessDenied

    with pytest.raises(AccessDenied):
        services.reset_factors(actor_for(doctor), doctor.pk)
    assert events(outcome="denied")[0].actor == doctor


def test_flagged_password_must_be_changed_at_next_login(manager_user: Any) -> None:
    user = make_user(Role.SECRETARY)
    client = client_for(user)
    services.flag_password_compromised(actor_for(manager_user), user.pk)
    assert client.get("/").status_code == 302  # its sessions were ended
    client = client_for(user)
    assert client.get("/patients/")["Location"] == "/accounts/password/"


def test_password_renewal_is_off_by_default_and_a_setting(manager_user: Any) -> None:
    import datetime as dt

    from django.utils import timezone

    user = make_user(Role.SECRETARY)
    user.password_changed_at = timezone.now() - dt.timedelta(days=400)
    user.save()
    assert services.practice_settings().password_renewal_days == 0
    assert not services.password_renewal_due(user)
    services.update_practice_settings(
        actor_for(manager_user),
        idle_timeout_minutes=15,
        session_lifetime_hours=10,
        password_renewal_days=365,
    )
    assert services.password_renewal_due(user)


def test_idle_timeout_setting_refuses_more_than_20_minutes(manager_user: Any) -> None:
    """E1: the checklist's maximum is 20 minutes."""
    with pytest.raises(ValidationError):
        services.update_practice_settings(
            actor_for(manager_user),
            idle_timeout_minutes=21,
            session_lifetime_hours=10,
            password_renewal_days=0,
        )
    with pytest.raises(ValidationError):
        services.update_practice_settings(
            actor_for(manager_user),
            idle_timeout_minutes=15,
            session_lifetime_hours=13,
            password_renewal_days=0,
        )
    assert services.practice_settings().idle_timeout_minutes == 15


def test_a_refused_enrolment_link_is_audited(db: Any) -> None:
    with pytest.raises(ValidationError):
        links.redeem_enrol("no-such-token", NEW_PASSWORD, "192.0.2.7")
    (event,) = events(resource="enrolment")
    assert event.outcome == "failure" and event.source == "192.0.2.7"
    assert "no-such-token" not in event.detail


# --- the edges of accepting the charter and adding an authenticator app -------------------------


def test_an_outdated_or_malformed_charter_version_is_not_accepted(
    manager_user: Any, charter: Any
) -> None:
    """A1: the charter accepted is the one just read: an acceptance of version 0, or of no
    number at all, is refused and said; accepting twice writes one acceptance."""
    client = client_for(manager_user)
    for version in ("0", "first"):
        page = client.post("/accounts/charter/", {"version": version}, follow=True)
        assert b"newer version" in page.content or b"invalid literal" in page.content
    assert not events(resource="accounts.CharterAcceptance")
    for _ in range(2):
        assert client.post("/accounts/charter/", {"version": charter.version})["Location"] == "/"
    assert len(events(resource="accounts.CharterAcceptance")) == 1


def test_no_charter_published_asks_nothing(manager_user: Any) -> None:
    from secretum.accounts import charter as charters

    assert charters.charter_pending(manager_user) is None
    assert client_for(manager_user).get("/accounts/charter/")["Location"] == "/"


def test_a_wrong_code_while_adding_an_app_shows_the_same_secret_again(manager_user: Any) -> None:
    """B3: a typo keeps the enrolment going with the same secret (the QR code already
    scanned); the wrong code is audited; an enrolment that no longer exists starts again."""
    user, token = _invite(manager_user)
    client = SecureClient()
    client.post(
        "/accounts/enrol/",
        {"token": token, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    page = client.get("/accounts/factors/new/").content.decode()
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page).group(1)
    factor = re.search(r'name="factor" value="(\d+)"', page).group(1)
    wrong = client.post("/accounts/factors/new/", {"factor": factor, "name": "", "code": "000000"})
    assert wrong.status_code == 200 and secret in wrong.content.decode()
    assert "not the one your app shows" in wrong.content.decode()
    assert '"reason":"wrong-code"' in events(resource="accounts.Factor")[-1].detail
    done = client.post(
        "/accounts/factors/new/", {"factor": factor, "name": "", "code": pyotp.TOTP(secret).now()}
    )
    assert done["Location"] == "/accounts/recovery-codes/"
    assert [f.name for f in services.list_factors(user)] == ["Authenticator app"]  # kept
    gone = client.post("/accounts/factors/new/", {"factor": factor, "name": "", "code": "000000"})
    assert gone["Location"] == "/accounts/factors/new/"  # confirmed already: start again
    with pytest.raises(ValidationError, match="expired"):
        services.unconfirmed_totp_secret(user, int(factor))


def test_new_recovery_codes_need_a_recent_confirmation(db: Any) -> None:
    """B3: recovery codes replace a factor: new ones are made only after sudo."""
    doctor = make_user(Role.PRACTITIONER)
    client = client_for(doctor)
    asked = client.post("/accounts/recovery-codes/")
    assert asked["Location"] == "/accounts/confirm/?next=/accounts/recovery-codes/"
    assert not events(resource="accounts.RecoveryCode")


def test_a_second_app_is_added_after_sudo_without_new_recovery_codes(manager_user: Any) -> None:
    """B3: with a factor already, adding one asks for a recent confirmation, then says so;
    the recovery codes are not replaced."""
    doctor = make_user(Role.PRACTITIONER, password=NEW_PASSWORD)
    client = client_for(doctor)
    assert client.get("/accounts/factors/new/")["Location"].startswith("/accounts/confirm/")
    session = client.session
    session[flow.REAUTH_AT] = int(time.time())
    session.save()
    page = client.get("/accounts/factors/new/").content.decode()
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page).group(1)
    factor = re.search(r'name="factor" value="(\d+)"', page).group(1)
    done = client.post(
        "/accounts/factors/new/",
        {"factor": factor, "name": "Tablet", "code": pyotp.TOTP(secret).now()},
    )
    assert done["Location"] == "/accounts/"
    assert "Second factor added." in client.get("/accounts/").content.decode()
    assert sorted(f.name for f in services.list_factors(doctor)) == ["Tablet", "Test app"]


def test_a_factor_is_never_renamed_to_nothing(db: Any) -> None:
    doctor = make_user(Role.PRACTITIONER)
    factor = services.list_factors(doctor)[0]
    with pytest.raises(ValidationError, match="Give the factor a name"):
        services.rename_factor(doctor, factor.pk, "   ")
    # Nor is someone else's factor renamed through one's own account: no such factor, no event.
    other = services.list_factors(make_user(Role.PRACTITIONER))[0]
    before = len(events())
    with pytest.raises(ValidationError, match="No such factor"):
        services.rename_factor(doctor, other.pk, "Mine now")
    other.refresh_from_db()
    assert other.name == "Test app" and len(events()) == before


def test_the_manager_publishes_a_charter_from_the_settings_page(manager_user: Any) -> None:
    """A2: a charter in the three languages, published from the settings page (after sudo):
    its version said, the publication audited, and every user asked to accept it."""
    from tests.accounts.test_attacks import _sudo

    client = client_for(manager_user)
    _sudo(client)
    texts = {f"text_{lang}": f"Charte fictive ({lang})" for lang in ("fr", "nl", "en")}
    page = client.post("/accounts/settings/charter/", texts, follow=True)
    assert "Charter version 1 published: every user accepts it at next login." in page.text
    published = charters.current_charter()
    assert published is not None and published.version == 1
    assert published.text_en == "Charte fictive (en)"
    assert events(action="create", resource="accounts.Charter")[-1].outcome == "success"
    assert charters.charter_pending(make_user(Role.SECRETARY)) == published


def test_a_factor_is_renamed_from_its_page_and_never_someone_elses(db: Any) -> None:
    """B3: the owner renames a factor from the factors page; another user's factor is "no such
    factor", said on the page, and keeps its name."""
    doctor = make_user(Role.PRACTITIONER)
    mine = services.list_factors(doctor)[0]
    other = services.list_factors(make_user(Role.PRACTITIONER))[0]
    client = client_for(doctor)
    done = client.post("/accounts/factors/rename/", {"factor": mine.pk, "name": "Phone"})
    assert done["Location"] == "/accounts/"  # the factors page
    mine.refresh_from_db()
    assert mine.name == "Phone"
    page = client.post(
        "/accounts/factors/rename/", {"factor": other.pk, "name": "Mine now"}, follow=True
    )
    assert "No such factor." in page.text
    other.refresh_from_db()
    assert other.name == "Test app"


def test_the_forms_say_what_a_code_and_a_new_password_look_like(db: Any) -> None:
    """N2, B2: a code of another shape, two different new passwords, an app's code that is not 6
    digits: each form refuses, saying what it wants."""
    from secretum.accounts.forms import NewPasswordForm, TotpConfirmForm, second_factor_code

    with pytest.raises(ValidationError, match="Type the 6 digits"):
        second_factor_code("12 34")
    assert second_factor_code(" 123-456 ") == "123456"
    differ = NewPasswordForm(
        data={"new_password1": "fictitious horse 12", "new_password2": "fictitious horse 13"}
    )
    assert not differ.is_valid()
    assert differ.errors["new_password2"] == ["The two passwords differ."]
    app = TotpConfirmForm(data={"factor": 1, "name": "", "code": "12345"})
    assert not app.is_valid()
    assert app.errors["code"] == ["Type the 6 digits (0 to 9) your authenticator app shows now."]
