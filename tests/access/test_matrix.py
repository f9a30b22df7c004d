"""The access matrix (issue 10; C1, C2, G1): every persona × every URL of the site and every
service function that touches patient data, against ONE table of what each cell must give.

The personas are the roles of ``access/policy.py``, the practitioner three times (with a care
relationship, without one, under a break-the-glass access), the nurse who cares for the patient,
and an anonymous browser. A role added to ``Role`` needs its column (``PERSONAS``):
``test_the_personas_are_the_roles`` fails until it has one.

Each cell declares the outcome (the page served, a refusal 403, a redirect to the login page,
a 404...) and the audit events the call leaves, in order, no more, no less: (action, resource,
outcome, and for a refusal its reason). Rows name the personas the gate lets through; every other
signed-in persona is refused by the middleware (403, one "denied" event naming the reason
"role") and the anonymous browser is sent to the login page (no event), unless the row says
otherwise. The URLs are walked from the resolver and the service functions found in their
modules: a new URL or a new service without a row fails ``test_every_url_has_a_row`` or
``test_every_patient_service_has_a_row``.

Known fictitious values are planted in every class of ``access/classification.py``: each field
of a patient's identity, each medical field of each kind of clinical entry (and an earlier
version of one), an appointment (administrative), and secrets (a TOTP seed, an enrolment token,
recovery codes, a password and its hash, a wrapped data key, a record seal, a blind-index token,
an audit MAC). No answer (its body, a PDF's text, its headers) and no service's return may carry
a value of a class the persona may not read: ``READS`` below, which
``test_reads_follow_the_classification`` ties to ``READ_PERMISSION`` and the role's permissions
(medical data also needs a care relationship or a break-the-glass access). Where a cell must show
a class (the chart shows medical values to the practitioner who cares for the patient), it says
so, so the search for leaks cannot pass by finding nothing anywhere.

Why parametrised cells on a world built once: the world (eight personas, a record with every kind
of entry, an appointment, a break-the-glass access, a breach, a signed report) is built once for
the module inside one transaction that is never committed; each cell runs in a savepoint of it
(pytest-django's ``db``) with a browser of its own, so a POST that logs out, retracts an entry or
cancels the appointment leaves the next cell the same world. One pytest case per cell gives each
failure its own readable name (``secretary-GET-/patients/<uuid>/``) and lets a cell the
application gets wrong be marked ``xfail(strict=True)`` on its own, which a loop per role
collecting failures could not.
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import datetime as dt
import inspect
import io
import json
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.http import Http404
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from secretum.access import care
from secretum.access.actor import AccessDenied, Actor
from secretum.access.classification import READ_PERMISSION, DataClass
from secretum.access.guard import NoCareRelationship
from secretum.access.models import GlassBreak
from secretum.access.policy import ROLE_PERMISSIONS, Role
from secretum.accounts import flow, links
from secretum.accounts import services as accounts
from secretum.accounts.models import Factor
from secretum.audit import services as audit
from secretum.audit.models import NO_CARE as NO_CARE_PROBLEM
from secretum.audit.models import AuditEvent
from secretum.breaches import services as breaches
from secretum.clinical import prescriptions, records
from secretum.clinical import services as clinical
from secretum.clinical.models import MODELS
from secretum.compliance import documents, printing, reports
from secretum.crypto.sealing import Delivery
from secretum.documents import intake, tray
from secretum.documents import services as medical_documents
from secretum.exchange import bulk, fhir_import, moving, practice
from secretum.exchange import services as exchange
from secretum.exchange.kmehr import importer as kmehr_import
from secretum.exchange.report import Format, Report, Secrets
from secretum.letters import services as letters
from secretum.lib import clamav, niss
from secretum.mail import services as mail
from secretum.mail.models import Correspondent
from secretum.mail.transport import TransportRefused
from secretum.maintenance import services as maintenance
from secretum.maintenance import windows
from secretum.maintenance.entries import Intervention
from secretum.maintenance.models import MaintenanceWindow
from secretum.patients import archive, dekrotation
from secretum.patients import services as patients
from secretum.patients.models import Patient, SearchToken
from secretum.retention import services as retention
from secretum.retention.models import ErasureRequest
from secretum.scheduling import services as scheduling
from tests.conftest import TEST_TOTP_SECRET, SecureClient, actor_for, client_for, make_user
from tests.documents.samples import png
from tests.pdf import pdf_text

SECRETUM = Path(__file__).resolve().parents[2] / "secretum"
A, I, M, S = (
    DataClass.ADMINISTRATIVE,
    DataClass.IDENTITY,
    DataClass.MEDICAL,
    DataClass.SECRET,
)
FAST_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"
PASSWORD = "Quz correct horse battery staple 42"  # fictitious (N3)

# --- the personas ------------------------------------------------------------------------------

CARE = "practitioner-care"  # registered the patient: a care relationship (C1)
NO_CARE = "practitioner-nocare"  # the same role, no relationship with this patient
GLASS = "practitioner-glass"  # no relationship, a break-the-glass access running (C1, C2)
NURSE = "nurse-care"  # declared "I take care of this patient" (C1); never breaks the glass
SECRETARY, MANAGER, AUDITOR, MAINTAINER = "secretary", "manager", "auditor", "maintainer"
# K2: an outside technician, enrolled, in a maintenance window a manager opened (``_technician``).
TECHNICIAN = "technician"
ANONYMOUS = "anonymous"
PERSONAS = (
    CARE, NO_CARE, GLASS, NURSE, SECRETARY, MANAGER, AUDITOR, MAINTAINER, TECHNICIAN, ANONYMOUS,
)  # fmt: skip
ROLE_OF = {
    CARE: Role.PRACTITIONER,
    NO_CARE: Role.PRACTITIONER,
    GLASS: Role.PRACTITIONER,
    NURSE: Role.NURSE,
    SECRETARY: Role.SECRETARY,
    MANAGER: Role.MANAGER,
    AUDITOR: Role.AUDITOR,
    MAINTAINER: Role.MAINTAINER,
    TECHNICIAN: Role.TECHNICIAN,
}
PRACTITIONERS = (CARE, NO_CARE, GLASS)
CARING = (CARE, NURSE)  # within a care relationship: the same cells
CLINICIANS = (*PRACTITIONERS, NURSE)  # hold the clinical permissions (C1)
FRONT_DESK = (*CLINICIANS, SECRETARY)
KEEPERS = (*PRACTITIONERS, MANAGER)  # keep the directory of correspondents (M1)
SIGNED_IN = (*FRONT_DESK, MANAGER, AUDITOR, MAINTAINER, TECHNICIAN)
EVERYONE = (*SIGNED_IN, ANONYMOUS)

# What each persona may read of a patient's record (secrets: no one). The classes come from
# READ_PERMISSION and the role's permissions; medical data also needs a basis (C1):
# test_reads_follow_the_classification checks this against both modules.
READS: dict[str, frozenset[DataClass]] = {
    CARE: frozenset({A, I, M}),
    NO_CARE: frozenset({A, I}),
    GLASS: frozenset({A, I, M}),
    NURSE: frozenset({A, I, M}),
    SECRETARY: frozenset({A, I}),
    MANAGER: frozenset(),
    AUDITOR: frozenset(),
    MAINTAINER: frozenset(),
    TECHNICIAN: frozenset(),
    ANONYMOUS: frozenset(),
}

# --- the planted values ----------------------------------------------------------------------
# Fictitious (N3), each a word no page says of its own, so finding one in an answer can only mean
# the record leaked there. Compared without case (a page shows the family name in capitals).

BIRTH = dt.date(1937, 11, 23)
IDENTITY: dict[str, Any] = {
    "family_name": "Quzfamily",
    "given_name": "Quzgiven",
    "birth_date": BIRTH,
    "sex": "female",
    "niss": niss.build(BIRTH, 77),
    "street": "Rue Quzstreet 7",
    "postal_code": "QUZ47",
    "city": "Quzcity",
    "phone": "+32 2 471 17 11",
    "email": "quzmail@example.invalid",
    "insurer": "Quzinsurer",
    "insurer_number": "QUZINS0042",
}
ENTRIES: dict[str, dict[str, str]] = {
    "encounter": {
        "reason": "Quzreason",
        "subjective": "Quzsubjective",
        "objective": "Quzobjective",
        "assessment": "Quzassessment",
        "plan": "Quzplan",
    },
    "problem": {
        "system": "icpc-2",
        "code": "Z99",
        "label": "Quzlabel",
        "onset": "1999-04-17",
        "status": "inactive",
    },
    "allergy": {"substance": "Quzsubstance", "reaction": "Quzreaction", "severity": "moderate"},
    "medication": {
        "drug": "Quzdrug",
        "dose": "Quzdose",
        "frequency": "Quzfrequency",
        "duration": "Quzduration",
        # Issue 15: codes, strength, route, dates, packages (a date as the chart shows it too).
        "cnk": "7345612",
        "atc": "N02BE51",
        "strength": "Quzstrength",
        "route": "rectal",
        "start": "2019-03-05",
        "stop": "2099-07-13",
        "quantity": "3",
        "not_before": "2019-03-08",
    },
    "observation": {"code": "height", "value": "171.3"},  # corrected to 173.9: the history
    "lab": {
        "loinc": "94500-6",
        "test": "Quztest",
        "value": "5.4321",
        "unit": "mmol/L",
        "low": "0.0417",
        "high": "9.8513",
        "taken_on": "2018-02-09",
    },
    "vaccination": {
        "vaccine": "Quzvaccine",
        "lot": "QUZLOT77",
        "given_on": "2019-06-03",
        "dose": "booster",
        "site": "left-thigh",
        "given_by": "Quzgivenby",
    },
}
CORRECTED_HEIGHT = "173.9"
# A field of a few fixed words (sex, an allergy's severity, the kind of an observation, its unit)
# cannot hold a value a page would not also say of its own ("female", "moderate", "cm"): each is
# shown only beside free-text fields of the same record, whose planted values are looked for.
ENUMERATED = {
    "sex", "severity", "code:observation", "unit", "dose:vaccination", "site:vaccination",
    "system:problem", "status:problem", "code:problem", "loinc:lab",
    "route:medication", "quantity:medication",
}  # fmt: skip
# The patient access report (GDPR art. 15) names its patient to the auditor: the name and the
# birth date, nothing else of the record (audit.services.patient_access_report). The auditor
# holds no permission that READ_PERMISSION maps to identity data: a deliberate exception, named
# here for the cells that show it, and reported (issue 10).
NAMES_THE_PATIENT = frozenset({(I, "family_name"), (I, "given_name"), (I, "birth_date")})
GLASS_REASON = "Fictitious: unconscious in the waiting room."
IN_CLEAR = {"delivery": "plain", "delivery_reason": "Fictitious: read by the access matrix."}
DOCUMENT_TITLE = "Quzdoctitle.png"  # a document's name and content are medical (D4)
DOCUMENT_TEXT = "Quzdoccontent"
UNFILED_TITLE = "Quzscantitle.png"  # a scan of the unfiled tray: medical too (D4)
UNFILED_TEXT = "Quzscancontent"
# A finalised referral letter (issue 15): what it says is medical.
LETTER_RECIPIENT = "Quzletterrecipient"
LETTER_QUESTION = "Quzletterquestion"


def _bytes_forms(value: bytes) -> list[str]:
    return [value.hex(), base64.b64encode(value).decode(), base64.urlsafe_b64encode(value).decode()]


@dataclass
class World:
    users: dict[str, Any]
    patient: str
    entries: dict[str, str]  # kind: the uid of its current entry
    appointment: str
    appointment_day: dt.date
    grant: str
    breach: str
    document: str
    report: str
    maintenance: str  # a maintenance log entry (K1)
    medical_document: str  # a document attached to the patient's record (D4)
    unfiled: str  # a scan of the intake's unfiled tray (D4)
    planted: dict[DataClass, dict[str, list[str]]] = field(default_factory=dict)
    letter: str = ""  # a finalised referral letter of the patient (issue 15)
    correspondent: str = ""  # M1: a correspondent whose address was verified (no patient)

    def actor(self, persona: str) -> Actor:
        if persona == ANONYMOUS:
            return Actor(user=AnonymousUser(), role=None, source="127.0.0.1", request_id="test")
        return actor_for(self.users[persona])

    def browser(self, persona: str) -> SecureClient:
        """A browser as the persona: signed in (both factors) and in sudo mode, so that a view's
        own logic is reached; the anonymous one has no session."""
        if persona == ANONYMOUS:
            return SecureClient()
        client = client_for(self.users[persona])
        session = client.session
        session[flow.REAUTH_AT] = int(time.time())
        session.save()
        return client


def _technician(manager: Any) -> Any:
    """K2: an outside technician in a 2-hour window the manager opened now, enrolled (a
    password and an authenticator, as make_user gives everyone else)."""
    opened = windows.open_window(
        actor_for(manager),
        windows.WindowRequest(
            "Fictitious Technician", "Fictitious IT sprl", "Fictitious: update the server.",
            "Server", manager.pk, on_workstation=False, consent=False,
        ),
    )  # fmt: skip
    user = links.redeem_enrol(opened.token, PASSWORD)
    factor = Factor(user=user, kind=Factor.Kind.TOTP, name="Test app", confirmed=True)
    accounts.seal_totp_secret(factor, TEST_TOTP_SECRET)
    factor.save()
    return user


def build_world() -> World:
    users = {p: make_user(ROLE_OF[p], password=PASSWORD) for p in SIGNED_IN if p != TECHNICIAN}
    users[TECHNICIAN] = _technician(users[MANAGER])
    doctor = actor_for(users[CARE])
    uid = patients.register_patient(doctor, IDENTITY).uid  # C1: the doctor takes care of them
    care.declare_care(actor_for(users[NURSE]), uid)  # C1: so does the nurse, declared
    entries = {
        kind: clinical.record_entry(doctor, uid, kind, values).uid
        for kind, values in ENTRIES.items()
    }
    corrected, _patient = clinical.correct_entry(
        doctor, "observation", entries["observation"], {"code": "height", "value": CORRECTED_HEIGHT}
    )
    entries["observation"] = corrected.uid
    for persona in PRACTITIONERS:  # issue 15: each may print a prescription, on a basis
        prescriptions.set_prescriber_number(actor_for(users[persona]), RIZIV)
    # D4: a scan attached to the record, stored as the upload stores one once clamd passed it
    # (the matrix runs no clamd: tests/documents/ prove the scan). A stand-in for the audit
    # event: store names there the record version it counted.
    row, key = patients.open_patient(uid)
    medical_document = str(
        medical_documents.store(
            row, key, SimpleNamespace(detail={}), title=DOCUMENT_TITLE, kind="image/png",
            data=png(DOCUMENT_TEXT),
            verdict=clamav.Verdict(clean=True), author=users[CARE],
        ).uid
    )  # fmt: skip
    letter = letters.create_letter(doctor, uid, "referral", "fr").info.uid
    letters.update_letter(
        doctor, letter, {"recipient": LETTER_RECIPIENT, "reason": "Fictitious.",
                         "question": LETTER_QUESTION},
    )  # fmt: skip
    letters.finalise_letter(doctor, letter)
    unfiled = intake.to_tray(UNFILED_TITLE, png(UNFILED_TEXT), "image/png", clamav.Verdict(True))
    start = (timezone.localtime() + dt.timedelta(days=3)).replace(
        hour=6, minute=47, second=0, microsecond=0
    )
    secretary = actor_for(users[SECRETARY])
    appointment = scheduling.book_appointment(secretary, uid, users[CARE].pk, start, 15).uid
    care.break_the_glass(actor_for(users[GLASS]), uid, "emergency", GLASS_REASON)
    grant = str(GlassBreak.objects.get(practitioner=users[GLASS]).uid)
    manager = actor_for(users[MANAGER])
    breach = breaches.report_breach(
        manager, aware_at=timezone.now() - dt.timedelta(hours=1), what_happened="Fictitious."
    )
    document = documents.attach_document(
        manager, "B3", name="evidence.txt", content_type="text/plain", data=b"Fictitious."
    ).uid
    report = reports.issue_report(manager).uid
    maintenance_entry = maintenance.record_intervention(
        manager,
        Intervention(
            timezone.now() - dt.timedelta(hours=1), "Fictitious Tech", "Server", "Fictitious.",
            on_workstation=False, consent=False,
        ),
    )  # fmt: skip
    # Secrets made once and shown to their owner then, never again.
    _purpose, token = links.issue(manager, users[MAINTAINER].pk, links.Purpose.PASSWORD)
    codes = accounts.new_recovery_codes(users[CARE])
    row = Patient.objects.get(uid=uid)
    search_token = SearchToken.objects.filter(patient=row).first()
    event = AuditEvent.objects.order_by("-seq").first()
    assert search_token is not None and event is not None
    planted: dict[DataClass, dict[str, list[str]]] = {
        I: {
            **{k: [str(v)] for k, v in IDENTITY.items() if k not in ENUMERATED},
            "birth_date": [f"{BIRTH:%d/%m/%Y}", BIRTH.isoformat(), f"{BIRTH:%d.%m.%Y}"],
            "niss": [IDENTITY["niss"], niss.formatted(IDENTITY["niss"])],
        },
        M: {
            **{
                f"{kind}.{name}": [value]
                for kind, values in ENTRIES.items()
                for name, value in values.items()
                if name not in ENUMERATED and f"{name}:{kind}" not in ENUMERATED
            },
            "problem.onset": ["1999-04-17", "17/04/1999"],
            "medication.start": ["2019-03-05", "05/03/2019"],
            "medication.stop": ["2099-07-13", "13/07/2099"],
            "medication.not_before": ["2019-03-08", "08/03/2019"],
            "observation.value": [CORRECTED_HEIGHT],
            "observation.value (earlier version)": [ENTRIES["observation"]["value"]],
            "document.title": [DOCUMENT_TITLE],
            "document.content": [DOCUMENT_TEXT],
            "unfiled.title": [UNFILED_TITLE],
            "unfiled.content": [UNFILED_TEXT],
            "letter.recipient": [LETTER_RECIPIENT],
            "letter.question": [LETTER_QUESTION],
        },
        A: {"appointment.starts_at": [f"{start:%d/%m/%Y %H:%M}", f"{start:%Y-%m-%dT%H:%M}"]},
        S: {
            "accounts.Factor.totp_secret": [TEST_TOTP_SECRET],
            "accounts.EnrolmentToken.token": [token],
            "accounts.RecoveryCode.code": [
                c for code in codes for c in (code, code[:5] + code[6:])
            ],
            "accounts.User.password": [PASSWORD, users[CARE].password],
            "patients.Patient.wrapped_key": _bytes_forms(bytes(row.wrapped_key)),
            "patients.Patient.record_seal": _bytes_forms(bytes(row.record_seal or b"")),
            "patients.SearchToken.token": _bytes_forms(bytes(search_token.token)),
            "audit.AuditEvent.mac": [event.mac],
        },
    }
    return World(
        users, uid, entries, appointment, start.date(), grant, breach, document, report,
        maintenance_entry, medical_document, unfiled, planted, letter,
        correspondent=str(Correspondent.objects.create(
            name="Dr Fictif", kind="lab", email="lab@labo-fictif.example",
            verified_at=timezone.now(),
        ).uid),
    )  # fmt: skip


@pytest.fixture(scope="module")
def world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[World]:
    """The world, built once for the module inside one transaction that is never committed; each
    cell runs in a savepoint of it (the ``db`` fixture) and leaves nothing behind."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            # Argon2 costs a quarter of a second a hash, and no one types these passwords.
            with override_settings(PASSWORD_HASHERS=[FAST_HASHER]):
                built = build_world()
            yield built
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


# --- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ev:
    """An expected audit event. ``reason``: why a refusal was made (the detail's "reason" when the
    page's gate refused, its "problem" when the service did). ``purpose``: checked when given."""

    action: str
    resource: str
    outcome: str = "success"
    reason: str = ""
    purpose: str = ""

    def denied(self, reason: str = "") -> Ev:
        return dataclasses.replace(self, outcome="denied", reason=reason, purpose="")


# Outcomes of a request: the status the view answers with once the gate let it through (200, a
# redirect elsewhere than the login page, 400 for a form it refuses...), or the gate's own
# answers: a refusal, the login page, nothing there.
OK, MOVED, PERMANENT, BAD, SIGNED_OUT, REFUSED, GONE = 200, 302, 301, 400, 401, 403, 404
LOGIN = "login"  # 302 to the login page, with the page asked for as ?next=
# Outcomes of a service call.
RETURNS, REFUSES, NO_BASIS, NOT_FOUND = "returns", "refuses", "no care relationship", "404"

PATIENT = "patients.Patient"
CHART = "clinical.Chart"
APPOINTMENT = "scheduling.Appointment"
ENTRY = "clinical.{Kind}"  # the kind of the URL's entry
MED = "clinical.Medication"
PRESCRIBER = "clinical.Prescriber"
RIZIV = "12345625004"  # fictitious, with its check digits
DOC = "documents.Document"
UNFILED = "documents.UnfiledDocument"
TRAY = frozenset({(M, "unfiled.title"), (M, "unfiled.content")})  # no one's record yet (D4)
ERASURE = "retention.ErasureRequest"
CERTIFICATE = "retention.DestructionCertificate"
BTG = "break-the-glass"  # the purpose of what a practitioner does under a break-the-glass access
ARCHIVING = "archive"  # the purpose of what a practitioner does under an archive grant (J1)
GRANT = "access.GlassBreak"
LETTER = "letters.Letter"
FINALISED = (
    "ValidationError ['A finalised letter is kept as it is: correct it with a new version.']"
)
CORR = "mail.Correspondent"
MESSAGE = "mail.Message"


@dataclass(frozen=True)
class Cell:
    outcome: int | str
    events: tuple[Ev, ...] = ()
    shows: frozenset[DataClass] = frozenset()  # classes the answer must show (not vacuous)
    also: frozenset[tuple[DataClass, str]] = frozenset()  # fields shown beyond READS, by design
    xfail: str = ""  # the application gets this cell wrong: why (reported, issue 10)


def gives(outcome: int | str = OK, *events: Ev, shows: Iterable[DataClass] = (), **kw: Any) -> Cell:
    return Cell(outcome, events, frozenset(shows), **kw)


@dataclass(frozen=True)
class Row:
    cells: dict[str, Cell]
    data: Callable[[World, str], dict[str, Any]] | None = None  # the form posted, the query sent


def row(*given: Any, data: Callable[[World, str], dict[str, Any]] | None = None) -> Row:
    """Pairs of (personas, cell), later ones overriding earlier ones."""
    cells: dict[str, Cell] = {}
    for who, cell in zip(given[::2], given[1::2], strict=True):
        for persona in (who,) if isinstance(who, str) else who:
            cells[persona] = cell
    return Row(cells, data)


def _identity_form(**changes: str) -> dict[str, str]:
    form = {
        "family_name": "Zorbatova", "given_name": "Quilline", "birth_date": "1971-03-14",
        "sex": "female", "niss": "", "street": "", "postal_code": "", "city": "", "phone": "",
        "email": "", "insurer": "", "insurer_number": "",
    }  # fmt: skip
    return {**form, **changes}


NEW_VALUES: dict[str, dict[str, str]] = {
    "encounter": {"reason": "Fictitious follow-up"},
    "problem": {"system": "icpc-2", "code": "K86", "label": "Fictitious"},
    "allergy": {"substance": "Fictitious", "severity": "mild"},
    "medication": {"drug": "Fictitious", "dose": "1", "frequency": "daily", "duration": "7 days"},
    "observation": {"code": "weight", "value": "70"},
    "lab": {"loinc": "2345-7", "value": "99", "taken_on": "2026-01-05"},
    "vaccination": {
        "vaccine": "Fictitious",
        "lot": "F1",
        "given_on": "2026-01-05",
        "dose": "1",
        "site": "oral",
    },
}


def _booking(w: World, kind: str) -> dict[str, Any]:
    day = w.appointment_day + dt.timedelta(days=1)
    return {"practitioner": w.users[CARE].pk, "day": day, "time": "10:00", "duration": "15"}


MAINTENANCE_LOG = "maintenance.MaintenanceEntry"


def _intervention() -> dict[str, str]:
    """A maintenance log entry as the form posts it: on a workstation, with its user's consent."""
    return {
        "intervened_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "intervener": "Fictitious Tech", "company": "", "supervisor": "",
        "equipment": "Reception computer", "consent": "yes", "consent_by": "Fictitious User",
        "what": "Fictitious: replaced a keyboard.",
    }  # fmt: skip


WINDOWS = "maintenance.MaintenanceWindow"


def _window_form(w: World) -> dict[str, Any]:
    """K2: a maintenance window as the manager's form posts it: 2 hours from now."""
    return {
        "technician": "Fictitious Technician", "company": "Fictitious IT sprl",
        "purpose": "Fictitious: replace the server's disk.", "equipment": "Server",
        "supervisor": w.users[MANAGER].pk, "starts_at": "", "duration": "2:00",
        "not_workstation": "on", "consent": "no", "consent_by": "",
    }  # fmt: skip


# fmt: off
URLS: dict[tuple[str, str], Row] = {
    ("GET", "home"): row(SIGNED_IN, gives()),
    ("GET", "healthz"): row(EVERYONE, gives()),
    ("GET", "favicon"): row(EVERYONE, gives(PERMANENT)),
    ("GET", "set_language"): row(EVERYONE, gives(MOVED)),
    ("POST", "set_language"): row(EVERYONE, gives(MOVED)),
    # The login, its second step and the enrolment links are public; signed in, one goes home.
    ("GET", "accounts:login"): row(SIGNED_IN, gives(MOVED), ANONYMOUS, gives()),
    ("POST", "accounts:login"): row(SIGNED_IN, gives(MOVED), ANONYMOUS, gives()),
    ("GET", "accounts:verify"): row(EVERYONE, gives(MOVED)),  # no password step: back to it
    ("POST", "accounts:verify"): row(EVERYONE, gives(MOVED)),
    ("POST", "accounts:verify_webauthn_options"): row(EVERYONE, gives(SIGNED_OUT)),
    ("POST", "accounts:verify_webauthn"): row(EVERYONE, gives(SIGNED_OUT)),
    ("GET", "accounts:enrol"): row(EVERYONE, gives()),
    ("POST", "accounts:enrol"): row(EVERYONE, gives()),
    ("GET", "accounts:enrol_factors"): row(EVERYONE, gives()),
    ("POST", "accounts:enrol_factors"): row(EVERYONE, gives()),
    ("GET", "accounts:enrol_password"): row(EVERYONE, gives()),
    ("POST", "accounts:enrol_password"): row(EVERYONE, gives()),
    # No identity provider is set up here: its pages do not exist.
    ("GET", "accounts:oidc_start"): row(EVERYONE, gives(GONE)),
    ("GET", "accounts:oidc_callback"): row(EVERYONE, gives(GONE)),
    ("POST", "accounts:oidc_complete"): row(EVERYONE, gives(GONE)),
    ("GET", "accounts:oidc_link"): row(SIGNED_IN, gives(GONE)),
    ("GET", "accounts:oidc_link_confirm"): row(SIGNED_IN, gives(MOVED)),
    ("POST", "accounts:oidc_link_confirm"): row(SIGNED_IN, gives(MOVED)),
    ("POST", "accounts:oidc_unlink"): row(SIGNED_IN, gives(MOVED)),
    ("POST", "accounts:logout"): row(SIGNED_IN, gives(MOVED, Ev("logout", "session"))),
    ("GET", "accounts:enrol_factor"): row(SIGNED_IN, gives()),
    ("POST", "accounts:enrol_factor"): row(SIGNED_IN, gives()),
    ("POST", "accounts:webauthn_register_options"): row(SIGNED_IN, gives()),
    ("POST", "accounts:webauthn_register"): row(SIGNED_IN, gives(BAD)),
    ("POST", "accounts:factor_remove"): row(SIGNED_IN, gives(MOVED)),
    ("POST", "accounts:factor_rename"): row(SIGNED_IN, gives(MOVED)),
    ("GET", "accounts:recovery_codes"): row(SIGNED_IN, gives()),
    ("POST", "accounts:recovery_codes"): row(
        SIGNED_IN, gives(OK, Ev("create", "accounts.RecoveryCode")),  # new ones, shown once
    ),
    ("GET", "accounts:password"): row(SIGNED_IN, gives()),
    ("POST", "accounts:password"): row(SIGNED_IN, gives()),
    ("GET", "accounts:charter"): row(SIGNED_IN, gives(MOVED)),  # no charter to accept: home
    ("POST", "accounts:charter"): row(SIGNED_IN, gives(MOVED)),
    ("GET", "accounts:unlock"): row(SIGNED_IN, gives(MOVED)),  # not locked: home
    ("POST", "accounts:unlock"): row(SIGNED_IN, gives(MOVED)),
    ("GET", "accounts:confirm"): row(SIGNED_IN, gives()),
    ("POST", "accounts:confirm"): row(SIGNED_IN, gives()),
    ("POST", "accounts:reauth_webauthn_options"): row(SIGNED_IN, gives()),
    ("POST", "accounts:reauth_webauthn"): row(SIGNED_IN, gives(BAD)),
    ("POST", "accounts:ping"): row(SIGNED_IN, gives()),
    # E1, issue 16: the draft a page sends as it locks is JSON; a form-encoded body is refused.
    ("POST", "accounts:draft"): row(SIGNED_IN, gives(BAD)),
    ("GET", "accounts:factors"): row(SIGNED_IN, gives()),
    ("POST", "accounts:session_end"): row(SIGNED_IN, gives(MOVED)),
    # The manager's pages (B1, B2).
    ("GET", "accounts:users"): row(MANAGER, gives()),
    ("POST", "accounts:user_create"): row(MANAGER, gives(MOVED)),
    ("POST", "accounts:user_role"): row(MANAGER, gives(MOVED)),  # C2: no user named, nothing done
    ("GET", "accounts:permissions"): row(MANAGER, gives()),
    ("POST", "accounts:user_action"): row(MANAGER, gives(MOVED)),
    ("GET", "accounts:settings"): row(MANAGER, gives()),
    ("POST", "accounts:settings"): row(MANAGER, gives()),
    ("POST", "accounts:charter_publish"): row(MANAGER, gives(MOVED)),
    # Patients (C1): the front desk reads and writes identities; the chart needs a basis.
    ("GET", "patients:search"): row(FRONT_DESK, gives()),
    ("POST", "patients:search"): row(
        FRONT_DESK, gives(OK, Ev("search", PATIENT), shows={I}),
        data=lambda w, k: {"q": IDENTITY["family_name"]},
    ),
    ("GET", "patients:register"): row(FRONT_DESK, gives()),
    ("POST", "patients:register"): row(
        FRONT_DESK, gives(MOVED, Ev("create", PATIENT)), data=lambda w, k: _identity_form(),
    ),
    ("GET", "patients:detail"): row(
        # The chart lists the record's documents (D4) and appointments within its own read
        # (issue 17: one event per page).
        CARING, gives(OK, Ev("read", CHART), shows={A, I, M}),
        GLASS, gives(OK, Ev("read", CHART, purpose=BTG), shows={A, I, M}),
        # C1: the identity, and the ways into the record; the refusal says why.
        NO_CARE, gives(OK, Ev("read", CHART).denied(NO_CARE_PROBLEM), Ev("read", PATIENT),
                       shows={A, I}),
        SECRETARY, gives(OK, Ev("read", PATIENT), shows={A, I}),
    ),
    ("GET", "patients:edit"): row(FRONT_DESK, gives(OK, Ev("read", PATIENT), shows={I})),
    # J1: the world's patient is active: opening it "from the archive" or restoring it is
    # refused after the gate, audited as a failure, said on the patient's page (the archived
    # cells: tests/patients/test_archive.py, tests/audit/test_events_per_url.py).
    ("POST", "patients:archive_open"): row(
        PRACTITIONERS, gives(MOVED, Ev("open-archived", GRANT, "failure", purpose=ARCHIVING)),
        data=lambda w, k: {"reason": GLASS_REASON},
    ),
    ("POST", "patients:restore"): row(
        PRACTITIONERS, gives(MOVED, Ev("restore", PATIENT, "failure")),
        data=lambda w, k: {"reason": GLASS_REASON},
    ),
    ("POST", "patients:edit"): row(
        FRONT_DESK, gives(MOVED, Ev("update", PATIENT)),
        data=lambda w, k: _identity_form(family_name="Quzfamily", city="Otherville"),
    ),
    # Clinical entries, one row per URL, one cell per kind of entry.
    ("GET", "clinical:new"): row(CLINICIANS, gives(OK, Ev("read", PATIENT), shows={I})),
    ("POST", "clinical:new"): row(
        CARING, gives(MOVED, Ev("create", ENTRY)),
        GLASS, gives(MOVED, Ev("create", ENTRY, purpose=BTG)),
        NO_CARE, gives(REFUSED, Ev("create", ENTRY).denied(NO_CARE_PROBLEM)),
        data=lambda w, k: NEW_VALUES[k],
    ),
    ("GET", "clinical:correct"): row(
        CARING, gives(OK, Ev("read", ENTRY), shows={M}),
        GLASS, gives(OK, Ev("read", ENTRY, purpose=BTG), shows={M}),
        NO_CARE, gives(REFUSED, Ev("read", ENTRY).denied(NO_CARE_PROBLEM)),
    ),
    ("POST", "clinical:correct"): row(
        CARING, gives(MOVED, Ev("update", ENTRY)),
        GLASS, gives(MOVED, Ev("update", ENTRY, purpose=BTG)),
        NO_CARE, gives(REFUSED, Ev("update", ENTRY).denied(NO_CARE_PROBLEM)),
        data=lambda w, k: NEW_VALUES[k],
    ),
    ("POST", "clinical:retract"): row(
        CARING, gives(MOVED, Ev("retract", ENTRY)),
        GLASS, gives(MOVED, Ev("retract", ENTRY, purpose=BTG)),
        NO_CARE, gives(REFUSED, Ev("retract", ENTRY).denied(NO_CARE_PROBLEM)),
    ),
    # Issue 15: ICD-10 suggestions for the problem form, the classification's own list: no
    # patient data, nothing audited; for those who record problems.
    ("GET", "clinical:icd10"): row(CLINICIANS, gives(), data=lambda w, k: {"q": "asthma"}),
    # Issue 15: a medication stopped by any carer; renewed and printed by a practitioner, who
    # sets their own RIZIV/INAMI number (not patient data: no basis needed).
    ("POST", "clinical:stop"): row(
        CARING, gives(MOVED, Ev("update", MED)),
        GLASS, gives(MOVED, Ev("update", MED, purpose=BTG)),
        NO_CARE, gives(REFUSED, Ev("update", MED).denied(NO_CARE_PROBLEM)),
    ),
    ("POST", "clinical:renew"): row(
        CARE, gives(MOVED, Ev("create", MED)),
        GLASS, gives(MOVED, Ev("create", MED, purpose=BTG)),
        NO_CARE, gives(REFUSED, Ev("create", MED).denied(NO_CARE_PROBLEM)),
    ),
    ("GET", "clinical:prescriber"): row(PRACTITIONERS, gives()),
    ("POST", "clinical:prescriber"): row(
        PRACTITIONERS, gives(MOVED, Ev("update", PRESCRIBER)), data=lambda w, k: {"riziv": RIZIV},
    ),
    ("GET", "clinical:history"): row(
        CARING, gives(OK, Ev("read", ENTRY), shows={M}),
        GLASS, gives(OK, Ev("read", ENTRY, purpose=BTG), shows={M}),
        NO_CARE, gives(REFUSED, Ev("read", ENTRY).denied(NO_CARE_PROBLEM)),
    ),
    # Documents (D4, E2): medical, within a basis. The upload posted is no document of an
    # allowed type: refused after the gate, audited as a failure (the upload itself is proven
    # with a real clamd in tests/documents/).
    ("GET", "documents:attach"): row(CLINICIANS, gives(OK, Ev("read", PATIENT), shows={I})),
    ("POST", "documents:attach"): row(
        CARING, gives(BAD, Ev("create", DOC, "failure"), Ev("read", PATIENT), shows={I}),
        GLASS, gives(BAD, Ev("create", DOC, "failure", purpose=BTG), Ev("read", PATIENT),
                     shows={I}),
        NO_CARE, gives(REFUSED, Ev("create", DOC).denied(NO_CARE_PROBLEM)),
        data=lambda w, k: {"document": SimpleUploadedFile("x.pdf", b"<html>Fictitious</html>")},
    ),
    ("GET", "documents:show"): row(
        CARING, gives(OK, Ev("read", DOC), shows={M}),
        GLASS, gives(OK, Ev("read", DOC, purpose=BTG), shows={M}),
        NO_CARE, gives(REFUSED, Ev("read", DOC).denied(NO_CARE_PROBLEM)),
    ),
    # E7, M3: GET asks how the file leaves (nothing read); POST hands it out, in clear here.
    ("GET", "documents:download"): row(CLINICIANS, gives()),
    ("POST", "documents:download"): row(
        CARING, gives(OK, Ev("export", DOC), shows={M}),
        GLASS, gives(OK, Ev("export", DOC, purpose=BTG), shows={M}),
        NO_CARE, gives(REFUSED, Ev("export", DOC).denied(NO_CARE_PROBLEM)),
        data=lambda w, k: IN_CLEAR,
    ),
    # The patient's copy (GDPR art. 15/20; L1, E7): the practitioner's, within a basis; the
    # answer carries the record encrypted only (no planted value in clear), one export event.
    ("GET", "exchange:patient_copy"): row(PRACTITIONERS, gives(OK, Ev("read", PATIENT), shows={I})),
    ("POST", "exchange:patient_copy"): row(
        CARE, gives(OK, Ev("export", CHART)),
        GLASS, gives(OK, Ev("export", CHART, purpose=BTG)),
        NO_CARE, gives(REFUSED, Ev("export", CHART).denied(NO_CARE_PROBLEM)),
        data=lambda w, k: {"recipient": ""},
    ),
    # M1: the directory of correspondents (no patient data), kept by the practitioners and the
    # manager; a code typed while none was sent is refused after the gate.
    ("GET", "mail:correspondents"): row(KEEPERS, gives(OK, Ev("search", CORR))),
    ("POST", "mail:correspondents"): row(
        KEEPERS, gives(MOVED, Ev("create", CORR)),
        data=lambda w, k: {"name": "Dr Quzcorr", "kind": "lab", "email": "quz@labo.example"},
    ),
    ("GET", "mail:verify"): row(KEEPERS, gives(OK, Ev("read", CORR))),
    ("POST", "mail:verify"): row(
        KEEPERS, gives(BAD, Ev("update", CORR, "failure"), Ev("read", CORR)),
        data=lambda w, k: {"action": "confirm", "code": "AAAAAAAA"},
    ),
    # M1, M3: a patient's document sent by mail, the practitioner's, within a basis. The review
    # names the recipient, the patient and the file (the sending itself is proven against a real
    # SMTP server in tests/mail/); without a basis the document is not read.
    ("GET", "mail:send_document"): row(PRACTITIONERS, gives(OK, Ev("search", CORR))),
    ("POST", "mail:send_document"): row(
        CARE, gives(OK, Ev("search", CORR), Ev("read", DOC), Ev("read", PATIENT),
                    shows={I, M}),
        GLASS, gives(OK, Ev("search", CORR), Ev("read", DOC, purpose=BTG), Ev("read", PATIENT),
                     shows={I, M}),
        NO_CARE, gives(REFUSED, Ev("search", CORR), Ev("read", DOC).denied(NO_CARE_PROBLEM)),
        data=lambda w, k: {"step": "review", "correspondent": w.correspondent},
    ),
    # A finalised letter (issue 15) the same way: its PDF made by the letter's own service (one
    # export event; a certificate as the employer's copy).
    ("GET", "mail:send_letter"): row(PRACTITIONERS, gives(OK, Ev("search", CORR))),
    ("POST", "mail:send_letter"): row(
        CARE, gives(OK, Ev("search", CORR), Ev("export", LETTER), Ev("read", PATIENT),
                    shows={I}),
        GLASS, gives(OK, Ev("search", CORR), Ev("export", LETTER, purpose=BTG),
                     Ev("read", PATIENT), shows={I}),
        NO_CARE, gives(REFUSED, Ev("search", CORR), Ev("export", LETTER).denied(NO_CARE_PROBLEM)),
        data=lambda w, k: {"step": "review", "correspondent": w.correspondent},
    ),
    # The unfiled tray (D4): the intake's scans that named no patient, medical, for the
    # clinicians; filing one to the patient needs a basis for that patient. A scan of the tray
    # is no one's record yet: a clinician without a basis for the matrix's patient reads it too,
    # by design (someone must read it to know whose it is), each look audited.
    ("GET", "documents:unfiled"): row(
        CLINICIANS, gives(OK, Ev("search", UNFILED), shows={M}, also=TRAY),
    ),
    ("GET", "documents:unfiled_show"): row(
        CLINICIANS, gives(OK, Ev("read", UNFILED), shows={M}, also=TRAY),
    ),
    ("GET", "documents:unfiled_file"): row(
        CLINICIANS, gives(OK, Ev("read", UNFILED), shows={M}, also=TRAY),
    ),
    ("POST", "documents:unfiled_file"): row(
        CARING, gives(MOVED, Ev("create", DOC)),
        GLASS, gives(MOVED, Ev("create", DOC, purpose=BTG)),
        NO_CARE, gives(REFUSED, Ev("create", DOC).denied(NO_CARE_PROBLEM)),
        data=lambda w, k: {"patient": w.patient},
    ),
    # Letters and certificates (issue 15; C1, C3): medical, within a basis; the secretary is
    # refused every page (the middleware: no medical permission). The world's letter is
    # finalised: an edit or a second finalising is refused after the gate, audited as a failure.
    ("GET", "letters:list"): row(
        CARING, gives(OK, Ev("search", LETTER), shows={I}),
        GLASS, gives(OK, Ev("search", LETTER, purpose=BTG), shows={I}),
        NO_CARE, gives(REFUSED, Ev("search", LETTER).denied(NO_CARE_PROBLEM)),
    ),
    ("POST", "letters:new"): row(
        CARING, gives(MOVED, Ev("read", CHART), Ev("create", LETTER)),
        GLASS, gives(MOVED, Ev("read", CHART, purpose=BTG), Ev("create", LETTER, purpose=BTG)),
        NO_CARE, gives(REFUSED, Ev("create", LETTER).denied(NO_CARE_PROBLEM)),
        data=lambda w, k: {"kind": "referral", "language": "fr"},
    ),
    ("GET", "letters:letter"): row(
        CARING, gives(OK, Ev("read", LETTER), shows={I, M}),
        GLASS, gives(OK, Ev("read", LETTER, purpose=BTG), shows={I, M}),
        NO_CARE, gives(REFUSED, Ev("read", LETTER).denied(NO_CARE_PROBLEM)),
    ),
    ("POST", "letters:letter"): row(
        CARING, gives(MOVED, Ev("update", LETTER, "failure")),
        GLASS, gives(MOVED, Ev("update", LETTER, "failure", purpose=BTG)),
        NO_CARE, gives(REFUSED, Ev("update", LETTER).denied(NO_CARE_PROBLEM)),
        data=lambda w, k: {"reason": "Fictitious change.", "question": "?"},
    ),
    # Finalising is signing (CLINICAL_SIGN): a practitioner's, never the nurse's.
    ("POST", "letters:finalise"): row(
        CARE, gives(MOVED, Ev("update", LETTER, "failure")),
        GLASS, gives(MOVED, Ev("update", LETTER, "failure", purpose=BTG)),
        NO_CARE, gives(REFUSED, Ev("update", LETTER).denied(NO_CARE_PROBLEM)),
    ),
    ("POST", "letters:correct"): row(
        CARING, gives(MOVED, Ev("create", LETTER)),
        GLASS, gives(MOVED, Ev("create", LETTER, purpose=BTG)),
        NO_CARE, gives(REFUSED, Ev("create", LETTER).denied(NO_CARE_PROBLEM)),
    ),
    # Printed as a summary is (P1): one print event naming the print log row.
    ("POST", "letters:print"): row(
        CARING, gives(OK, Ev("print", LETTER), shows={I, M}),
        GLASS, gives(OK, Ev("print", LETTER, purpose=BTG), shows={I, M}),
        NO_CARE, gives(REFUSED, Ev("print", LETTER).denied(NO_CARE_PROBLEM)),
    ),
    # The agenda: administrative data and the patient's name, for the front desk.
    ("GET", "scheduling:agenda"): row(
        FRONT_DESK, gives(OK, Ev("search", APPOINTMENT), shows={I}),
        data=lambda w, k: {"day": w.appointment_day.isoformat()},
    ),
    ("GET", "scheduling:book"): row(FRONT_DESK, gives(OK, Ev("read", PATIENT), shows={I})),
    ("POST", "scheduling:book"): row(
        FRONT_DESK, gives(MOVED, Ev("create", APPOINTMENT)), data=_booking,
    ),
    ("POST", "scheduling:cancel"): row(FRONT_DESK, gives(MOVED, Ev("update", APPOINTMENT))),
    # The auditor's reads (D2): each is itself an event.
    ("GET", "audit:log"): row(AUDITOR, gives(OK, Ev("search", "audit.AuditEvent"))),
    ("POST", "audit:log"): row(
        AUDITOR, gives(OK, Ev("search", "audit.AuditEvent")),
        data=lambda w, k: {"patient": w.patient},
    ),
    # E7, M3: a file leaves encrypted by default; in clear here, so that the table reads in it
    # what each persona may see (the encryption itself: tests/exchange/test_delivery.py).
    ("POST", "audit:export"): row(
        AUDITOR, gives(OK, Ev("export", "audit.AuditEvent")),
        data=lambda w, k: {"patient": w.patient, "format": "csv", **IN_CLEAR},
    ),
    ("GET", "audit:report_search"): row(AUDITOR, gives()),
    ("POST", "audit:report_search"): row(
        AUDITOR, gives(OK, Ev("read", "audit.AccessReport"), also=NAMES_THE_PATIENT, shows={I}),
        data=lambda w, k: {"patient": IDENTITY["niss"]},
    ),
    ("GET", "audit:report"): row(
        AUDITOR, gives(OK, Ev("read", "audit.AccessReport"), also=NAMES_THE_PATIENT, shows={I}),
    ),
    ("GET", "audit:report_pdf"): row(AUDITOR, gives()),  # how it leaves (E7): nothing read
    ("POST", "audit:report_pdf"): row(
        AUDITOR, gives(OK, Ev("print", "audit.AccessReport"), also=NAMES_THE_PATIENT, shows={I}),
        data=lambda w, k: IN_CLEAR,
    ),
    ("GET", "audit:alerts"): row(AUDITOR, gives(OK, Ev("search", "audit.Alert"))),
    # The measures register (L3) and the yearly access review (C2).
    ("GET", "compliance:register"): row((MANAGER, AUDITOR), gives()),
    ("POST", "compliance:profile"): row(MANAGER, gives(MOVED)),
    ("GET", "compliance:report"): row((MANAGER, AUDITOR), gives()),
    ("GET", "compliance:measure"): row((MANAGER, AUDITOR), gives()),
    ("POST", "compliance:declare"): row(MANAGER, gives(BAD)),
    ("POST", "compliance:review"): row(MANAGER, gives(MOVED)),
    ("POST", "compliance:withdraw"): row(MANAGER, gives(MOVED)),
    ("POST", "compliance:attach"): row(MANAGER, gives(BAD)),
    ("GET", "compliance:document"): row((MANAGER, AUDITOR), gives()),  # how it leaves (E7)
    ("POST", "compliance:document"): row(
        (MANAGER, AUDITOR), gives(OK, Ev("read", "compliance.EvidenceDocument")),
        data=lambda w, k: IN_CLEAR,
    ),
    ("GET", "compliance:access_review"): row(MANAGER, gives()),
    ("POST", "compliance:access_review"): row(MANAGER, gives()),
    ("GET", "compliance:reports"): row((MANAGER, AUDITOR), gives()),
    ("POST", "compliance:reports"): row(
        (MANAGER, AUDITOR), gives(MOVED, Ev("export", "compliance.Report")),
    ),
    ("GET", "compliance:public_key"): row((MANAGER, AUDITOR), gives()),
    ("GET", "compliance:report_file"): row((MANAGER, AUDITOR), gives()),  # how it leaves (E7)
    ("POST", "compliance:report_file"): row(
        (MANAGER, AUDITOR), gives(OK, Ev("export", "compliance.Report")),
        data=lambda w, k: IN_CLEAR,
    ),
    # A printed summary (P1, C3): the identity, and the medical summary for who may read it.
    # GET asks how it leaves (E7, M3), nothing read; POST makes it, in clear here (see above).
    ("GET", "compliance:print_patient"): row(FRONT_DESK, gives()),
    ("POST", "compliance:print_patient"): row(
        CARING, gives(OK, Ev("read", CHART), Ev("print", CHART), shows={I, M}),
        # The print event's purpose is not checked: it says "care" where the chart it prints was
        # read under the emergency access (reported, issue 10).
        GLASS, gives(OK, Ev("read", CHART, purpose=BTG), Ev("print", CHART), shows={I, M}),
        SECRETARY, gives(OK, Ev("read", PATIENT), Ev("print", PATIENT), shows={I}),
        # The patient's page offers this practitioner the identity and "Print a summary": the
        # identity-only summary, as the secretary's (C1, C3).
        NO_CARE, gives(OK, Ev("read", PATIENT),
                       Ev("print", PATIENT), shows={I}),
        data=lambda w, k: IN_CLEAR,
    ),
    # Issue 15: a prescription printed (P1, C3) by a practitioner on a basis, logged as a print.
    ("POST", "compliance:print_prescription"): row(
        CARE, gives(OK, Ev("read", MED), Ev("print", MED), shows={I, M}),
        GLASS, gives(OK, Ev("read", MED, purpose=BTG), Ev("print", MED, purpose=BTG),
                     shows={I, M}),
        NO_CARE, gives(REFUSED, Ev("print", MED).denied(NO_CARE_PROBLEM)),
    ),
    # The maintenance log (K1, E3, K2): the manager and the IT maintainer write, the auditor reads.
    ("GET", "maintenance:log"): row(
        (MANAGER, AUDITOR, MAINTAINER), gives(OK, Ev("search", MAINTENANCE_LOG))
    ),
    # K2: the outside technician records their intervention, but neither reads nor corrects.
    ("GET", "maintenance:new"): row((MANAGER, MAINTAINER, TECHNICIAN), gives()),
    ("POST", "maintenance:new"): row(
        (MANAGER, MAINTAINER, TECHNICIAN), gives(MOVED, Ev("maintenance", MAINTENANCE_LOG)),
        data=lambda w, k: _intervention(),
    ),
    ("GET", "maintenance:correct"): row(
        (MANAGER, MAINTAINER), gives(OK, Ev("read", MAINTENANCE_LOG)),
        TECHNICIAN, gives(REFUSED, Ev("read", MAINTENANCE_LOG).denied()),
    ),
    ("POST", "maintenance:correct"): row(
        (MANAGER, MAINTAINER), gives(MOVED, Ev("maintenance", MAINTENANCE_LOG)),
        TECHNICIAN, gives(REFUSED, Ev("maintenance", MAINTENANCE_LOG).denied()),
        data=lambda w, k: {**_intervention(), "reason": "Fictitious correction."},
    ),
    ("GET", "maintenance:export"): row((MANAGER, AUDITOR, MAINTAINER), gives()),
    ("POST", "maintenance:export"): row(
        (MANAGER, AUDITOR, MAINTAINER), gives(OK, Ev("export", MAINTENANCE_LOG)),
        data=lambda w, k: IN_CLEAR,
    ),
    # K2: the outside technicians' maintenance windows, the manager's (opening: an account, its
    # link, the window; closing the technician's early: the account disabled, the window).
    ("GET", "maintenance:windows"): row(MANAGER, gives(OK, Ev("search", WINDOWS))),
    ("POST", "maintenance:window_open"): row(
        MANAGER, gives(MOVED, Ev("create", "accounts.User"),
                       Ev("update", "accounts.EnrolmentToken"), Ev("maintenance", WINDOWS)),
        data=lambda w, k: _window_form(w),
    ),
    ("POST", "maintenance:window_close"): row(
        MANAGER, gives(MOVED, Ev("update", "accounts.User"), Ev("maintenance", WINDOWS)),
        data=lambda w, k: {
            "window": str(MaintenanceWindow.objects.get(account=w.users[TECHNICIAN]).uid)
        },
    ),
    # J2: records due for destruction (the manager decides, the auditor reads), the erasure
    # request a practitioner records; the world's patient is within retention: refused, audited.
    ("GET", "retention:due"): row((MANAGER, AUDITOR), gives(OK, Ev("search", PATIENT))),
    ("POST", "retention:destroy"): row(
        MANAGER, gives(MOVED, Ev("delete", PATIENT, outcome="failure")),
        data=lambda w, k: {"confirm": "on"},
    ),
    ("GET", "retention:erasure"): row(PRACTITIONERS, gives()),
    # Only who takes care of the patient records one: an emergency access is no such basis.
    ("POST", "retention:erasure"): row(
        CARE, gives(MOVED, Ev("create", ERASURE)),
        (NO_CARE, GLASS), gives(REFUSED, Ev("create", ERASURE, outcome="failure")),
        data=lambda w, k: {"basis": "art17-1d-unlawful", "confirm": "on"},
    ),
    ("GET", "retention:certificates"): row(
        (MANAGER, AUDITOR), gives(OK, Ev("search", CERTIFICATE))
    ),
    # No record of the world is destroyed: each certificate's URL answers 404, audited.
    ("GET", "retention:certificate"): row(
        (MANAGER, AUDITOR), gives(GONE, Ev("read", CERTIFICATE, outcome="failure"))
    ),
    ("GET", "retention:text"): row((MANAGER, AUDITOR), gives()),  # how it leaves (E7)
    ("POST", "retention:text"): row(
        (MANAGER, AUDITOR), gives(GONE, Ev("read", CERTIFICATE, outcome="failure"))
    ),
    ("GET", "retention:signature"): row(
        (MANAGER, AUDITOR), gives(GONE, Ev("read", CERTIFICATE, outcome="failure"))
    ),
    # The breach register (D3): everyone reports, the manager and the auditor read it.
    ("GET", "breaches:help"): row(SIGNED_IN, gives()),
    ("GET", "breaches:breaches"): row((MANAGER, AUDITOR), gives()),
    ("GET", "breaches:breach_report"): row(
        SIGNED_IN, gives(), TECHNICIAN, gives(REFUSED, Ev("read", "page").denied("role")),
    ),
    ("POST", "breaches:breach_report"): row(
        SIGNED_IN, gives(MOVED, Ev("create", "breaches.Breach")),
        TECHNICIAN, gives(REFUSED, Ev("update", "page").denied("role")),
        data=lambda w, k: {
            "aware_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "what_happened": "Fictitious: a laptop left on a train.",
        },
    ),
    ("GET", "breaches:breach"): row(
        (MANAGER, AUDITOR), gives(OK, Ev("read", "breaches.Breach")),
    ),
    ("GET", "breaches:breach_drafts"): row(
        (MANAGER, AUDITOR), gives(OK, Ev("read", "breaches.Breach")),
    ),
    ("POST", "breaches:breach_update"): row(
        MANAGER, gives(MOVED, Ev("update", "breaches.Breach")),
        data=lambda w, k: {"note": "Fictitious note."},
    ),
    # The ways into a record (C1) and their review (C2).
    ("POST", "access:declare"): row(
        CLINICIANS, gives(MOVED, Ev("create", "access.CareRelationship")),
    ),
    # The form names the patient (an identity read) before the record is opened.
    ("GET", "access:glass"): row(PRACTITIONERS, gives(OK, Ev("read", PATIENT), shows={I})),
    ("POST", "access:glass"): row(
        PRACTITIONERS, gives(MOVED, Ev("break-the-glass", "access.GlassBreak", purpose=BTG)),
        data=lambda w, k: {"category": "emergency", "reason": GLASS_REASON},
    ),
    ("GET", "access:reviews"): row(AUDITOR, gives(OK, Ev("read", "access.GlassBreak"))),
    ("POST", "access:review"): row(
        AUDITOR, gives(MOVED, Ev("review", "access.GlassBreak")),
        data=lambda w, k: {"justified": "yes", "comment": ""},
    ),
    ("GET", "access:policy"): row(MANAGER, gives()),
    ("POST", "access:policy"): row(
        MANAGER, gives(MOVED, Ev("update", "access.AccessPolicy")),
        data=lambda w, k: {"shared_record": "no", "relationship_months": 18, "glass_hours": 4},
    ),
}
# fmt: on


def _refused_by_page(method: str) -> Cell:
    return gives(REFUSED, Ev("read" if method == "GET" else "update", "page").denied("role"))


def url_cell(method: str, name: str, persona: str) -> Cell:
    """The table's cell; the personas a row does not name are refused by the middleware (403,
    one event) or, anonymous, sent to the login page (no event)."""
    found = URLS[(method, name)].cells.get(persona)
    if found is not None:
        return found
    return gives(LOGIN) if persona == ANONYMOUS else _refused_by_page(method)


# --- the service functions --------------------------------------------------------------------


def _flat(value: Any) -> str:
    """Everything a service returned, as text: the fields of its objects, dates as pages show
    them, a PDF's text, an export's lines."""
    if isinstance(value, bytes):
        return _readable(value)
    if isinstance(value, dt.datetime):
        local = timezone.localtime(value) if timezone.is_aware(value) else value
        return f"{local:%Y-%m-%dT%H:%M} {local:%d/%m/%Y %H:%M}"
    if isinstance(value, dt.date):
        return f"{value.isoformat()} {value:%d/%m/%Y}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return " ".join(_flat(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return " ".join(f"{_flat(k)} {_flat(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset | Iterator):
        return " ".join(_flat(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class Service:
    call: Callable[[World, Actor], Any]
    cells: dict[str, Cell]


def service(
    call: Callable[[World, Actor], Any], done: Ev, who: Iterable[str], *given: Any
) -> Service:
    """The personas ``who`` get ``done`` (the call returns); every other one is refused by the
    gate (AccessDenied, the same event denied: the gate names no reason for a role it refuses,
    where the middleware says "role"; reported, issue 10); then pairs of (personas, cell) as in
    ``row``."""
    cells = {p: gives(RETURNS, done) for p in who}
    cells.update({p: gives(REFUSES, done.denied()) for p in PERSONAS if p not in who})
    cells.update(row(*given).cells)
    return Service(call, cells)


def _destroy(w: World, actor: Actor) -> Any:
    """J2: the world's patient, made destroyable by an erasure request planted past the service
    (no event, sealed as the service seals it), then destroyed as ``actor``."""
    ErasureRequest(
        patient=Patient.objects.get(uid=w.patient), basis="art17-1d-unlawful",
        recorded_by=w.users[CARE],
    ).save()  # fmt: skip
    return retention.destroy_record(actor, w.patient)


def _without_server(call: Callable[[], Any]) -> str:
    """The call, with no mail server in this world: the transport's refusal, as text."""
    try:
        call()
    except TransportRefused as refused:
        return str(refused)
    raise AssertionError("sent without a mail server")


FHIR_PATIENT = {
    "resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1971-03-14",
    "name": [{"use": "official", "family": "Zorbatova", "given": ["Quilline"]}],
}  # fmt: skip


def _bundle_file() -> Path:
    """One fictitious patient's FHIR Bundle, in clear, as a file to import."""
    path = Path(tempfile.mkdtemp()) / "bundle.json"
    entry = {"fullUrl": "urn:uuid:p1", "resource": FHIR_PATIENT}
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [entry]}))
    return path


def _bulk_folder() -> Path:
    """The same patient as a Bulk Data folder in clear: its NDJSON and its manifest."""
    from tests.exchange.bulkdata import write_folder

    return write_folder(Path(tempfile.mkdtemp()) / "bulk", {"Patient": [FHIR_PATIENT]})


def _in_days(n: int, hour: int) -> dt.datetime:
    return (timezone.localtime() + dt.timedelta(days=n)).replace(hour=hour, minute=0)


OBS = "clinical.Observation"
NEW_PATIENT = {"family_name": "Zorbatova", "given_name": "Quilline", "birth_date": "1971-03-14"}
UPDATED = {**IDENTITY, "city": "Otherville"}


def _obs(w: World) -> str:
    return w.entries["observation"]


def _no_basis(event: Ev) -> Cell:
    return gives(NO_BASIS, event.denied(NO_CARE_PROBLEM))


def _under_glass(event: Ev, **kw: Any) -> Cell:
    return gives(RETURNS, dataclasses.replace(event, purpose=BTG), **kw)


# Each row: the call, the event of a call that goes through, the personas it goes through for;
# then the cells that differ, as pairs of (personas, cell).
# fmt: off
SERVICES: dict[str, Service] = {
    # Identities (C1): the front desk.
    "patients.services.register_patient": service(
        lambda w, a: patients.register_patient(a, NEW_PATIENT),
        Ev("create", PATIENT), FRONT_DESK,
    ),
    "patients.services.update_patient": service(
        lambda w, a: patients.update_patient(a, w.patient, UPDATED),
        Ev("update", PATIENT), FRONT_DESK,
        FRONT_DESK, gives(RETURNS, Ev("update", PATIENT), shows={I}),
    ),
    "patients.services.access_patient": service(
        lambda w, a: patients.access_patient(a, w.patient),
        Ev("read", PATIENT), FRONT_DESK,
        FRONT_DESK, gives(RETURNS, Ev("read", PATIENT), shows={I}),
    ),
    "patients.services.search_patients": service(
        lambda w, a: patients.search_patients(a, IDENTITY["family_name"]),
        Ev("search", PATIENT), FRONT_DESK,
        FRONT_DESK, gives(RETURNS, Ev("search", PATIENT), shows={I}),
    ),
    # Medical records (C1): practitioners, within a basis.
    "clinical.services.access_chart": service(
        lambda w, a: clinical.access_chart(a, w.patient),
        Ev("read", CHART), CLINICIANS,
        CARING, gives(RETURNS, Ev("read", CHART), shows={I, M}),
        GLASS, _under_glass(Ev("read", CHART), shows={I, M}),
        NO_CARE, _no_basis(Ev("read", CHART)),
    ),
    "clinical.services.record_entry": service(
        lambda w, a: clinical.record_entry(a, w.patient, "allergy", NEW_VALUES["allergy"]),
        Ev("create", "clinical.Allergy"), CLINICIANS,
        GLASS, _under_glass(Ev("create", "clinical.Allergy")),
        NO_CARE, _no_basis(Ev("create", "clinical.Allergy")),
    ),
    # Only the patient's reference, to go back to the chart: no event; a 404 for other roles.
    "clinical.services.entry_patient": Service(
        lambda w, a: clinical.entry_patient(a, "observation", _obs(w)),
        row(EVERYONE, gives(NOT_FOUND), CLINICIANS, gives(RETURNS)).cells,
    ),
    "clinical.services.access_entry": service(
        lambda w, a: clinical.access_entry(a, "observation", _obs(w)),
        Ev("read", OBS), CLINICIANS,
        CARING, gives(RETURNS, Ev("read", OBS), shows={M}),
        GLASS, _under_glass(Ev("read", OBS), shows={M}),
        NO_CARE, _no_basis(Ev("read", OBS)),
    ),
    "clinical.services.correct_entry": service(
        lambda w, a: clinical.correct_entry(a, "observation", _obs(w), NEW_VALUES["observation"]),
        Ev("update", OBS), CLINICIANS,
        GLASS, _under_glass(Ev("update", OBS)),
        NO_CARE, _no_basis(Ev("update", OBS)),
    ),
    "clinical.services.retract_entry": service(
        lambda w, a: clinical.retract_entry(a, "observation", _obs(w)),
        Ev("retract", OBS), CLINICIANS,
        GLASS, _under_glass(Ev("retract", OBS)),
        NO_CARE, _no_basis(Ev("retract", OBS)),
    ),
    "clinical.services.entry_history": service(
        lambda w, a: clinical.entry_history(a, "observation", _obs(w)),
        Ev("read", OBS), CLINICIANS,
        CARING, gives(RETURNS, Ev("read", OBS), shows={M}),  # the earlier version too
        GLASS, _under_glass(Ev("read", OBS), shows={M}),
        NO_CARE, _no_basis(Ev("read", OBS)),
    ),
    "clinical.records.acknowledge_alteration": service(
        lambda w, a: records.acknowledge_alteration(a, w.patient, "Fictitious: examined, kept."),
        Ev("update", PATIENT), CLINICIANS,
        GLASS, _under_glass(Ev("update", PATIENT)),
        NO_CARE, _no_basis(Ev("update", PATIENT)),
    ),
    # Documents (D4): medical, within a basis; an empty file is refused after the gate.
    "documents.services.attach_document": service(
        lambda w, a: medical_documents.attach_document(a, w.patient, name="x.pdf", data=b""),
        Ev("create", DOC), (),
        CLINICIANS, gives("ValidationError ['The file is empty.']", Ev("create", DOC, "failure")),
        GLASS, gives("ValidationError ['The file is empty.']",
                     Ev("create", DOC, "failure", purpose=BTG)),
        NO_CARE, _no_basis(Ev("create", DOC)),
    ),
    # A message from another package kept as it came (exchange/kmehr: what the importer did not
    # understand): a write of the record, within a basis.
    "documents.services.keep_received": service(
        lambda w, a: medical_documents.keep_received(
            a, w.patient, name="m.xml", data=b"<kmehrmessage/>", verdict=clamav.Verdict(True)
        ),
        Ev("create", DOC), CLINICIANS,
        GLASS, _under_glass(Ev("create", DOC)),
        NO_CARE, _no_basis(Ev("create", DOC)),
    ),
    "documents.services.patient_documents": service(
        lambda w, a: medical_documents.patient_documents(a, w.patient),
        Ev("search", DOC), CLINICIANS,
        CARING, gives(RETURNS, Ev("search", DOC), shows={M}),
        GLASS, _under_glass(Ev("search", DOC), shows={M}),
        NO_CARE, _no_basis(Ev("search", DOC)),
    ),
    "documents.services.open_document": service(
        lambda w, a: medical_documents.open_document(a, w.medical_document),
        Ev("read", DOC), CLINICIANS,
        CARING, gives(RETURNS, Ev("read", DOC), shows={M}),
        GLASS, _under_glass(Ev("read", DOC), shows={M}),
        NO_CARE, _no_basis(Ev("read", DOC)),
    ),
    # The unfiled tray (D4): clinicians; filing needs a basis for the patient it goes to.
    "documents.tray.unfiled_documents": service(
        lambda w, a: tray.unfiled_documents(a), Ev("search", UNFILED), CLINICIANS,
        CLINICIANS, gives(RETURNS, Ev("search", UNFILED), shows={M}, also=TRAY),
    ),
    "documents.tray.unfiled_document": service(
        lambda w, a: tray.unfiled_document(a, w.unfiled), Ev("read", UNFILED), CLINICIANS,
        CLINICIANS, gives(RETURNS, Ev("read", UNFILED), shows={M}, also=TRAY),
    ),
    "documents.tray.open_unfiled": service(
        lambda w, a: tray.open_unfiled(a, w.unfiled), Ev("read", UNFILED), CLINICIANS,
        CLINICIANS, gives(RETURNS, Ev("read", UNFILED), shows={M}, also=TRAY),
    ),
    "documents.tray.resolve_patient": service(
        lambda w, a: tray.resolve_patient(a, IDENTITY["niss"]), Ev("search", PATIENT), FRONT_DESK,
    ),
    "documents.tray.file_unfiled": service(
        lambda w, a: tray.file_unfiled(a, w.unfiled, w.patient), Ev("create", DOC), CARING,
        GLASS, _under_glass(Ev("create", DOC)),
        NO_CARE, _no_basis(Ev("create", DOC)),
    ),
    # The patient's record leaving, encrypted (L1, E7): the practitioner's, within a basis; the
    # nurse reads the chart but does not hand the record out.
    "exchange.services.export_patient": service(
        lambda w, a: exchange.export_patient(a, w.patient, io.BytesIO()),
        Ev("export", CHART), (CARE,),
        GLASS, _under_glass(Ev("export", CHART)),
        NO_CARE, _no_basis(Ev("export", CHART)),
    ),
    # The chart's copy (GDPR art. 15): the PDF beside the Bundle, one export event for both;
    # in clear here, so that what it returns is read (the page's row: encrypted).
    "exchange.services.patient_copy": service(
        lambda w, a: exchange.patient_copy(
            a, w.patient, Delivery.choose(plain_reason="read by the access matrix"), language="en"
        ),
        Ev("export", CHART), (CARE,),
        CARE, gives(RETURNS, Ev("export", CHART), shows={I, M}),
        GLASS, _under_glass(Ev("export", CHART), shows={I, M}),
        NO_CARE, _no_basis(Ev("export", CHART)),
    ),
    # A SumEHR from another package (issue 14): a clinician's write; the file is read after the
    # gate (here an empty one, refused after it, audited); the patient's basis is checked once
    # the message names them (tests/exchange/test_kmehr*.py).
    "exchange.kmehr.importer.import_sumehr": service(
        lambda w, a: kmehr_import.import_sumehr(a, b"", source_name="m.xml"),
        Ev("create", "exchange.Import"), (),
        CLINICIANS, gives("ValidationError ['The file is empty.']",
                          Ev("create", "exchange.Import", "failure")),
    ),
    # Letters and certificates (issue 15): medical, within a basis. The world's letter is
    # finalised: an edit or a second finalising is refused after the gate, audited.
    "letters.services.patient_letters": service(
        lambda w, a: letters.patient_letters(a, w.patient),
        Ev("search", LETTER), CLINICIANS,
        CARING, gives(RETURNS, Ev("search", LETTER), shows={I}),
        GLASS, _under_glass(Ev("search", LETTER), shows={I}),
        NO_CARE, _no_basis(Ev("search", LETTER)),
    ),
    "letters.services.access_letter": service(
        lambda w, a: letters.access_letter(a, w.letter),
        Ev("read", LETTER), CLINICIANS,
        CARING, gives(RETURNS, Ev("read", LETTER), shows={I, M}),
        GLASS, _under_glass(Ev("read", LETTER), shows={I, M}),
        NO_CARE, _no_basis(Ev("read", LETTER)),
    ),
    "letters.services.create_letter": service(
        lambda w, a: letters.create_letter(a, w.patient, "report", "en"),
        Ev("create", LETTER), CLINICIANS,
        GLASS, _under_glass(Ev("create", LETTER)),
        NO_CARE, _no_basis(Ev("create", LETTER)),
    ),
    "letters.services.update_letter": service(
        lambda w, a: letters.update_letter(a, w.letter, {"reason": "Fictitious."}),
        Ev("update", LETTER), (),
        CLINICIANS, gives(FINALISED, Ev("update", LETTER, "failure")),
        GLASS, gives(FINALISED, Ev("update", LETTER, "failure", purpose=BTG)),
        NO_CARE, _no_basis(Ev("update", LETTER)),
    ),
    "letters.services.finalise_letter": service(
        lambda w, a: letters.finalise_letter(a, w.letter),
        Ev("update", LETTER), (),
        PRACTITIONERS, gives(FINALISED, Ev("update", LETTER, "failure")),
        GLASS, gives(FINALISED, Ev("update", LETTER, "failure", purpose=BTG)),
        NO_CARE, _no_basis(Ev("update", LETTER)),
    ),
    "letters.services.correct_letter": service(
        lambda w, a: letters.correct_letter(a, w.letter),
        Ev("create", LETTER), CLINICIANS,
        CARING, gives(RETURNS, Ev("create", LETTER), shows={I, M}),
        GLASS, _under_glass(Ev("create", LETTER), shows={I, M}),
        NO_CARE, _no_basis(Ev("create", LETTER)),
    ),
    "letters.services.print_letter": service(
        lambda w, a: letters.print_letter(a, w.letter),
        Ev("print", LETTER), CLINICIANS,
        CARING, gives(RETURNS, Ev("print", LETTER), shows={I, M}),
        GLASS, _under_glass(Ev("print", LETTER), shows={I, M}),
        NO_CARE, _no_basis(Ev("print", LETTER)),
    ),
    # The PDF a sending path takes (the secure mail): one export event; the path encrypts it.
    "letters.services.letter_document": service(
        lambda w, a: letters.letter_document(a, w.letter),
        Ev("export", LETTER), CLINICIANS,
        CARING, gives(RETURNS, Ev("export", LETTER), shows={I, M}),
        GLASS, _under_glass(Ev("export", LETTER), shows={I, M}),
        NO_CARE, _no_basis(Ev("export", LETTER)),
    ),
    # M1: the directory of correspondents, no patient data: practitioners and the manager. The
    # code is sent by a transport this world has no server for (refused, audited as a failure:
    # tests/mail/ proves it against a real one); none is waiting to be confirmed.
    "mail.services.directory": service(
        lambda w, a: mail.directory(a), Ev("search", CORR), KEEPERS,
    ),
    "mail.services.correspondent": service(
        lambda w, a: mail.correspondent(a, w.correspondent), Ev("read", CORR), KEEPERS,
    ),
    "mail.services.add_correspondent": service(
        lambda w, a: mail.add_correspondent(a, name="Dr Quz", kind="lab", email="q@lab.example"),
        Ev("create", CORR), KEEPERS,
    ),
    "mail.services.send_verification": service(
        lambda w, a: _without_server(lambda: mail.send_verification(a, w.correspondent)),
        Ev("send", CORR, "failure"), KEEPERS,
        KEEPERS, gives(RETURNS, Ev("send", CORR, "failure")),
    ),
    "mail.services.confirm_verification": service(
        lambda w, a: mail.confirm_verification(a, w.correspondent, "AAAAAAAA"),
        Ev("update", CORR), (),
        KEEPERS, gives("ValidationError ['No valid code is waiting: send a new one.']",
                       Ev("update", CORR, "failure")),
    ),
    # M1, M3: a patient's document to a correspondent: the role first (a nurse never reads the
    # document for it), then the document within a basis, then the send (refused here for want
    # of a server, audited as a failure).
    "mail.services.document_source": service(
        lambda w, a: mail.document_source(a, w.medical_document),
        Ev("read", DOC), CLINICIANS,
        CARING, gives(RETURNS, Ev("read", DOC), shows={M}),
        GLASS, _under_glass(Ev("read", DOC), shows={M}),
        NO_CARE, _no_basis(Ev("read", DOC)),
    ),
    "mail.services.letter_source": service(
        lambda w, a: mail.letter_source(a, w.letter),
        Ev("export", LETTER), CLINICIANS,
        CARING, gives(RETURNS, Ev("export", LETTER), shows={I, M}),
        GLASS, _under_glass(Ev("export", LETTER), shows={I, M}),
        NO_CARE, _no_basis(Ev("export", LETTER)),
    ),
    # L1, L2: the whole practice out, records in: the instance's owner at the console, no role
    # (PRACTICE_MOVE); each call is refused at the gate before it writes or reads a record.
    "exchange.bulk.export_practice": service(
        lambda w, a: bulk.export_practice(a, Path(tempfile.mkdtemp())),
        Ev("export", "clinical.Practice"), (),
    ),
    "exchange.practice.export_practice": service(
        lambda w, a: practice.export_practice(a, Path(tempfile.mkdtemp())),
        Ev("export", "clinical.Practice"), (),
    ),
    "exchange.moving.export_test": service(
        lambda w, a: moving.export_test(a, {}), Ev("export", "clinical.Practice"), ()
    ),
    "clinical.services.import_record": service(
        lambda w, a: clinical.import_record(a, NEW_PATIENT, [], {}),
        Ev("create", CHART), (),
    ),
    "exchange.fhir_import.import_patient": service(
        lambda w, a: fhir_import.import_patient(
            a, "here", FHIR_PATIENT, [], {}, Report(Format.FHIR_BUNDLE), {}, {}
        ),
        Ev("create", CHART), (),
    ),
    "exchange.fhir_import.import_bundle": service(
        lambda w, a: fhir_import.import_bundle(a, _bundle_file(), Secrets(), {}),
        Ev("create", CHART), (),
    ),
    "exchange.fhir_import.import_bulk": service(
        lambda w, a: fhir_import.import_bulk(a, _bulk_folder(), Secrets(), {}),
        Ev("create", CHART), (),
    ),
    "mail.services.review_sending": service(
        lambda w, a: mail.review_sending(a, "document", w.medical_document, w.correspondent),
        Ev("read", MESSAGE), (),
        CARE, gives(RETURNS, Ev("read", DOC), Ev("read", PATIENT), shows={I, M}),
        GLASS, gives(RETURNS, Ev("read", DOC, purpose=BTG), Ev("read", PATIENT), shows={I, M}),
        NO_CARE, _no_basis(Ev("read", DOC)),
    ),
    "mail.services.send": service(
        lambda w, a: _without_server(
            lambda: mail.send(a, "document", w.medical_document, w.correspondent)
        ),
        Ev("send", MESSAGE), (),
        CARE, gives(RETURNS, Ev("read", DOC), Ev("send", MESSAGE, "failure")),
        GLASS, gives(RETURNS, Ev("read", DOC, purpose=BTG),
                     Ev("send", MESSAGE, "failure", purpose=BTG)),
        NO_CARE, _no_basis(Ev("read", DOC)),
    ),
    # Appointments: administrative data and the patient's name, for the front desk.
    "scheduling.services.book_appointment": service(
        lambda w, a: scheduling.book_appointment(
            a, w.patient, w.users[CARE].pk, _in_days(5, 10), 15
        ),
        Ev("create", APPOINTMENT), FRONT_DESK,
    ),
    "scheduling.services.agenda": service(
        lambda w, a: scheduling.agenda(a, w.appointment_day),
        Ev("search", APPOINTMENT), FRONT_DESK,
        FRONT_DESK, gives(RETURNS, Ev("search", APPOINTMENT), shows={A, I}),
    ),
    "scheduling.services.patient_appointments": service(
        lambda w, a: scheduling.patient_appointments(a, w.patient),
        Ev("search", APPOINTMENT), FRONT_DESK,
        FRONT_DESK, gives(RETURNS, Ev("search", APPOINTMENT), shows={A, I}),
    ),
    # A patient's page without the medical record: the identity and its appointments, one read.
    "scheduling.services.access_identity": service(
        lambda w, a: scheduling.access_identity(a, w.patient),
        Ev("read", PATIENT), FRONT_DESK,
        FRONT_DESK, gives(RETURNS, Ev("read", PATIENT), shows={A, I}),
    ),
    "scheduling.services.cancel_appointment": service(
        lambda w, a: scheduling.cancel_appointment(a, w.appointment),
        Ev("update", APPOINTMENT), FRONT_DESK,
    ),
    # The ways into a record (C1), their review (C2), the practice's policy.
    "access.care.declare_care": service(
        lambda w, a: care.declare_care(a, w.patient),
        Ev("create", "access.CareRelationship"), CLINICIANS,
    ),
    "access.care.end_care": service(
        lambda w, a: care.end_care(a, w.patient),
        Ev("delete", "access.CareRelationship"), CLINICIANS,
    ),
    "access.care.break_the_glass": service(
        lambda w, a: care.break_the_glass(a, w.patient, "emergency", GLASS_REASON),
        Ev("break-the-glass", "access.GlassBreak", purpose=BTG), PRACTITIONERS,
    ),
    # J1: the world's patient is active: refused after the gate, audited as a failure.
    "access.care.open_archived": service(
        lambda w, a: care.open_archived(a, w.patient, GLASS_REASON),
        Ev("open-archived", GRANT, purpose=ARCHIVING), PRACTITIONERS,
        PRACTITIONERS, gives(
            "ValidationError ['This record is not archived: it opens as any other.']",
            Ev("open-archived", GRANT, "failure", purpose=ARCHIVING),
        ),
    ),
    # E10: a patient's data key, rotated by the instance's owner at the command line; no role.
    "patients.dekrotation.rotate_patient_key": service(
        lambda w, a: dekrotation.rotate_patient_key(a, w.patient), Ev("update", PATIENT), ()
    ),
    "patients.archive.restore_patient": service(
        lambda w, a: archive.restore_patient(a, w.patient, GLASS_REASON),
        Ev("restore", PATIENT), PRACTITIONERS,
        PRACTITIONERS, gives(
            "ValidationError ['This record is not archived.']", Ev("restore", PATIENT, "failure"),
        ),
    ),
    "access.care.glass_breaks": service(
        lambda w, a: care.glass_breaks(a),
        Ev("read", "access.GlassBreak"), (AUDITOR,),
    ),
    "access.care.review_glass_break": service(
        lambda w, a: care.review_glass_break(a, w.grant, True, ""),
        Ev("review", "access.GlassBreak"), (AUDITOR,),
    ),
    "access.care.set_policy": service(
        lambda w, a: care.set_policy(
            a, shared_record=False, relationship_months=18, glass_hours=4
        ),
        Ev("update", "access.AccessPolicy"), (MANAGER,),
    ),
    # The auditor's reads of the log (D2).
    "audit.services.search_events": service(
        lambda w, a: audit.search_events(a, audit.EventFilter(patient=w.patient)),
        Ev("search", "audit.AuditEvent"), (AUDITOR,),
    ),
    "audit.services.export_events": service(
        lambda w, a: audit.export_events(a, audit.EventFilter(patient=w.patient), "csv"),
        Ev("export", "audit.AuditEvent"), (AUDITOR,),
    ),
    "audit.services.patient_access_report": service(
        lambda w, a: audit.patient_access_report(a, w.patient),
        Ev("read", "audit.AccessReport"), (AUDITOR,),
        AUDITOR, gives(RETURNS, Ev("read", "audit.AccessReport"), also=NAMES_THE_PATIENT,
                       shows={I}),
    ),
    "audit.services.access_alerts": service(
        lambda w, a: audit.access_alerts(a),
        Ev("search", "audit.Alert"), (AUDITOR,),
    ),
    # A printed summary (P1, C3), as its URL above.
    # J2: the list of records due, an erasure request, a destruction (the world's patient, made
    # destroyable by an erasure request planted without an event; rolled back with the cell).
    "retention.services.due_records": service(
        lambda w, a: retention.due_records(a), Ev("search", PATIENT), (MANAGER, AUDITOR),
    ),
    "retention.services.record_erasure_request": service(
        lambda w, a: retention.record_erasure_request(a, w.patient, "art17-1d-unlawful"),
        Ev("create", ERASURE), PRACTITIONERS,
        (NO_CARE, GLASS), gives(NO_BASIS, Ev("create", ERASURE, outcome="failure")),
    ),
    "retention.services.destroy_record": service(
        lambda w, a: _destroy(w, a), Ev("delete", PATIENT), (MANAGER,),
    ),
    "retention.services.certificates_list": service(
        lambda w, a: retention.certificates_list(a),
        Ev("search", CERTIFICATE), (MANAGER, AUDITOR),
    ),
    "retention.services.access_certificate": service(
        lambda w, a: retention.access_certificate(a, w.patient),
        Ev("read", CERTIFICATE), (MANAGER, AUDITOR),
        (MANAGER, AUDITOR), gives(NOT_FOUND, Ev("read", CERTIFICATE, outcome="failure")),
    ),
    # Issue 15: prescriptions.
    "clinical.prescriptions.stop_medication": service(
        lambda w, a: prescriptions.stop_medication(a, w.entries["medication"]),
        Ev("update", MED), CLINICIANS,
        GLASS, _under_glass(Ev("update", MED)),
        NO_CARE, _no_basis(Ev("update", MED)),
    ),
    "clinical.prescriptions.renew_medication": service(
        lambda w, a: prescriptions.renew_medication(a, w.entries["medication"]),
        Ev("create", MED), PRACTITIONERS,
        CARE, gives(RETURNS, Ev("create", MED), shows={M}),
        GLASS, _under_glass(Ev("create", MED), shows={M}),
        NO_CARE, _no_basis(Ev("create", MED)),
    ),
    "clinical.prescriptions.access_prescription": service(
        lambda w, a: prescriptions.access_prescription(a, w.entries["medication"]),
        Ev("read", MED), PRACTITIONERS,
        CARE, gives(RETURNS, Ev("read", MED), shows={I, M}),
        GLASS, _under_glass(Ev("read", MED), shows={I, M}),
        NO_CARE, _no_basis(Ev("read", MED)),
    ),
    "clinical.prescriptions.set_prescriber_number": service(
        lambda w, a: prescriptions.set_prescriber_number(a, RIZIV),
        Ev("update", PRESCRIBER), PRACTITIONERS,
    ),
    "compliance.printing.print_prescription": service(
        lambda w, a: printing.print_prescription(a, w.entries["medication"], with_niss=True),
        Ev("print", MED), PRACTITIONERS,
        CARE, gives(RETURNS, Ev("read", MED), Ev("print", MED), shows={I, M}),
        GLASS, gives(RETURNS, Ev("read", MED, purpose=BTG), Ev("print", MED, purpose=BTG),
                     shows={I, M}),
        NO_CARE, _no_basis(Ev("print", MED)),
    ),
    "compliance.printing.print_patient_summary": service(
        lambda w, a: printing.print_patient_summary(a, w.patient),
        Ev("print", PATIENT), FRONT_DESK,
        CARING, gives(RETURNS, Ev("read", CHART), Ev("print", CHART), shows={I, M}),
        GLASS, gives(RETURNS, Ev("read", CHART, purpose=BTG), Ev("print", CHART), shows={I, M}),
        SECRETARY, gives(RETURNS, Ev("read", PATIENT), Ev("print", PATIENT), shows={I}),
        NO_CARE, gives(RETURNS, Ev("read", PATIENT),
                       Ev("print", PATIENT), shows={I}),
    ),
}
# fmt: on


# --- the cells -------------------------------------------------------------------------------


def _allowed_methods(view: Any) -> tuple[str, ...]:
    """GET and/or POST, as the view's require_http_methods decorator says (its list of methods
    is in the closure of the function it returns); both when it has none."""
    fn = view
    while fn is not None:
        for cell in getattr(fn, "__closure__", None) or ():
            value = cell.cell_contents
            if isinstance(value, list) and value and all(m in ("GET", "POST") for m in value):
                return tuple(m for m in ("GET", "POST") if m in value)
        fn = getattr(fn, "__wrapped__", None)
    return ("GET", "POST")


@dataclass(frozen=True)
class Endpoint:
    name: str  # namespace:name
    route: str  # "/patients/<uuid:uid>/"
    methods: tuple[str, ...]


def _endpoints() -> list[Endpoint]:
    """Every URL of the site, from the resolver."""
    found: list[Endpoint] = []

    def walk(patterns: list[Any], route: str, app: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route + str(p.pattern), p.namespace or app)
            elif isinstance(p, URLPattern):
                name = f"{app}:{p.name}" if app else str(p.name)
                found.append(
                    Endpoint(name, "/" + route + str(p.pattern), _allowed_methods(p.callback))
                )

    walk(get_resolver().url_patterns, "", "")
    return found


ENDPOINTS = _endpoints()
# The value of each slug of a route (the kind of entry: one cell per kind).
SLUGS = {"measure": "B3", "step": "note", "part": "pdf"}


@dataclass(frozen=True)
class UrlCase:
    persona: str
    method: str
    endpoint: Endpoint
    kind: str  # the kind of clinical entry the URL names, or ""

    @property
    def shown(self) -> str:
        """The route as the case's name shows it: ``/clinical/allergy/<uuid>/history/``."""
        path = re.sub(r"<uuid:\w+>", "<uuid>", self.endpoint.route)
        path = path.replace("<slug:kind>", self.kind)
        return re.sub(r"<slug:(\w+)>", lambda m: SLUGS[m.group(1)], path)

    def __str__(self) -> str:
        return f"{self.persona}-{self.method}-{self.shown}"

    def path(self, w: World) -> str:
        name, route = self.endpoint.name, self.endpoint.route

        def value(match: re.Match[str]) -> str:
            converter, key = match.groups()
            if converter != "uuid":
                return self.kind if key == "kind" else SLUGS[key]
            if key in ("patient", "grant"):
                return w.patient if key == "patient" else w.grant
            if name.startswith("scheduling:"):
                return w.appointment
            if name.startswith("letters:"):
                return w.letter
            if name.startswith("maintenance:"):
                return w.maintenance
            if key == "medication" or name in ("clinical:stop", "clinical:renew"):
                return w.entries["medication"]
            if name.startswith("clinical:"):
                return w.entries[self.kind]
            if name == "mail:verify":
                return w.correspondent
            if name == "mail:send_document":
                return w.medical_document
            if name == "mail:send_letter":
                return w.letter
            if name.startswith("documents:unfiled"):
                return w.unfiled
            if name.startswith("documents:"):
                return w.medical_document
            for part, uid in (("documents/", w.document), ("reports/", w.report),
                              ("breaches/", w.breach)):  # fmt: skip
                if part in route:
                    return uid
            return w.patient

        return re.sub(r"<(\w+):(\w+)>", value, route)


def _marked(case: Any, cell: Cell) -> Any:
    if not cell.xfail:
        return case
    return pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=cell.xfail))


URL_CASES = [
    _marked(UrlCase(persona, method, e, kind), url_cell(method, e.name, persona))
    for e in ENDPOINTS
    for kind in (MODELS if "<slug:kind>" in e.route else [""])
    for method in e.methods
    if (method, e.name) in URLS  # a URL without a row fails test_every_url_has_a_row
    for persona in PERSONAS
]


@dataclass(frozen=True)
class ServiceCase:
    persona: str
    name: str

    def __str__(self) -> str:
        return f"{self.persona}-{self.name}"


SERVICE_CASES = [
    _marked(ServiceCase(persona, name), SERVICES[name].cells[persona])
    for name in SERVICES
    for persona in PERSONAS
]


# --- the checks ------------------------------------------------------------------------------


def _readable(data: bytes) -> str:
    """The text of an answer, without case; a PDF's as its reader sees it."""
    if data.startswith(b"%PDF"):
        return pdf_text(data).lower()
    return data.decode("latin-1").lower()


def _planted_in(text: str, w: World, persona: str, cell: Cell) -> tuple[list[str], list[str]]:
    """The planted values the text carries that the persona may not read, and the classes the
    cell must show that it does not."""
    leaks, seen = [], set()
    for cls, fields in w.planted.items():
        for name, forms in fields.items():
            if not any(form.lower() in text for form in forms):
                continue
            seen.add(cls)
            if cls not in READS[persona] and (cls, name) not in cell.also:
                leaks.append(f"{cls.value} {name}")
    missing = [cls.value for cls in sorted(cell.shows) if cls not in seen]
    return leaks, missing


def _events_since(seq: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(seq__gt=seq).order_by("seq"))


def _last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def _compare_events(
    expected: tuple[Ev, ...], found: list[AuditEvent], kind: str, user: Any
) -> list[str]:
    label = MODELS[kind]._meta.object_name if kind else ""
    want = [dataclasses.replace(e, resource=e.resource.format(Kind=label)) for e in expected]
    got = []
    for event, wanted in zip(found, [*want, *[None] * len(found)], strict=False):
        detail = json.loads(event.detail) if event.detail else {}
        # The middleware names its refusal's reason, the gate its problem (the "reason" of a
        # break-the-glass event is the practitioner's text, not a refusal's).
        reason = detail.get("problem") or (
            detail.get("reason", "") if event.resource in ("page", "session") else ""
        )
        purpose = event.purpose if wanted is not None and wanted.purpose else ""
        got.append(Ev(event.action, event.resource, event.outcome, str(reason), purpose))
    problems = []
    if got != want:
        problems.append(f"audit events: expected {want}, got {got}")
    wrong_actor = [e.seq for e in found if e.actor_id != getattr(user, "pk", None)]
    if wrong_actor:
        problems.append(f"audit events {wrong_actor} do not name the acting user")
    return problems


def _outcome(response: Any) -> int | str:
    location = response.get("Location", "")
    if response.status_code == 302 and location.startswith("/accounts/login/?next="):
        return LOGIN
    return int(response.status_code)


@pytest.mark.parametrize("case", URL_CASES, ids=str)
def test_url_cell(world: World, db: Any, case: UrlCase) -> None:
    """One persona, one method, one URL: the outcome and the audit events the table declares,
    and no planted value the persona may not read anywhere in the answer (C1, G1, D1)."""
    cell = url_cell(case.method, case.endpoint.name, case.persona)
    spec = URLS[(case.method, case.endpoint.name)]
    client = world.browser(case.persona)
    data = spec.data(world, case.kind) if spec.data else {}
    before = _last_seq()
    response = (
        client.get(case.path(world), data)
        if case.method == "GET"
        else client.post(case.path(world), data)
    )
    if response.streaming:  # the export: its lines are the answer
        body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    else:
        body = response.content
    headers = " ".join(f"{k}: {v}" for k, v in response.items())
    text = _readable(body) + "\n" + headers.lower()
    problems = []
    if _outcome(response) != cell.outcome:
        problems.append(f"outcome: expected {cell.outcome}, got {_outcome(response)}")
    problems += _compare_events(
        cell.events, _events_since(before), case.kind, world.users.get(case.persona)
    )
    leaks, missing = _planted_in(text, world, case.persona, cell)
    if leaks:
        problems.append(f"LEAK: the answer carries {', '.join(leaks)}")
    if missing:
        problems.append(f"the answer shows no planted {', '.join(missing)} value (vacuous)")
    assert not problems, f"{case}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("case", SERVICE_CASES, ids=str)
def test_service_cell(world: World, db: Any, case: ServiceCase) -> None:
    """One persona, one service function: the outcome and the audit events the table declares,
    and no planted value the persona may not read in what it returns (C1, G1, D1)."""
    cell = SERVICES[case.name].cells[case.persona]
    before = _last_seq()
    text, outcome = "", ""
    try:
        text = _flat(SERVICES[case.name].call(world, world.actor(case.persona))).lower()
        outcome = RETURNS
    except NoCareRelationship:
        outcome = NO_BASIS
    except AccessDenied:
        outcome = REFUSES
    except Http404:
        outcome = NOT_FOUND
    except ValidationError as exc:
        outcome = f"ValidationError {exc.messages}"
    problems = []
    if outcome != cell.outcome:
        problems.append(f"outcome: expected {cell.outcome}, got {outcome}")
    problems += _compare_events(
        cell.events, _events_since(before), "", world.users.get(case.persona)
    )
    leaks, missing = _planted_in(text, world, case.persona, cell)
    if leaks:
        problems.append(f"LEAK: the service returns {', '.join(leaks)}")
    if missing:
        problems.append(f"the service returns no planted {', '.join(missing)} value (vacuous)")
    assert not problems, f"{case}:\n  " + "\n  ".join(problems)


# --- the table covers the site ---------------------------------------------------------------


def test_every_url_has_a_row() -> None:
    """A new URL (or a new method of one) fails here until the table says who may use it."""
    walked = {(m, e.name) for e in ENDPOINTS for m in e.methods}
    assert walked - URLS.keys() == set(), "URLs without a row in URLS"
    assert URLS.keys() - walked == set(), "rows of URLS for no URL"
    assert len(ENDPOINTS) >= 79


SERVICE_MODULES = (
    "patients.services", "clinical.services", "clinical.records", "scheduling.services",
    "access.care", "audit.services", "compliance.printing", "documents.services",
    # L1, L2: the whole practice's rows, read past the patients' services (as ciphertext).
    "exchange.practice", "exchange.moving",
)  # fmt: skip
PATIENT_PACKAGES = ("secretum.patients", "secretum.clinical", "secretum.scheduling")
NOT_SERVICES = ("views", "forms", "models", "urls", "apps", "admin")


def _modules_reaching_patients() -> set[str]:
    """Every module of the application (pages, forms, models and commands aside) that imports
    the patients, clinical or scheduling apps: where a service reading patient data can be."""
    found = set()
    for path in SECRETUM.rglob("*.py"):
        rel = path.relative_to(SECRETUM).with_suffix("")
        if {"migrations", "management"} & set(rel.parts) or rel.name.endswith(NOT_SERVICES):
            continue
        names = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names += [a.name for a in node.names]
        if any(n.startswith(PATIENT_PACKAGES) for n in names):
            found.add(".".join(rel.parts))
    return found


def _actor_functions(module_name: str) -> set[str]:
    module = import_module(f"secretum.{module_name}")
    return {
        f"{module_name}.{name}"
        for name, fn in vars(module).items()
        if inspect.isfunction(fn)
        and fn.__module__ == module.__name__
        and not name.startswith("_")
        and list(inspect.signature(fn).parameters)[:1] == ["actor"]
    }


def test_every_patient_service_has_a_row() -> None:
    """Every function that acts for someone (its first argument is the actor) in a module that
    reaches patient data has its row: a new one fails here until the table says who may call
    it. The breach register reads no patient (its services import none of those apps)."""
    modules = set(SERVICE_MODULES) | _modules_reaching_patients()
    assert "breaches.services" not in modules
    found = set().union(*(_actor_functions(m) for m in modules))
    assert found - SERVICES.keys() == set(), "services without a row in SERVICES"
    assert SERVICES.keys() - found == set(), "rows of SERVICES for no service"


def test_the_personas_are_the_roles() -> None:
    """Every role has a persona (the practitioner three: with and without a care relationship,
    under a break-the-glass access); a new role needs its column."""
    assert set(ROLE_OF.values()) == set(Role)
    assert set(PERSONAS) == {*ROLE_OF, ANONYMOUS}


def test_reads_follow_the_classification() -> None:
    """READS is what READ_PERMISSION and the role's permissions give; medical data only with a
    basis (C1). Giving a role a permission, or a class another permission, fails here too."""
    basis = {CARE: True, NO_CARE: False, GLASS: True, NURSE: True}
    for persona in PERSONAS:
        held = ROLE_PERMISSIONS.get(ROLE_OF[persona], frozenset()) if persona in ROLE_OF else set()
        readable = {
            cls
            for cls in (A, I, M)
            if READ_PERMISSION[cls] in held and (cls != M or basis.get(persona, True))
        }
        assert READS[persona] == readable, persona
    assert READ_PERMISSION[S] is None


def test_every_class_and_field_is_planted(world: World, db: Any) -> None:
    """Values are planted in every class but the public one, in every identity field and every
    medical field of every kind of entry (the enumerated ones aside, see ENUMERATED)."""
    from secretum.clinical.rules import SPECS
    from secretum.patients.models import IDENTITY_FIELDS

    assert set(world.planted) == {A, I, M, S}
    assert set(world.planted[I]) == set(IDENTITY_FIELDS) - ENUMERATED
    medical = {f"{kind}.{spec.name}" for kind, specs in SPECS.items() for spec in specs}
    enumerated = {
        "allergy.severity", "observation.code", "vaccination.dose", "vaccination.site",
        "problem.system", "problem.status", "problem.code", "lab.loinc", "lab.unit",
        "medication.route", "medication.quantity",
    }  # fmt: skip
    assert medical - ENUMERATED - enumerated <= set(world.planted[M])
