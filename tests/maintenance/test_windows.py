"""Maintenance access for an outside technician (K2, with G1, K1, E3; issue 10): a window of at
most eight hours, opened by a manager after re-authentication, with a purpose and a supervisor of
the practice; an account of its own that sees no patient data and closes itself at the end; the
opening and the closing in the maintenance log; the register's live evidence.

Time is moved as in tests/accounts/test_permissions_current.py: the window's dates and its
account's role dates written back through Secretum (the account's seal renewed), never by
patching the clock; attacks are plain SQL on the real database, without the key file.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import threading
import time
import uuid
from typing import Any

import pyotp
import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, connection, connections, transaction
from django.http import Http404
from django.utils import timezone

from secretum.access.actor import AccessDenied, Actor, role_of
from secretum.access.policy import Role
from secretum.accounts import lifecycle, links
from secretum.accounts import services as accounts
from secretum.accounts.models import UserSession
from secretum.audit import alerts
from secretum.audit import services as audit
from secretum.audit.models import AuditEvent
from secretum.compliance import evidence
from secretum.crypto import rows
from secretum.maintenance import services, windows
from secretum.maintenance.models import MaintenanceEntry, MaintenanceWindow
from tests.accounts.test_attacks import _sudo
from tests.conftest import SecureClient, actor_for, client_for, events, make_user

WINDOW = "maintenance.MaintenanceWindow"
LOG = "maintenance.MaintenanceEntry"
PASSWORD = "quiet violet harbour lantern 9"  # N3: fictitious
PURPOSE = "Fictitious: update the server's operating system and check the backups."


def ask(supervisor: Any, **overrides: Any) -> windows.WindowRequest:
    data: dict[str, Any] = {
        "technician": "Xavier Testdepanne",
        "company": "Fictidépannage sprl",
        "purpose": PURPOSE,
        "equipment": "Secretum server",
        "supervisor_id": supervisor.pk,
        "on_workstation": False,
        "consent": False,
    }
    data.update(overrides)
    return windows.WindowRequest(**data)


def open_for(manager: Any, **overrides: Any) -> windows.OpenedWindow:
    return windows.open_window(actor_for(manager), ask(manager, **overrides))


def window_of(opened: windows.OpenedWindow) -> MaintenanceWindow:
    return MaintenanceWindow.objects.select_related("account").get(uid=opened.uid)


def account_of(opened: windows.OpenedWindow) -> Any:
    return get_user_model().objects.get(username=opened.username)


def elapse(uid: str, delta: dt.timedelta) -> None:
    """``delta`` passes for the window ``uid``: its dates and its account's role dates move back
    by it, written through Secretum (the account's seal renewed)."""
    window = MaintenanceWindow.objects.get(uid=uid)
    MaintenanceWindow.objects.filter(pk=window.pk).update(
        starts_at=window.starts_at - delta, ends_at=window.ends_at - delta
    )
    account = get_user_model().objects.get(pk=window.account_id)
    account.role_starts_at -= delta
    account.role_ends_at -= delta
    account.save()


def sudo_client(user: Any) -> SecureClient:
    """Signed in, and the password and a second factor typed again just now (sudo)."""
    client = client_for(user)
    _sudo(client)
    return client


def enrolled(opened: windows.OpenedWindow) -> Any:
    """The technician redeemed the link and enrolled an authenticator (the test's seed)."""
    from secretum.accounts.models import Factor
    from tests.conftest import TEST_TOTP_SECRET

    user = links.redeem_enrol(opened.token, PASSWORD)
    factor = Factor(user=user, kind=Factor.Kind.TOTP, name="Phone", confirmed=True)
    accounts.seal_totp_secret(factor, TEST_TOTP_SECRET)
    factor.save()
    return user


def _sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cur:
        cur.execute(statement, params)


def _detail(event: AuditEvent) -> dict[str, Any]:
    return json.loads(event.detail) if event.detail else {}


def _sweep() -> str:
    out = io.StringIO()
    call_command("maintenance_close_expired", stdout=out)
    return out.getvalue()


# --- opening ------------------------------------------------------------------------------------


def test_opening_makes_an_account_a_link_and_a_log_entry_in_one_audited_call(manager: Any) -> None:
    """K2: a new account whose role is the window, its enrolment link, the log's entry (K1, E3)
    and the events: who created what, never the text."""
    supervisor = make_user(Role.SECRETARY)
    before = AuditEvent.objects.count()
    opened = open_for(manager, supervisor_id=supervisor.pk, duration=dt.timedelta(hours=3))
    window = window_of(opened)
    account = window.account
    assert account.role == Role.TECHNICIAN and account.last_name == "Xavier Testdepanne"
    assert (account.role_starts_at, account.role_ends_at) == (window.starts_at, window.ends_at)
    assert window.ends_at - window.starts_at == dt.timedelta(hours=3)
    assert opened.starts_at == window.starts_at and rows.intact(account)
    assert not account.has_usable_password() and role_of(account) == Role.TECHNICIAN
    assert window.opened_by == manager and window.supervisor == supervisor
    entry = window.opening_entry
    assert (entry.origin, entry.outside, entry.recorded_by) == ("window", True, manager)
    assert entry.supervisor == supervisor and not entry.on_workstation
    (group,) = services.list_entries(actor_for(manager))
    shown = group.current
    assert (shown.intervener, shown.company, shown.equipment) == (
        "Xavier Testdepanne",
        "Fictidépannage sprl",
        "Secretum server",
    )
    assert opened.username in shown.what and PURPOSE in shown.what
    new = list(AuditEvent.objects.order_by("seq")[before:])
    assert [(e.action, e.resource, e.outcome) for e in new][:3] == [
        ("create", "accounts.User", "success"),
        ("update", "accounts.EnrolmentToken", "success"),
        ("maintenance", WINDOW, "success"),
    ]
    opening = new[2]
    assert opening.resource_ref == opened.uid and opening.actor == manager
    detail = _detail(opening)
    assert detail["phase"] == "open" and detail["minutes"] == 180
    assert detail["supervisor"] == supervisor.pk and detail["entry"] == str(entry.uid)
    assert "Testdepanne" not in opening.detail and "backups" not in opening.detail
    # The link enrols the new account only (B3 applies: a password, then a second factor).
    assert links.redeem_enrol(opened.token, PASSWORD) == account


def test_the_names_and_the_purpose_are_sealed_at_rest(manager: Any) -> None:
    open_for(manager)
    with connection.cursor() as cur:
        cur.execute("SELECT * FROM maintenance_maintenancewindow")
        raw = repr(cur.fetchall())
    for text in ("Testdepanne", "Fictid", "operating system", "Secretum server"):
        assert text not in raw


def test_each_window_has_an_account_of_its_own(manager: Any) -> None:
    """Opening a window never reuses an account, not even for the same technician."""
    first, second = open_for(manager), open_for(manager)
    assert first.username != second.username
    assert window_of(first).account != window_of(second).account
    # The database refuses a second window on an account, whatever else the row holds.
    texts = {"intervener": "Someone", "equipment": "Server", "what": "Past Secretum"}
    flags = {"outside": True, "on_workstation": False, "consent": False}
    entry = services.append_entry(Actor.system(), timezone.now(), texts, flags)
    with pytest.raises(IntegrityError), transaction.atomic():
        window = window_of(first)
        window.pk, window.uid, window.opening_entry = None, uuid.uuid4(), entry
        window.save()


def test_a_window_of_8_hours_is_the_longest(manager: Any) -> None:
    """K2: 8 h is accepted; 8 h 1 min refused, saying so, with nothing written."""
    assert window_of(open_for(manager, duration=dt.timedelta(hours=8))).account
    before = (get_user_model().objects.count(), MaintenanceEntry.objects.count())
    events_before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as caught:
        open_for(manager, duration=dt.timedelta(hours=8, minutes=1))
    assert caught.value.message_dict["duration"] == [
        "A maintenance window lasts at most 8 hours (asked: 8 h 01). If the work takes longer, "
        "open a new window when this one ends."
    ]
    assert (get_user_model().objects.count(), MaintenanceEntry.objects.count()) == before
    assert AuditEvent.objects.count() == events_before


def test_a_technicians_role_can_be_neither_extended_nor_changed(manager: Any) -> None:
    """K2: the account's role is the window: 8 h from its start at most, whoever asks; the
    manager's role form neither extends it nor gives it (nor takes it back)."""
    account = window_of(open_for(manager)).account
    with pytest.raises(ValidationError, match="at most 8 hours"):
        account.give_role(Role.TECHNICIAN, None, account.role_starts_at + dt.timedelta(hours=9))
    with pytest.raises(ValidationError, match="at most 8 hours"):
        account.give_role(Role.TECHNICIAN, None, None)
    for role, ends in ((Role.TECHNICIAN, account.role_starts_at + dt.timedelta(hours=20)),
                       (Role.PRACTITIONER, None), (Role.MANAGER, None)):  # fmt: skip
        with pytest.raises(ValidationError, match="maintenance window"):
            lifecycle.change_role(actor_for(manager), account.pk, role, None, ends)
    secretary = make_user(Role.SECRETARY)
    with pytest.raises(ValidationError, match="maintenance window"):
        lifecycle.change_role(actor_for(manager), secretary.pk, Role.TECHNICIAN)
    account.refresh_from_db()
    assert account.role == Role.TECHNICIAN and rows.intact(account)
    from secretum.accounts.forms import NewUserForm, RoleForm

    for form in (NewUserForm(), RoleForm()):
        assert Role.TECHNICIAN not in dict(form.fields["role"].choices)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"technician": " "}, "technician", "Say who the technician is."),
        ({"company": ""}, "company", "someone from outside the practice (K2)"),
        ({"equipment": ""}, "equipment", "Say on which equipment."),
        ({"purpose": ""}, "purpose", "in 10 to 500 characters"),
        ({"purpose": "update"}, "purpose", "in 10 to 500 characters"),
        ({"purpose": "x" * 501}, "purpose", "At most 500 characters."),
        ({"technician": "x" * 151}, "technician", "At most 150 characters."),
        ({"supervisor_id": None}, "supervisor", "Name the supervisor of the practice (K2)."),
        ({"supervisor_id": 999_999}, "supervisor", "among the practice's current users"),
        ({"duration": dt.timedelta(0)}, "duration", "such as 2:00"),
        ({"duration": dt.timedelta(days=10**6)}, "duration", "at most 8 hours"),
        ({"on_workstation": True, "consent": False}, "consent", "consent beforehand (E3)"),
        ({"on_workstation": True, "consent": None}, "consent", "consented beforehand"),
        ({"on_workstation": True, "consent": True}, "consent_by", "who consented"),
    ],
)
def test_a_window_is_refused_saying_why(
    manager: Any, overrides: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        open_for(manager, **overrides)
    assert message in " ".join(caught.value.message_dict[field])
    assert not MaintenanceWindow.objects.exists()


def test_the_window_starts_now_or_within_the_links_life(manager: Any) -> None:
    now = timezone.now()
    for starts, message in (
        (now - dt.timedelta(hours=1), "cannot start in the past"),
        (now + dt.timedelta(hours=73), "within 72 hours"),
        (dt.datetime(9999, 12, 31, tzinfo=dt.UTC), "within 72 hours"),
    ):
        with pytest.raises(ValidationError, match=message):
            open_for(manager, starts_at=starts)
    with pytest.raises(ValidationError, match="already be over"):
        open_for(manager, starts_at=now - dt.timedelta(minutes=9), duration=dt.timedelta(minutes=5))
    later = open_for(manager, starts_at=now + dt.timedelta(hours=24))
    assert role_of(account_of(later)) is None  # not yet: the account holds nothing before
    assert role_of(account_of(later), later.starts_at) == Role.TECHNICIAN
    (shown,) = windows.list_windows(actor_for(manager))
    assert shown.status == "scheduled" and shown.username == later.username
    # K2: approved by someone responsible in the practice, never by the command line.
    with pytest.raises(ValidationError, match="opened by a practice manager"):
        windows.open_window(Actor.system(), ask(manager))


def test_only_a_current_user_supervises(manager: Any) -> None:
    """K2: the supervisor is one of the practice's users holding their role now: never a
    technician, a disabled account or a role that ended."""
    technician = window_of(open_for(manager)).account
    gone = make_user(Role.SECRETARY)
    gone.is_active = False
    gone.save()
    ended = make_user(Role.PRACTITIONER)
    ended.role_starts_at = timezone.now() - dt.timedelta(days=10)
    ended.role_ends_at = timezone.now() - dt.timedelta(days=1)
    ended.save()
    assert {pk for pk, _name in windows.supervisors()} == {manager.pk}
    assert technician.pk not in dict(services.practice_users())  # nor in the log's own form
    for wrong in (technician, gone, ended):
        with pytest.raises(ValidationError, match="current users"):
            open_for(manager, supervisor_id=wrong.pk)


# --- what the technician may do -----------------------------------------------------------------


def test_the_technician_sees_no_patient_data_and_manages_nothing(
    manager: Any, patient: Any
) -> None:
    """G1, C1: every patient service, the accounts, the register of windows, the audit log and
    the maintenance log's reading are refused to the technician, each a "denied" event; writing
    their intervention in the log is theirs (K1), correcting the log is not."""
    from secretum.clinical import services as clinical
    from secretum.patients import services as patients
    from secretum.scheduling import services as scheduling

    opened = open_for(manager)
    technician = actor_for(enrolled(opened))
    refused = [
        lambda: patients.search_patients(technician, "Zorbatova"),
        lambda: patients.access_patient(technician, patient.uid),
        lambda: clinical.access_chart(technician, patient.uid),
        lambda: scheduling.patient_appointments(technician, patient.uid),
        lambda: windows.open_window(technician, ask(manager)),
        lambda: windows.close_window(technician, opened.uid),
        lambda: windows.list_windows(technician),
        lambda: accounts.list_users(technician),
        lambda: accounts.create_user(technician, username="mine", role=Role.MANAGER),
        lambda: lifecycle.change_role(technician, technician.user.pk, Role.MANAGER),
        lambda: links.issue(technician, technician.user.pk),
        lambda: audit.search_events(technician, audit.EventFilter()),
        lambda: services.list_entries(technician),
        lambda: services.correct_intervention(
            technician,
            window_of(opened).opening_entry.uid,
            services.Intervention(timezone.now(), "Me", "Server", "Nothing happened here."),
            "Rewriting my own record.",
        ),
    ]
    for call in refused:
        before = AuditEvent.objects.count()
        with pytest.raises(AccessDenied):
            call()
        (event,) = AuditEvent.objects.order_by("seq")[before:]
        assert (event.outcome, event.actor, event.role) == ("denied", technician.user, "technician")
    uid = services.record_intervention(
        technician,
        services.Intervention(
            timezone.now(), "Xavier Testdepanne", "Secretum server", "Fictitious: patched it.",
            company="Fictidépannage sprl", supervisor_id=manager.pk, on_workstation=False,
            consent=False,
        ),
    )  # fmt: skip
    assert MaintenanceEntry.objects.get(uid=uid).recorded_by == technician.user


def test_a_manager_without_re_authentication_opens_and_closes_nothing(manager: Any) -> None:
    """G1: opening and closing a window need the password and a second factor again."""
    opened = open_for(manager)
    client = client_for(manager)
    for url, data in (
        ("/maintenance/access/open/", {"technician": "X", "duration": "2:00"}),
        ("/maintenance/access/close/", {"window": opened.uid}),
    ):
        response = client.post(url, data, HTTP_REFERER="https://testserver/maintenance/access/")
        assert response["Location"] == "/accounts/confirm/?next=/maintenance/access/"
    assert MaintenanceWindow.objects.count() == 1 and window_of(opened).closed_at is None


def test_a_technician_is_refused_the_managers_pages(manager: Any) -> None:
    technician = enrolled(open_for(manager))
    client = sudo_client(technician)
    for method, url in (
        ("get", "/maintenance/access/"),
        ("post", "/maintenance/access/open/"),
        ("post", "/maintenance/access/close/"),
        ("get", "/accounts/users/"),
        ("post", "/accounts/users/new/"),
        ("get", "/audit/"),
        ("get", "/maintenance/"),
        ("get", "/patients/"),
        ("get", "/compliance/"),
    ):
        before = AuditEvent.objects.count()
        assert getattr(client, method)(url).status_code == 403, url
        (event,) = AuditEvent.objects.order_by("seq")[before:]
        assert (event.outcome, event.actor, _detail(event)["reason"]) == (
            "denied",
            technician,
            "role",
        )


# --- closing ------------------------------------------------------------------------------------


def test_from_the_end_on_the_account_holds_nothing_then_the_sweep_closes_it(manager: Any) -> None:
    opened = open_for(manager)
    technician = enrolled(opened)
    client = client_for(technician)
    assert client.get("/").status_code == 200
    assert _sweep().endswith("close-expired: 0 closed\n")
    elapse(opened.uid, dt.timedelta(hours=2))  # the window's end: now
    assert role_of(account_of(opened)) is None
    assert windows.list_windows(actor_for(manager))[0].status == "ended"  # the sweep's turn
    assert client.get("/")["Location"].startswith("/accounts/login/")
    assert events(outcome="denied", actor=technician)[-1].detail.find("no-role") > 0
    output = _sweep()
    assert f"closed the maintenance window of {opened.username}" in output
    assert output.endswith("close-expired: 1 closed\n")
    account, window = account_of(opened), window_of(opened)
    assert not account.is_active and account.disabled_reason == "maintenance"
    assert rows.intact(account) and window.closing == "expired" and window.closed_by is None
    assert window.closing_entry is not None and window.closing_entry.recorded_by is None
    assert not UserSession.objects.filter(user=account, ended_at__isnull=True).exists()
    (closing,) = events(resource=WINDOW, detail__contains='"phase":"close"')
    assert closing.actor is None and _detail(closing)["closing"] == "expired"
    assert _sweep().endswith("close-expired: 0 closed\n")  # closed once


def test_a_manager_closes_a_window_early_once(manager: Any) -> None:
    opened = open_for(manager)
    technician = enrolled(opened)
    client = client_for(technician)
    assert windows.close_window(actor_for(manager), opened.uid) is True
    assert client.get("/")["Location"].startswith("/accounts/login/")  # its sessions ended
    account, window = account_of(opened), window_of(opened)
    assert role_of(account) is None and not account.is_active and rows.intact(account)
    assert account.role_ends_at <= timezone.now() and window.closing == "manager"
    assert window.closed_by == manager
    assert windows.close_window(actor_for(manager), opened.uid) is False
    first, again = events(resource=WINDOW, detail__contains='"phase":"close"')
    assert "already_closed" not in _detail(first) and _detail(again)["already_closed"] is True
    assert MaintenanceEntry.objects.filter(origin="window").count() == 2  # opened, closed
    # Enabled again by a manager, it still holds nothing: its role ended with the window.
    accounts.set_active(actor_for(manager), account.pk, True)
    assert accounts.check_password_step(opened.username, PASSWORD).user is None
    with pytest.raises(Http404):
        windows.close_window(actor_for(manager), "not-a-window")
    assert events(resource=WINDOW)[-1].outcome == "failure"


def test_a_window_closed_before_its_start_never_opens(manager: Any) -> None:
    opened = open_for(manager, starts_at=timezone.now() + dt.timedelta(hours=2))
    windows.close_window(actor_for(manager), opened.uid)
    account = account_of(opened)
    assert account.role_starts_at == account.role_ends_at and rows.intact(account)
    assert role_of(account, opened.starts_at + dt.timedelta(minutes=1)) is None


def test_a_closed_window_cannot_be_reopened_by_its_old_link(manager: Any) -> None:
    opened = open_for(manager)
    windows.close_window(actor_for(manager), opened.uid)
    with pytest.raises(ValidationError, match="invalid, already used or expired"):
        links.redeem_enrol(opened.token, PASSWORD)
    response = SecureClient().post(
        "/accounts/enrol/",
        {"token": opened.token, "new_password1": PASSWORD, "new_password2": PASSWORD},
    )
    assert response.status_code == 200 and "_auth_user_id" not in response.client.session
    account = account_of(opened)
    assert not account.has_usable_password() and not account.is_active


def test_the_role_end_moved_in_the_database_gives_nothing(manager: Any) -> None:
    """Without the key file, stretching the account's role in the database opens nothing: the
    row's seal no longer matches (refused at login and at every request), and the sweep closes
    the window at once, leaving the altered row as found and alerting the auditor."""
    opened = open_for(manager)
    technician = enrolled(opened)
    client = client_for(technician)
    later = timezone.now() + dt.timedelta(days=30)
    _sql("UPDATE accounts_user SET role_ends_at = %s WHERE id = %s", later, technician.pk)
    assert client.get("/")["Location"].startswith("/accounts/login/")
    assert accounts.check_password_step(opened.username, PASSWORD).user is None
    assert "1 closed" in _sweep()
    window, account = window_of(opened), account_of(opened)
    assert window.closing == "altered" and not rows.intact(account)
    assert account.is_active and account.role_ends_at == later  # left as found, never resealed
    assert not UserSession.objects.filter(user=account, ended_at__isnull=True).exists()
    assert any(a.kind == "tampered" for a in alerts.detect(timezone.now() - dt.timedelta(hours=1)))
    assert not evidence.gather(["K2"])["K2"].met


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_close_a_window_once() -> None:
    manager = make_user(Role.MANAGER)
    opened = open_for(manager)
    elapse(opened.uid, dt.timedelta(hours=3))
    start = threading.Barrier(2)
    closed: list[int] = []
    failures: list[BaseException] = []

    def sweep() -> None:
        start.wait()
        try:
            closed.append(len(windows.close_expired()))
        except BaseException as exc:  # reported on the test's thread
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and sorted(closed) == [0, 1]
    assert MaintenanceEntry.objects.filter(origin="window").count() == 2
    assert len(events(resource="accounts.User", detail__contains="maintenance-window")) == 1
    closings = [e for e in events(resource=WINDOW) if "already_closed" not in _detail(e)]
    assert [_detail(e)["phase"] for e in closings] == ["open", "close"]


def test_the_sweep_is_a_command_that_serve_runs_every_minute() -> None:
    from secretum import cli
    from secretum.core.management.commands import serve

    assert cli._command_name(["maintenance", "close-expired", "--every", "60"]) == (
        "maintenance_close_expired",
        ["--every", "60"],
    )
    assert "maintenance close-expired" in cli.USAGE
    assert (("maintenance", "close-expired"), 60) in serve.PERIODIC


# --- the manager's pages ------------------------------------------------------------------------


def _form(manager: Any, **overrides: str) -> dict[str, Any]:
    data = {
        "technician": "Xavier Testdepanne", "company": "Fictidépannage sprl",
        "purpose": PURPOSE, "equipment": "Secretum server", "supervisor": manager.pk,
        "starts_at": "", "duration": "2:00", "not_workstation": "on", "consent": "no",
        "consent_by": "",
    }  # fmt: skip
    data.update(overrides)
    return data


def test_the_page_opens_a_window_and_shows_its_link_once(manager: Any) -> None:
    client = sudo_client(manager)
    response = client.post("/maintenance/access/open/", _form(manager))
    assert response.status_code == 302 and response["Location"] == "/maintenance/access/"
    page = client.get("/maintenance/access/").content.decode()
    token = re.search(r"https://testserver/accounts/enrol/#([\w-]+)", page).group(1)  # type: ignore[union-attr]
    username = re.search(r"<strong>(tech-[\w-]+)</strong>", page).group(1)  # type: ignore[union-attr]
    assert "Fictidépannage sprl" in page and PURPOSE.replace("'", "&#x27;") in page
    assert token not in client.get("/maintenance/access/").content.decode()  # shown once
    assert links.redeem_enrol(token, PASSWORD).username == username
    assert events(resource=WINDOW, action="search")[-1].outcome == "success"


@pytest.mark.parametrize(
    ("duration", "message"),
    [
        ("8:01", "lasts at most 8 hours (asked: 8 h 01)"),
        ("9", "lasts at most 8 hours (asked: 9 h 00)"),
        ("2h", "such as 2:00"),
    ],
)
def test_the_page_refuses_a_window_beyond_8_hours(
    manager: Any, duration: str, message: str
) -> None:
    response = sudo_client(manager).post(
        "/maintenance/access/open/", _form(manager, duration=duration)
    )
    assert response.status_code == 400 and message in response.content.decode()
    assert not MaintenanceWindow.objects.exists()


def test_the_page_lists_open_and_past_windows_and_closes_one(manager: Any) -> None:
    past, current = open_for(manager), open_for(manager, technician="Yannick Fictif")
    elapse(past.uid, dt.timedelta(hours=3))
    _sweep()
    client = sudo_client(manager)
    page = client.get("/maintenance/access/").content.decode()
    assert (
        "Yannick Fictif" in page and "at the end of the window" in page and "<strong>open" in page
    )
    response = client.post("/maintenance/access/close/", {"window": current.uid}, follow=True)
    assert "its account is disabled" in response.content.decode()
    response = client.post("/maintenance/access/close/", {"window": current.uid}, follow=True)
    assert "closed already" in response.content.decode()
    assert window_of(current).closing == "manager"


# --- the technician's whole life, as they live it -----------------------------------------------


def test_the_whole_life_of_a_window(manager: Any, patient: Any) -> None:
    """Opened by the manager; the technician enrols (password, second factor), signs in with two
    factors, records their intervention, is refused every patient page; at the window's end the
    next request is refused; the sweep disables the account, ends its sessions and records the
    closing in the log."""
    manager_browser = sudo_client(manager)
    manager_browser.post("/maintenance/access/open/", _form(manager))
    page = manager_browser.get("/maintenance/access/").content.decode()
    token = re.search(r"/accounts/enrol/#([\w-]+)", page).group(1)  # type: ignore[union-attr]
    username = re.search(r"<strong>(tech-[\w-]+)</strong>", page).group(1)  # type: ignore[union-attr]
    browser = SecureClient()
    enrol = {"token": token, "new_password1": PASSWORD, "new_password2": PASSWORD}
    assert browser.post("/accounts/enrol/", enrol)["Location"] == "/accounts/factors/new/"
    assert browser.get("/maintenance/new/")["Location"] == "/accounts/factors/new/"  # B3 first
    factor_page = browser.get("/accounts/factors/new/").content.decode()
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', factor_page).group(1)  # type: ignore[union-attr]
    factor = re.search(r'name="factor" value="(\d+)"', factor_page).group(1)  # type: ignore[union-attr]
    totp = pyotp.TOTP(secret)
    browser.post("/accounts/factors/new/", {"factor": factor, "name": "Phone", "code": totp.now()})
    browser.post("/accounts/logout/")
    # Two factors, as everyone (B3).
    first = browser.post("/accounts/login/", {"username": username, "password": PASSWORD})
    code = totp.at(time.time() + 30)  # the next code: the enrolment spent this one
    assert browser.post(first["Location"], {"code": code})["Location"] == "/"
    home = browser.get("/").content.decode()
    assert "Your access ends on" in home and 'data-testid="record-intervention"' in home
    recorded = browser.post(
        "/maintenance/new/",
        {
            "intervened_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "intervener": "Xavier Testdepanne", "company": "Fictidépannage sprl",
            "supervisor": manager.pk, "equipment": "Secretum server", "not_workstation": "on",
            "consent": "no", "consent_by": "", "what": "Fictitious: patched the server.",
        },
    )  # fmt: skip
    assert recorded["Location"] == "/"
    technician = get_user_model().objects.get(username=username)
    for url in (
        "/patients/", f"/patients/{patient.uid}/", f"/patients/{patient.uid}/edit/",
        f"/clinical/{patient.uid}/allergy/new/", "/agenda/", f"/agenda/book/{patient.uid}/",
        f"/audit/report/{patient.uid}/",
    ):  # fmt: skip
        assert browser.get(url).status_code == 403, url
    denied = events(actor=technician, outcome="denied")
    assert len(denied) == 7 and {e.resource for e in denied} == {"page"}
    assert not events(actor=technician, patient_ref=patient.uid)
    # The window's end: the next request is refused, the session ended.
    elapse(
        str(MaintenanceWindow.objects.get(account=technician).uid), dt.timedelta(hours=2, minutes=1)
    )
    assert browser.get("/")["Location"].startswith("/accounts/login/")
    again = browser.post("/accounts/login/", {"username": username, "password": PASSWORD})
    assert again.status_code == 200  # refused like a wrong password
    assert "1 closed" in _sweep()
    technician.refresh_from_db()
    assert not technician.is_active
    log = services.list_entries(actor_for(manager))
    whats = [g.current.what for g in log]
    assert "closed at the end of its window" in whats[0]
    assert "Fictitious: patched the server." in whats[1:] and username in " ".join(whats[1:])
    assert {g.current.supervisor for g in log} == {manager.get_full_name()}


# --- the register (K2) --------------------------------------------------------------------------


def _k2() -> Any:
    return evidence.gather(["K2"])["K2"]


def test_the_register_reports_windows_live(manager: Any) -> None:
    found = _k2()
    assert found.met and found.summary.startswith("0 maintenance accesses of outside technicians")
    assert found.details == ("No maintenance access closed yet.",)
    opened = open_for(manager)
    assert _k2().summary.startswith("1 maintenance access of an outside technician open now")
    windows.close_window(actor_for(manager), opened.uid)
    found = _k2()
    assert found.met and "by a manager, before its end" in found.details[0]


@pytest.mark.parametrize(
    "tamper",
    [
        "longer",  # a window stretched in the database
        "unswept",  # the sweep does not run
        "stray",  # a technician's account made past the windows
        "unsupervised",  # an outside intervention without a supervisor, past Secretum
    ],
)
def test_the_register_sees_what_was_done_past_secretum(manager: Any, tamper: str) -> None:
    opened = open_for(manager)
    if tamper == "longer":
        _sql(
            "UPDATE maintenance_maintenancewindow SET ends_at = %s",
            timezone.now() + dt.timedelta(hours=30),
        )
    elif tamper == "unswept":
        elapse(opened.uid, dt.timedelta(hours=3))
    elif tamper == "stray":
        make_user(Role.TECHNICIAN)
    else:
        texts = {"intervener": "Someone", "equipment": "Server", "what": "Past Secretum"}
        flags = {"outside": True, "on_workstation": False, "consent": False}
        services.append_entry(Actor.system(), timezone.now(), texts, flags)
    found = _k2()
    assert not found.met, tamper
    words = {"longer": "more than 8 hours", "unswept": "is `secretum serve` running",
             "stray": "without a window", "unsupervised": "no supervisor"}  # fmt: skip
    assert words[tamper] in found.summary
