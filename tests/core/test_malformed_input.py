"""Malformed input never gives a server error (N2).

A penetration test found HTTP 500s for Unicode digits (a national number, the patient search,
the audit filters, a second-factor code), for dates at the ends of the calendar (the agenda, a
booking, the audit filters, the breach register) and for request bodies that are not a JSON
object in UTF-8 (the WebAuthn endpoints). Each of them is a plain regression test below: a clear
4xx, or the page again with a sentence saying what is expected, and no error in the server log.

Then a property-based test (Hypothesis) walks every URL pattern, as tests/access/test_policy.py
does, with a signed-in client for each role that may use it (sudo mode set, so the view's own
logic is reached), and throws arbitrary text, numbers and dates at every field the view's forms,
its page and its source name, and arbitrary bodies at every endpoint that reads a JSON body. It
asserts that no answer is a 5xx (the test client re-raises any exception a view lets escape).
Derandomised, with a modest number of examples per URL and role, so CI is reproducible and fast.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from importlib import import_module
from typing import Any

import pytest
from django import forms as django_forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from secretum.access import care
from secretum.access.decorators import PUBLIC, declared_permission
from secretum.access.models import GlassBreak
from secretum.access.policy import Role, allows
from secretum.accounts import flow
from secretum.accounts.forms import CodeForm
from secretum.accounts.models import Factor
from secretum.audit.models import AuditEvent
from secretum.breaches import services as breaches
from secretum.clinical import services as clinical
from secretum.clinical.models import MODELS
from secretum.compliance import documents, reports
from secretum.lib import niss
from secretum.patients import services as patients
from secretum.scheduling import services as scheduling
from secretum.scheduling.models import Appointment
from tests.conftest import (
    SecureClient,
    actor_for,
    client_for,
    identity,
    make_user,
)

PASSWORD = "correct horse battery staple 42"  # fictitious (N3)

# --- the penetration test's examples ----------------------------------------------------------

# Unicode digits: "²" passes str.isdigit() but int() refuses it; "١" and "１" are read by int().
VALID_NISS = niss.build(dt.date(1985, 7, 30), 33)  # 85073003328
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
UNICODE_DIGITS = [
    "²²²²²²²²²²²",
    "١٢٣٤٥٦",
    "１２３４５６７８９０１",
    VALID_NISS.translate(ARABIC_INDIC),  # a valid number, written in other digits
    niss.formatted(VALID_NISS).translate(FULL_WIDTH),
]
ODD_DAYS = ["9999-12-31", "0001-01-01", "10000-01-01"]
NOT_AN_OBJECT = [b"[]", b'"x"', b"1", b"null", b"\xff\xfe{}", b"[" * 100_000]
UNICODE_CODES = ["²²²²²²", "١٢٣٤٥٦", "１２３４５６"]


@pytest.fixture
def quiet_log(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[str], None]]:
    """After a request: nothing at ERROR in the server log, and the raw input quoted nowhere."""
    caplog.set_level(logging.INFO)

    def check(raw: str) -> None:
        for record in caplog.records:
            assert record.levelno < logging.ERROR, record.getMessage()
            assert raw not in record.getMessage()
            assert not record.exc_info

    yield check


def _pending(user: Any) -> SecureClient:
    """An anonymous browser that passed the password step for ``user`` (second factor due)."""
    client = SecureClient()
    session = client.session
    session[flow.PENDING] = {"user": user.pk, "at": int(time.time())}
    session.save()
    return client


def _sudo(client: SecureClient, **extra: Any) -> SecureClient:
    """The password and a second factor were given again just now (sudo mode)."""
    session = client.session
    session[flow.REAUTH_AT] = int(time.time())
    session.update(extra)
    session.save()
    return client


@pytest.mark.parametrize("typed", UNICODE_DIGITS)
def test_unicode_digits_in_the_patient_search_are_a_form_error(
    secretary: Any, typed: str, quiet_log: Callable[[str], None]
) -> None:
    response = client_for(secretary).post("/patients/", {"q": typed})
    assert response.status_code == 200
    assert "with the digits 0 to 9" in response.content.decode()
    quiet_log(typed)


@pytest.mark.parametrize("typed", UNICODE_DIGITS)
def test_unicode_digits_in_a_national_number_are_a_form_error(
    secretary: Any, typed: str, quiet_log: Callable[[str], None]
) -> None:
    form = {
        "family_name": "Zorbatova",
        "given_name": "Quilline",
        "birth_date": "1985-07-30",
        "sex": "female",
        "niss": typed,
    }
    before = AuditEvent.objects.filter(action="create", resource="patients.Patient").count()
    response = client_for(secretary).post("/patients/new/", form)
    assert response.status_code == 200
    assert "with the digits 0 to 9" in response.content.decode()
    assert AuditEvent.objects.filter(action="create", resource="patients.Patient").count() == before
    quiet_log(typed)


@pytest.mark.parametrize("typed", UNICODE_DIGITS)
@pytest.mark.parametrize("url", ["/audit/", "/audit/export/", "/audit/report/"])
def test_unicode_digits_in_the_audit_filters_are_no_patient(
    db: Any, url: str, typed: str, quiet_log: Callable[[str], None]
) -> None:
    auditor = client_for(make_user(Role.AUDITOR))
    response = auditor.post(url, {"patient": typed, "format": "csv"})
    assert response.status_code == 200
    if url == "/audit/report/":
        assert "No patient has this national number" in response.content.decode()
    quiet_log(typed)


@pytest.mark.parametrize("day", [*ODD_DAYS, "²⁰²⁶-⁰¹-⁰¹", "31/12/9999"])
def test_an_out_of_range_day_in_the_agenda_is_a_400_with_today(
    secretary: Any, day: str, quiet_log: Callable[[str], None]
) -> None:
    response = client_for(secretary).get("/agenda/", {"day": day})
    assert response.status_code == 400
    assert response.context["day"] == timezone.localdate()
    page = response.content.decode()
    assert "The agenda covers" in page or "Give the day as yyyy-mm-dd" in page
    quiet_log(day)


def test_the_agenda_links_stop_at_the_edges_of_its_window(secretary: Any) -> None:
    first, last = scheduling.agenda_window()
    client = client_for(secretary)
    at_first = client.get("/agenda/", {"day": first.isoformat()})
    at_last = client.get("/agenda/", {"day": last.isoformat()})
    assert at_first.status_code == at_last.status_code == 200
    assert at_first.context["previous"] is None and at_first.context["next"] is not None
    assert at_last.context["next"] is None and at_last.context["previous"] is not None


@pytest.mark.parametrize(
    ("day", "time_of_day", "message"),
    [
        ("9999-12-31", "23:59", "at most five years ahead"),
        ("9999-12-31", "00:00", "at most five years ahead"),
        ("0001-01-01", "00:00", "cannot be booked in the past"),
        ("10000-01-01", "10:00", "Enter a valid date"),
    ],
)
def test_an_out_of_range_booking_day_is_a_form_error(
    practitioner: Any,
    secretary: Any,
    patient: Any,
    day: str,
    time_of_day: str,
    message: str,
    quiet_log: Callable[[str], None],
) -> None:
    form = {"practitioner": practitioner.pk, "day": day, "time": time_of_day, "duration": "15"}
    response = client_for(secretary).post(f"/agenda/book/{patient.uid}/", form)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Appointment.objects.exists()
    quiet_log(day)


def test_a_booking_beyond_the_window_is_refused_by_the_service(
    practitioner: Any, patient: Any
) -> None:
    """N2 in the service too: no caller reaches the arithmetic on the appointment's end."""
    latest = dt.datetime.max.replace(tzinfo=dt.UTC) - dt.timedelta(minutes=1)
    with pytest.raises(ValidationError, match="at most five years ahead"):
        scheduling.book_appointment(
            actor_for(practitioner), patient.uid, practitioner.pk, latest, 60
        )
    with pytest.raises(ValidationError, match="The agenda covers"):
        scheduling.agenda(actor_for(practitioner), dt.date.max)


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("url", ["/audit/", "/audit/export/"])
def test_an_out_of_range_audit_filter_date_is_a_form_error(
    db: Any, url: str, name: str, day: str, quiet_log: Callable[[str], None]
) -> None:
    auditor = client_for(make_user(Role.AUDITOR))
    response = auditor.post(url, {name: day, "format": "csv"})
    assert response.status_code == (200 if url == "/audit/" else 400)
    assert "This date is outside the audit log" in response.content.decode()
    quiet_log(day)


@pytest.mark.parametrize("moment", ["0001-01-01T00:00", "0001-01-01T23:59", "1000-06-01T12:00"])
def test_an_out_of_range_breach_awareness_is_a_form_error(
    manager: Any, moment: str, quiet_log: Callable[[str], None]
) -> None:
    response = client_for(manager).post(
        "/compliance/breaches/new/", {"aware_at": moment, "what_happened": "Fictitious test."}
    )
    assert response.status_code == 200
    assert "within the last ten years" in response.content.decode()
    assert breaches.list_breaches(actor_for(manager)) == []
    quiet_log(moment)


@pytest.mark.parametrize(
    ("step", "field_name"), [("notified", "notified_at"), ("informed", "informed_at")]
)
@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("0001-01-01T00:00", "within the last ten years"),
        ("9999-12-31T23:59", "cannot be in the future|Give the date on which they were informed"),
    ],
)
def test_an_out_of_range_breach_date_is_a_form_error(
    manager: Any,
    step: str,
    field_name: str,
    moment: str,
    expected: str,
    quiet_log: Callable[[str], None],
) -> None:
    uid = breaches.report_breach(
        actor_for(manager), aware_at=timezone.now(), what_happened="Fictitious test."
    )
    response = client_for(manager).post(
        f"/compliance/breaches/{uid}/{step}/", {field_name: moment, "reference": "R", "how": "H"}
    )
    assert response.status_code == 400
    assert re.search(expected, response.content.decode())
    quiet_log(moment)


def test_an_out_of_range_breach_awareness_is_refused_by_the_service(manager: Any) -> None:
    """Year 1 cannot even be converted to UTC to be stored: refused before (N2)."""
    with pytest.raises(ValidationError, match="within the last ten years"):
        breaches.report_breach(
            actor_for(manager),
            aware_at=dt.datetime.min.replace(tzinfo=dt.UTC),
            what_happened="Fictitious test.",
        )


def _webauthn_client(kind: str, user: Any) -> SecureClient:
    return _pending(user) if kind == "verify" else _sudo(client_for(user))


WEBAUTHN = {
    "verify": "/accounts/login/webauthn/",
    "register": "/accounts/factors/webauthn/",
    "reauth": "/accounts/reauth/webauthn/",
}


@pytest.mark.parametrize("body", NOT_AN_OBJECT, ids=lambda b: repr(b[:8]))
@pytest.mark.parametrize("kind", list(WEBAUTHN))
def test_a_webauthn_body_that_is_not_a_json_object_is_a_400(
    practitioner: Any, kind: str, body: bytes, quiet_log: Callable[[str], None]
) -> None:
    client = _webauthn_client(kind, practitioner)
    response = client.post(WEBAUTHN[kind], body, content_type="application/json")
    assert response.status_code == 400
    message = response.json()["error"]
    assert "JSON object" in message or "UTF-8" in message or "nested too deeply" in message
    assert not Factor.objects.filter(user=practitioner, kind=Factor.Kind.WEBAUTHN).exists()
    quiet_log(body[:20].decode("utf-8", "replace"))


@pytest.mark.parametrize(
    ("kind", "body", "expected"),
    [
        ("register", {"credential": [], "name": "Key"}, '"credential" as a JSON object'),
        ("register", {"credential": {}, "name": 1}, '"name" as a JSON string'),
        ("register", {"credential": {}, "name": "a\x00b"}, "Null characters"),
        ("reauth", {"password": None, "credential": {}}, '"password" as a JSON string'),
        ("reauth", {"password": "x", "credential": "x"}, '"credential" as a JSON object'),
    ],
)
def test_a_webauthn_object_without_the_expected_members_is_a_400(
    practitioner: Any, kind: str, body: dict[str, Any], expected: str
) -> None:
    client = _webauthn_client(kind, practitioner)
    response = client.post(WEBAUTHN[kind], json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert expected in response.json()["error"]


def test_a_lone_surrogate_in_a_webauthn_password_is_a_400(practitioner: Any) -> None:
    body = '{"password": "\\ud800", "credential": {}}'
    response = _sudo(client_for(practitioner)).post(
        WEBAUTHN["reauth"], body, content_type="application/json"
    )
    assert response.status_code == 400
    assert "not valid Unicode" in response.json()["error"]


@pytest.mark.parametrize("code", UNICODE_CODES)
def test_unicode_digits_as_a_login_code_are_a_form_error(
    db: Any, code: str, quiet_log: Callable[[str], None]
) -> None:
    user = make_user(Role.PRACTITIONER, password=PASSWORD)
    response = _pending(user).post("/accounts/login/verify/", {"code": code})
    assert response.status_code == 200
    assert "Type the 6 digits your authenticator app shows" in response.content.decode()
    quiet_log(code)


@pytest.mark.parametrize("code", UNICODE_CODES)
@pytest.mark.parametrize("url", ["/accounts/confirm/", "/accounts/unlock/"])
def test_unicode_digits_as_a_reauthentication_code_are_a_form_error(
    db: Any, url: str, code: str, quiet_log: Callable[[str], None]
) -> None:
    """With the right password, so that today's code would reach the TOTP comparison."""
    user = make_user(Role.PRACTITIONER, password=PASSWORD)
    client = client_for(user)
    if url == "/accounts/unlock/":
        session = client.session
        session[flow.LOCKED] = True
        session.save()
    response = client.post(url, {"password": PASSWORD, "code": code})
    assert response.status_code == 200
    assert "Type the 6 digits your authenticator app shows" in response.content.decode()
    quiet_log(code)


@pytest.mark.parametrize("code", UNICODE_CODES)
def test_unicode_digits_when_confirming_an_authenticator_are_refused(db: Any, code: str) -> None:
    user = make_user(Role.PRACTITIONER, factor=False)
    client = client_for(user)
    assert client.get("/accounts/factors/new/").status_code == 200
    factor = Factor.objects.get(user=user, kind=Factor.Kind.TOTP)
    response = client.post("/accounts/factors/new/", {"factor": factor.pk, "code": code})
    assert response.status_code == 200
    assert not Factor.objects.filter(user=user, confirmed=True).exists()


@pytest.mark.parametrize("typed", ["123 456", "123-456", "ABCDE-23456", " abcde 23456 "])
def test_a_second_factor_code_keeps_its_usual_spellings(typed: str) -> None:
    form = CodeForm({"code": typed})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["code"] in ("123456", "abcde23456")


# --- every URL, every role, arbitrary input (Hypothesis) --------------------------------------

# Text a person (or a script) should never be able to turn into a 500.
EDGE_DATES = [*ODD_DAYS, "9999-12-31T23:59", "0001-01-01T00:00", "0001-01-01T23:59", "31/12/9999"]
OTHER_DATES = ["01/01/0001", "0000-00-00", "2024-02-30", "-0001-01-01", "²⁰²⁶-⁰¹-⁰¹"]
EDGE_NUMBERS = ["-1", "0", "-99999999999999999999", "9" * 30, "9" * 5000, "1e999", "NaN", "0x1F"]
NASTY = [
    *UNICODE_DIGITS,
    *UNICODE_CODES,
    *EDGE_DATES,
    *OTHER_DATES,
    *EDGE_NUMBERS,
    "\x00",
    "a\x00b",
    "\x01\x02\x1b[31m",
    "\r\n",
    "\u202e\ufeff",
    "İ",
    "K",
    "//[",
    "http://[",
    "../../etc/passwd",
    "<script>",
    "' OR 1=1 --",
    "%s%n",
    "{}",
    "[]",
    "x" * 10_000,
]


def uniform(values: list[Any]) -> st.SearchStrategy[Any]:
    """One of ``values``, each as likely: Hypothesis' own sampled_from favours the first ones
    (they are "simpler"), and a handful of examples would then try only those."""
    return st.randoms(use_true_random=False).map(lambda r: r.choice(values))


TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
NUMBERS = st.one_of(
    st.integers(), st.integers(min_value=-(10**40), max_value=10**40), st.floats()
).map(str)
ODD_DATES = st.one_of(
    st.dates().map(dt.date.isoformat),
    st.dates().map(lambda d: f"{d.day:02d}/{d.month:02d}/{d.year:04d}"),
    st.datetimes().map(lambda d: d.isoformat(timespec="minutes")),
)
# The penetration test's list is drawn as often as the three generated kinds together.
ANY_VALUE = st.one_of(uniform(NASTY), uniform(NASTY), uniform(NASTY), TEXT, NUMBERS, ODD_DATES)
# What a tester tries first in a field of each type.
DATE_VALUE = st.one_of(*[uniform(EDGE_DATES)] * 3, ODD_DATES, ANY_VALUE)
NUMBER_VALUE = st.one_of(*[uniform(EDGE_NUMBERS)] * 2, NUMBERS, ANY_VALUE)
DIGITS_VALUE = st.one_of(*[uniform(UNICODE_DIGITS)] * 3, ANY_VALUE)
CODE_VALUE = st.one_of(*[uniform(UNICODE_CODES)] * 3, ANY_VALUE)
DATE_NAMES = {"day", "since", "until"}
DIGIT_NAMES = {"niss", "q", "patient", "value"}


def _malformed(name: str, fields: list[django_forms.Field]) -> st.SearchStrategy[Any]:
    """Malformed values for a field, its type's edge cases first."""
    if name in DATE_NAMES or any(
        isinstance(f, django_forms.DateField | django_forms.DateTimeField) for f in fields
    ):
        one = DATE_VALUE
    elif any(isinstance(f, django_forms.IntegerField) for f in fields):
        one = NUMBER_VALUE
    elif name in DIGIT_NAMES:
        one = DIGITS_VALUE
    elif name == "code":
        one = CODE_VALUE
    else:
        one = ANY_VALUE
    return st.one_of(one, one, one, st.lists(one, min_size=2, max_size=3))


# Well-formed values of the fields whose type alone does not say what they take.
GOOD: dict[str, list[str]] = {
    "q": ["zorb", "30/07/1985", niss.formatted(VALID_NISS)],
    "niss": [VALID_NISS, niss.formatted(VALID_NISS)],
    "patient": [VALID_NISS],
    "value": ["70", "120/80", "37,5"],
    "code": ["123456", "abcde-23456", "K86", "weight"],
    "postal_code": ["1000"],
    "next": ["/", "/agenda/"],
    "format": ["csv", "ndjson"],
    "action": ["disable", "enable", "reset-factors", "flag-password", "end-sessions"],
    "decision": ["link"],
    "language": ["fr", "nl", "en"],
    "version": ["1"],
    "day": [dt.date.today().isoformat()],
}
PLAIN = st.from_regex(r"[A-Z][a-z]{1,12}( [A-Za-z0-9]{1,8}){0,3}", fullmatch=True)


class World:
    """Fictitious objects (N3) whose identifiers the URLs take, so the views' logic is reached.
    Each is made the first time a URL needs it (a signed report takes a while to issue)."""

    def __init__(self) -> None:
        self.users = {role: make_user(role, password=PASSWORD) for role in Role}
        self.doctor = actor_for(self.users[Role.PRACTITIONER])
        self.manager = actor_for(self.users[Role.MANAGER])

    @cached_property
    def patient(self) -> str:
        return patients.register_patient(self.doctor, identity()).uid

    @cached_property
    def appointment(self) -> str:
        start = timezone.now() + dt.timedelta(days=1)
        doctor = self.users[Role.PRACTITIONER].pk
        return scheduling.book_appointment(self.doctor, self.patient, doctor, start, 15).uid

    @cached_property
    def entries(self) -> dict[str, str]:
        observation = {"code": "weight", "value": "70"}
        problem = {"system": "icpc-2", "code": "K86", "label": "Fictitious"}
        return {
            "observation": clinical.record_entry(
                self.doctor, self.patient, "observation", observation
            ).uid,
            "problem": clinical.record_entry(self.doctor, self.patient, "problem", problem).uid,
        }

    @cached_property
    def medication(self) -> str:
        """Issue 15: a medication to stop, renew and print as a prescription."""
        drug = {"drug": "Fictitious", "dose": "1", "frequency": "daily", "cnk": "1234567"}
        return str(clinical.record_entry(self.doctor, self.patient, "medication", drug).uid)

    @cached_property
    def breach(self) -> str:
        at = timezone.now() - dt.timedelta(hours=1)
        return breaches.report_breach(self.manager, aware_at=at, what_happened="Fictitious.")

    @cached_property
    def maintenance_entry(self) -> str:
        from secretum.maintenance import services as maintenance
        from secretum.maintenance.entries import Intervention

        at = timezone.now() - dt.timedelta(hours=1)
        done = Intervention(
            at, "Fictitious Tech", "Server", "Fictitious.", on_workstation=False, consent=False
        )
        return maintenance.record_intervention(self.manager, done)

    @cached_property
    def document(self) -> str:
        return documents.attach_document(
            self.manager, "B3", name="evidence.txt", content_type="text/plain", data=b"Test."
        ).uid

    @cached_property
    def report(self) -> str:
        return reports.issue_report(self.manager).uid

    @cached_property
    def grant(self) -> str:
        """An emergency access to the patient by a practitioner without a care relationship."""
        other = actor_for(make_user(Role.PRACTITIONER, password=PASSWORD))
        care.break_the_glass(other, self.patient, "emergency", "Fictitious emergency access.")
        return str(GlassBreak.objects.get().uid)

    @property
    def ids(self) -> list[int]:
        """Primary keys a form may name (users, factors)."""
        return [u.pk for u in self.users.values()] + list(
            Factor.objects.values_list("pk", flat=True)
        )

    def kwarg(self, endpoint: Endpoint, name: str) -> list[str]:
        """Real values for a URL's keyword argument."""
        route = endpoint.route
        if name == "patient":
            return [self.patient]
        if name == "kind":
            return list(self.entries)
        if name == "measure":
            return ["B3", "b3", "E1"]
        if name == "step":
            return ["assess", "notified", "informed", "close", "note"]
        if name == "part":
            return ["pdf", "pdf-sig", "html", "html-sig"]
        if name == "grant":
            return [self.grant]
        if name == "medication" or "medication/<uuid:uid>" in route:
            return [self.medication]
        if name != "uid":
            return []
        if endpoint.app == "scheduling":
            return [self.appointment]
        if endpoint.app == "clinical":
            return list(self.entries.values())
        if "documents/" in route:
            return [self.document]
        if "reports/" in route:
            return [self.report]
        if "breaches/" in route:
            return [self.breach]
        if "maintenance/" in route:
            return [self.maintenance_entry]
        return [self.patient]


@dataclass(frozen=True)
class Endpoint:
    name: str  # namespace:name
    app: str
    route: str  # e.g. "agenda/book/<uuid:patient>/"
    view: Any

    @property
    def permission(self) -> Any:
        return declared_permission(self.view)

    def path(self, kwargs: dict[str, str]) -> str:
        url = "/" + self.route
        for key, value in kwargs.items():
            url = re.sub(rf"<\w+:{key}>", value, url)
        return url

    def kwargs(self) -> list[tuple[str, str]]:
        return re.findall(r"<(\w+):(\w+)>", self.route)


def _endpoints() -> list[Endpoint]:
    found: list[Endpoint] = []

    def walk(patterns: list[Any], route: str, app: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route + str(p.pattern), p.namespace or app)
            elif isinstance(p, URLPattern):
                name = f"{app}:{p.name}" if app != "core" else str(p.name)
                found.append(Endpoint(name, app, route + str(p.pattern), p.callback))

    walk(get_resolver().url_patterns, "", "core")
    return found


ENDPOINTS = _endpoints()
_SOURCE_NAMES = re.compile(
    r"""request\.(?:POST|GET)(?:\.get\(|\[)\s*["'](\w+)["']|_posted_int\(request,\s*["'](\w+)["']"""
)
_PAGE_NAMES = re.compile(r"""<(?:input|select|textarea)\b[^>]*\bname=["']([^"']+)["']""")
_FORMS = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.DOTALL)
_ACTION = re.compile(r"""\baction=["']([^"']*)["']""")


def _source(view: Any) -> str:
    try:
        return inspect.getsource(inspect.unwrap(view))
    except (OSError, TypeError):
        return ""


def _fields_of(form: type[django_forms.BaseForm]) -> dict[str, list[django_forms.Field]]:
    fields = {name: [f] for name, f in form.base_fields.items()}
    if form.__name__ == "EntryForm":  # clinical entries: built from the rules of each kind
        for kind in MODELS:
            for name, f in form(kind).fields.items():  # type: ignore[call-arg]
                fields.setdefault(name, []).append(f)
    return fields


def _view_forms(view: Any) -> list[type[django_forms.BaseForm]]:
    """The form classes a view names, directly, through a module (``forms.DeclarationForm``), a
    table of forms (``BREACH_ACTIONS``) or a helper of its module (``_reauth``, ``_attach``)."""
    found: list[type[django_forms.BaseForm]] = []
    seen: set[Any] = set()
    todo = [inspect.unwrap(view)]
    while todo:
        fn = todo.pop()
        if fn in seen or not hasattr(fn, "__code__"):
            continue
        seen.add(fn)
        names = set(fn.__code__.co_names)
        for name in names:
            value = fn.__globals__.get(name)
            if inspect.ismodule(value):
                candidates = [getattr(value, n, None) for n in names]
            elif isinstance(value, dict):
                candidates = list(value.values())
            else:
                candidates = [value]
            for c in candidates:
                if isinstance(c, type) and issubclass(c, django_forms.BaseForm):
                    found.append(c)
                elif inspect.isfunction(c) and c.__module__ == fn.__module__:
                    todo.append(inspect.unwrap(c))  # a helper of the same module
    return found


def _app_forms(app: str) -> list[type[django_forms.BaseForm]]:
    try:
        module = import_module(f"secretum.{app}.forms")
    except ImportError:
        return []
    return [
        form
        for form in vars(module).values()
        if isinstance(form, type) and issubclass(form, django_forms.BaseForm)
    ]


def _typed(forms: list[type[django_forms.BaseForm]]) -> dict[str, list[django_forms.Field]]:
    """Every field of these forms, by name (a name may belong to several forms)."""
    fields: dict[str, list[django_forms.Field]] = {}
    for form in forms:
        for name, found in _fields_of(form).items():
            fields.setdefault(name, []).extend(found)
    return fields


def _valid_values(name: str, f: django_forms.Field | None, world: World) -> st.SearchStrategy[Any]:
    """Values the field would accept, so that another field's malformed value reaches the
    deeper checks of the view and of its services."""
    good = [*GOOD.get(name, []), *([world.patient] if name == "patient" else [])]
    now = timezone.localtime()
    typed: st.SearchStrategy[Any] = PLAIN
    if isinstance(f, django_forms.DateTimeField):
        typed = st.integers(-400, 5).map(
            lambda h: (now + dt.timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M")
        )
    elif isinstance(f, django_forms.DateField):
        # From a plausible birth date to a day the agenda books.
        typed = st.integers(-40 * 365, 5 * 365).map(
            lambda d: (now.date() + dt.timedelta(days=d)).isoformat()
        )
    elif isinstance(f, django_forms.TimeField):
        typed = st.times().map(lambda t: t.strftime("%H:%M"))
    elif isinstance(f, django_forms.ChoiceField):
        choices = [str(c) for c, _label in getattr(f, "choices", []) if c != ""]
        typed = st.sampled_from(choices + [str(i) for i in world.ids])
    elif isinstance(f, django_forms.IntegerField):
        typed = st.one_of(st.sampled_from(world.ids), st.integers(0, 200)).map(str)
    elif isinstance(f, django_forms.BooleanField):
        typed = st.sampled_from(["on", ""])
    elif isinstance(f, django_forms.FileField):
        typed = st.builds(
            lambda name, data: SimpleUploadedFile(name, data, "text/plain"),
            st.sampled_from(["evidence.txt", "a.pdf", "\u202eexe.txt", "x" * 300]),
            st.binary(min_size=1, max_size=200),
        )
    elif isinstance(f, django_forms.EmailField):
        typed = st.just("quilline@example.invalid")
    elif f is not None and isinstance(f.widget, django_forms.PasswordInput):
        typed = st.just(PASSWORD)
    elif name in ("factor", "session", "user", "identity"):  # primary keys read by the view
        typed = st.sampled_from(world.ids).map(str)
    return st.one_of(st.sampled_from(good), typed) if good else typed


def _input(names: dict[str, list[django_forms.Field]], world: World) -> st.SearchStrategy[Any]:
    """Form data or a query: mostly one malformed value among well-formed ones (how a tester
    probes a form: the rest valid, so the bad value reaches the deeper checks), sometimes
    malformed values anywhere."""
    if not names:
        return st.just({})
    valid = {
        name: st.one_of(*[_valid_values(name, f, world) for f in fields])
        if fields
        else _valid_values(name, None, world)
        for name, fields in names.items()
    }
    bad = {name: _malformed(name, fields) for name, fields in names.items()}

    @st.composite
    def one_bad(draw: st.DrawFn) -> dict[str, Any]:
        wrong = draw(uniform(sorted(names)), label="malformed field")
        data = {}
        for name in sorted(names):
            if name == wrong:
                data[name] = draw(bad[name], label=name)
            elif draw(st.integers(0, 9), label=f"{name} given") > 0:  # one in ten left out
                data[name] = draw(valid[name], label=name)
        return data

    anywhere = st.fixed_dictionaries(
        {}, optional={name: st.one_of(valid[name], bad[name]) for name in names}
    )
    return st.one_of(one_bad(), one_bad(), anywhere)


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)
JSON_MEMBERS = ["credential", "password", "name", "rawId", "id", "response", "type"]


def _json_bodies(world_password: str) -> st.SearchStrategy[bytes]:
    objects = st.dictionaries(
        st.sampled_from(JSON_MEMBERS),
        st.one_of(JSON_VALUES, st.just(world_password), st.sampled_from(NASTY)),
        max_size=5,
    )
    return st.one_of(
        uniform(NOT_AN_OBJECT),
        uniform(NOT_AN_OBJECT),
        objects.map(lambda o: json.dumps(o).encode()),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=80),
        uniform([b"", b"{", b'{"credential": ' * 50, b"1" * 5000, b'{"a": NaN}']),
    )


@dataclass
class Target:
    """One URL for one role: how to reach it, and the names its input may take."""

    endpoint: Endpoint
    role: Role | None  # None: anonymous (a public view)
    fields: dict[str, list[django_forms.Field]]
    query_names: list[str]
    methods: list[str]
    reads_body: bool


def _allowed_methods(view: Any) -> list[str]:
    """GET and/or POST, as the view's require_http_methods decorator says (its list of methods
    is in the closure of the function it returns); both when it has none."""
    fn = view
    while fn is not None:
        for cell in getattr(fn, "__closure__", None) or ():
            value = cell.cell_contents
            if isinstance(value, list) and value and all(m in ("GET", "POST") for m in value):
                return [m.lower() for m in value]
        fn = getattr(fn, "__wrapped__", None)
    return ["get", "post"]


class Browser:
    """A browser for one role, in the state the view serves: signed in and in sudo mode; the
    unlock page with a locked session; the second-factor step with a pending login. Made again
    when an example ended its session (logout, a session ended, an account disabled)."""

    def __init__(self, endpoint: Endpoint, role: Role | None, world: World) -> None:
        self.endpoint, self.role, self.world = endpoint, role, world
        self.client: SecureClient | None = None

    def _alive(self, client: SecureClient) -> bool:
        session = client.session
        if self.role is None:
            return not self.endpoint.name.startswith("accounts:verify") or flow.PENDING in session
        return "_auth_user_id" in session

    def get(self) -> SecureClient:
        if self.client is None or not self._alive(self.client):
            user = self.world.users[Role.PRACTITIONER if self.role is None else self.role]
            if self.role is None:
                public = self.endpoint.name.startswith("accounts:verify")
                self.client = _pending(user) if public else SecureClient()
            else:
                self.client = _sudo(client_for(user))
        if self.endpoint.name == "accounts:unlock":
            _sudo(self.client, **{flow.LOCKED: True})
        return self.client


def _own_form_names(html: str, path: str) -> set[str]:
    """The input names of the page's forms that post to the page itself (no action, or its own
    path): the fields this URL serves, not those of the other forms the page shows."""
    names: set[str] = set()
    for attributes, body in _FORMS.findall(html):
        action = _ACTION.search(attributes)
        if action is None or action.group(1) in ("", path) or action.group(1).startswith("?"):
            names.update(_PAGE_NAMES.findall(body))
    return names


def _targets(endpoint: Endpoint, world: World) -> Iterator[tuple[Target, Browser]]:
    """Each role that may use the URL, with the field names discovered for it: the fields of
    the forms its view names, the inputs of its page's own forms, the names its source reads
    from the request; typed by the fields of its app's forms where the name is one of theirs."""
    permission = endpoint.permission
    roles: list[Role | None] = (
        [None] if permission == PUBLIC else [r for r in Role if allows(r, permission)]
    )
    source = _source(endpoint.view)
    read = {a or b for a, b in _SOURCE_NAMES.findall(source)}
    methods = _allowed_methods(endpoint.view)
    own = _typed(_view_forms(endpoint.view))
    typed = {**_typed(_app_forms(endpoint.app)), **own}
    # An endpoint that reads a JSON body (directly, or through secretum.lib.jsonbody).
    reads_body = "request.body" in source or "jsonbody." in source
    path = endpoint.path({k: world.kwarg(endpoint, k)[0] for _c, k in endpoint.kwargs()})
    for role in roles:
        browser = Browser(endpoint, role, world)
        names = set(read) | set(own)
        if "get" in methods:
            page = browser.get().get(path)
            assert page.status_code < 500, (path, role, page.status_code)
            if page.get("Content-Type", "").startswith("text/html"):
                names |= _own_form_names(page.content.decode(), path)
        names.discard("csrfmiddlewaretoken")
        fields = {name: typed.get(name, []) for name in names}
        query = sorted(read | {"day", "next", "page"})
        yield Target(endpoint, role, fields, query, methods, reads_body), browser


# Examples per URL and role: modest and derandomised, so every run tries the same inputs. Set
# SECRETUM_N2_EXAMPLES to search deeper on a workstation (e.g. 200).
EXAMPLES = int(os.environ.get("SECRETUM_N2_EXAMPLES", "6"))
# Issuing a signed report (a PDF and its signature) takes about a second, and the page posts no
# field: two examples per role there.
EXAMPLES_AT = {"compliance:reports": 2}


def _kwarg_strategy(converter: str, real: list[str]) -> st.SearchStrategy[str]:
    random: st.SearchStrategy[str] = (
        st.uuids().map(str)
        if converter == "uuid"
        else st.from_regex(r"[-a-zA-Z0-9_]{1,24}", fullmatch=True)
    )
    return st.one_of(st.sampled_from(real), st.sampled_from(real), random) if real else random


def _fuzz(target: Target, browser: Browser, world: World) -> None:
    endpoint = target.endpoint
    kwargs = {
        key: _kwarg_strategy(converter, world.kwarg(endpoint, key))
        for converter, key in endpoint.kwargs()
    }
    # The form's own fields; sometimes names it does not expect.
    form = st.one_of(
        *[_input(target.fields, world)] * 3,
        st.dictionaries(TEXT.filter(bool), ANY_VALUE, max_size=2),
    )
    # A page with a form of its own is mostly posted to; the others mostly read.
    posts = target.fields or target.reads_body
    weighted = ["post"] * 3 + ["get"] if posts else ["get"] * 3 + ["post"]
    methods = uniform([m for m in weighted if m in target.methods])
    query = _input(
        {name: target.fields.get(name, []) for name in target.query_names}, world
    ) | st.dictionaries(TEXT.filter(bool), ANY_VALUE, max_size=2)

    @settings(
        max_examples=min(EXAMPLES, EXAMPLES_AT.get(endpoint.name, EXAMPLES)),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
    )
    @given(data=st.data())
    def no_server_error(data: st.DataObject) -> None:
        path = endpoint.path({key: data.draw(s, label=key) for key, s in kwargs.items()})
        method = data.draw(methods, label="method")
        client = browser.get()
        note(f"{endpoint.name} as {target.role}: {method.upper()} {path}")
        if method == "get":
            response = client.get(path, data.draw(query, label="query"))
        elif target.reads_body:  # it reads nothing else
            body = data.draw(_json_bodies(PASSWORD), label="body")
            response = client.post(path, body, content_type="application/json")
        else:
            response = client.post(path, data.draw(form, label="form"))
        if response.streaming:
            b"".join(response.streaming_content)  # an export fails while it streams, if at all
        assert response.status_code < 500

    no_server_error()


@pytest.fixture(autouse=True)
def fast_hashes(settings: Any) -> None:
    """Passwords hashed with a fast algorithm in this file: Argon2 costs a quarter of a second a
    hash, and the fuzzing types the right password often (to reach the second-factor checks)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
def test_no_input_gives_a_server_error(db: Any, endpoint: Endpoint) -> None:
    """N2: arbitrary text, numbers, dates and bodies at every field of every URL, for every
    role that may use it: never a 5xx."""
    world = World()
    for target, browser in _targets(endpoint, world):
        _fuzz(target, browser, world)


def test_every_url_is_walked() -> None:
    """The walk is the site's: a new URL is fuzzed without being listed anywhere."""
    names = {e.name for e in ENDPOINTS}
    assert {
        "patients:search",
        "scheduling:agenda",
        "audit:log",
        "breaches:breach_update",
    } <= names
    assert {
        "accounts:verify_webauthn",
        "accounts:webauthn_register",
        "accounts:reauth_webauthn",
    } <= names
    assert len(ENDPOINTS) >= 60
