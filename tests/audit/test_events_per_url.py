"""Every URL that touches patient data leaves exactly the expected audit events (D1).

Each case is a request through the whole stack (middleware, view, service); the events it
leaves are compared, in order, with (action, resource, outcome, patient?) — no more, no less.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from secretum.access.policy import Role
from secretum.audit.models import AuditEvent
from secretum.clinical import prescriptions
from secretum.clinical import services as clinical
from secretum.letters import services as letters
from secretum.lib.dates import add_years
from secretum.patients import archive
from secretum.patients import services as patients
from secretum.scheduling import services as scheduling
from tests.conftest import actor_for, client_for, identity, make_user


@dataclass
class World:
    practitioner: Any
    secretary: Any
    auditor: Any
    patient: Any
    observation: Any
    appointment: Any
    medication: Any


@pytest.fixture
def world(db: Any) -> World:
    doctor = make_user(Role.PRACTITIONER)
    actor = actor_for(doctor)
    patient = patients.register_patient(actor, identity())
    obs = clinical.record_entry(
        actor, patient.uid, "observation", {"code": "weight", "value": "70"}
    )
    start = timezone.now() + dt.timedelta(days=1)
    appt = scheduling.book_appointment(actor, patient.uid, doctor.pk, start, 15)
    med = clinical.record_entry(actor, patient.uid, "medication", MEDICATION)
    return World(
        doctor, make_user(Role.SECRETARY), make_user(Role.AUDITOR), patient, obs, appt, med
    )


MEDICATION = {"drug": "Fictitious", "dose": "1", "frequency": "daily", "cnk": "1234567"}


def _prescriber(w: World) -> str:
    """Issue 15: the world's medication, its practitioner's RIZIV/INAMI number set first."""
    prescriptions.set_prescriber_number(actor_for(w.practitioner), "12345625004")
    return str(w.medication.uid)


def _archived(w: World) -> str:
    """J1: the world's patient archived (a run six years on), for the archive's cases."""
    archive.archive_due(now=add_years(timezone.now(), 6))
    return str(w.patient.uid)


def _letter(w: World, *, final: bool = True) -> str:
    """A report of the world's patient (issue 15), finalised unless told otherwise."""
    actor = actor_for(w.practitioner)
    uid = letters.create_letter(actor, w.patient.uid, "report", "fr").info.uid
    letters.update_letter(actor, uid, {"subject": "Bilan", "body": "Fictitious."})
    if final:
        letters.finalise_letter(actor, uid)
    return uid


REPORT = {"subject": "Bilan", "body": "Fictitious, edited."}
REASON = {"reason": "Patient back after years abroad"}
P = "patient"  # the event names the world's patient
E = ""  # it names none


def _patient_form(w: World) -> dict[str, str]:
    return {
        "family_name": "Zorbatova",
        "given_name": "Quilline",
        "birth_date": "1971-03-14",
        "sex": "female",
        "niss": "",
    }


def _document(w: World) -> str:
    """A clean document attached to the world's patient (stored as the upload stores it)."""
    from types import SimpleNamespace

    from secretum.documents import services as documents
    from secretum.lib import clamav
    from tests.documents.samples import pdf

    row, key = patients.open_patient(w.patient.uid)
    return str(
        documents.store(
            row, key, SimpleNamespace(detail={}), title="Fictitious.pdf",
            kind="application/pdf", data=pdf(), verdict=clamav.Verdict(clean=True),
            author=w.practitioner,
        ).uid
    )  # fmt: skip


def _correspondent(w: World) -> str:
    """M1: a correspondent whose address was verified."""
    from secretum.mail.models import Correspondent

    return str(
        Correspondent.objects.create(
            name="Dr Fictif", kind="lab", email="lab@labo-fictif.example",
            verified_at=timezone.now(),
        ).uid
    )  # fmt: skip


Request = Callable[[World], tuple[str, str, dict[str, str]]]
W72 = {"code": "weight", "value": "72"}
CASES: list[tuple[str, str, Request, list[tuple[str, ...]]]] = [
    ("search by name", "practitioner", lambda w: ("post", "/patients/", {"q": "zorb"}),
     [("search", "patients.Patient", "success", E)]),
    ("search page", "practitioner", lambda w: ("get", "/patients/", {}), []),
    ("register", "secretary", lambda w: ("post", "/patients/new/", _patient_form(w)),
     [("create", "patients.Patient", "success", "new")]),
    # Issue 17: one event per page, naming its sections (the appointments among them).
    ("chart", "practitioner", lambda w: ("get", f"/patients/{w.patient.uid}/", {}),
     [("read", "clinical.Chart", "success", P)]),
    ("identity", "secretary", lambda w: ("get", f"/patients/{w.patient.uid}/", {}),
     [("read", "patients.Patient", "success", P)]),
    ("edit form", "secretary", lambda w: ("get", f"/patients/{w.patient.uid}/edit/", {}),
     [("read", "patients.Patient", "success", P)]),
    ("edit", "secretary", lambda w: ("post", f"/patients/{w.patient.uid}/edit/", _patient_form(w)),
     [("update", "patients.Patient", "success", P)]),
    ("entry form", "practitioner",
     lambda w: ("get", f"/clinical/{w.patient.uid}/observation/new/", {}),
     [("read", "patients.Patient", "success", P)]),
    ("record entry", "practitioner",
     lambda w: ("post", f"/clinical/{w.patient.uid}/observation/new/", W72),
     [("create", "clinical.Observation", "success", P)]),
    ("correction form", "practitioner",
     lambda w: ("get", f"/clinical/observation/{w.observation.uid}/correct/", {}),
     [("read", "clinical.Observation", "success", P)]),
    ("correct", "practitioner",
     lambda w: ("post", f"/clinical/observation/{w.observation.uid}/correct/", W72),
     [("update", "clinical.Observation", "success", P)]),
    ("retract", "practitioner",
     lambda w: ("post", f"/clinical/observation/{w.observation.uid}/retract/", {}),
     [("retract", "clinical.Observation", "success", P)]),
    ("history", "practitioner",
     lambda w: ("get", f"/clinical/observation/{w.observation.uid}/history/", {}),
     [("read", "clinical.Observation", "success", P)]),
    # Issue 15: a medication stopped, renewed, printed as a prescription (P1); the prescriber's
    # number, no patient's data.
    ("stop medication", "practitioner",
     lambda w: ("post", f"/clinical/medication/{w.medication.uid}/stop/", {}),
     [("update", "clinical.Medication", "success", P)]),
    ("renew medication", "practitioner",
     lambda w: ("post", f"/clinical/medication/{w.medication.uid}/renew/", {}),
     [("create", "clinical.Medication", "success", P)]),
    ("prescriber form", "practitioner", lambda w: ("get", "/clinical/prescriber/", {}), []),
    ("prescriber number", "practitioner",
     lambda w: ("post", "/clinical/prescriber/", {"riziv": "12345625004"}),
     [("update", "clinical.Prescriber", "success", E)]),
    ("print prescription", "practitioner",
     lambda w: ("post", f"/compliance/print/prescription/{_prescriber(w)}/", {}),
     [("read", "clinical.Medication", "success", P),
      ("print", "clinical.Medication", "success", P)]),
    # Refused inside the print: both failures recorded once the print's transaction is undone.
    ("print prescription without a number", "practitioner",
     lambda w: ("post", f"/compliance/print/prescription/{w.medication.uid}/", {}),
     [("print", "clinical.Medication", "failure", P),
      ("read", "clinical.Medication", "failure", P)]),
    ("secretary refused a renewal", "secretary",
     lambda w: ("post", f"/clinical/medication/{w.medication.uid}/renew/", {}),
     [("update", "page", "denied", E)]),
    # D1: a refusal by the middleware is an event too (issue 8: it used to leave nothing).
    ("secretary refused a chart entry", "secretary",
     lambda w: ("get", f"/clinical/observation/{w.observation.uid}/history/", {}),
     [("read", "page", "denied", E)]),
    ("agenda", "secretary", lambda w: ("get", "/agenda/", {}),
     [("search", "scheduling.Appointment", "success", E)]),
    ("booking form", "secretary", lambda w: ("get", f"/agenda/book/{w.patient.uid}/", {}),
     [("read", "patients.Patient", "success", P)]),
    ("book", "secretary",
     lambda w: ("post", f"/agenda/book/{w.patient.uid}/", {
         "practitioner": str(w.practitioner.pk),
         "day": (timezone.localdate() + dt.timedelta(days=2)).isoformat(),
         "time": "10:00", "duration": "15"}),
     [("create", "scheduling.Appointment", "success", P)]),
    ("cancel", "secretary", lambda w: ("post", f"/agenda/{w.appointment.uid}/cancel/", {}),
     [("update", "scheduling.Appointment", "success", P)]),
    # L1, E7: the patient's copy, one export event naming what left (never the passphrase).
    ("copy form", "practitioner", lambda w: ("get", f"/exchange/{w.patient.uid}/copy/", {}),
     [("read", "patients.Patient", "success", P)]),
    ("patient's copy", "practitioner",
     lambda w: ("post", f"/exchange/{w.patient.uid}/copy/", {"recipient": ""}),
     [("export", "clinical.Chart", "success", P)]),
    # Letters and certificates (issue 15): medical, audited as the chart's entries are.
    ("letters", "practitioner", lambda w: ("get", f"/letters/{w.patient.uid}/", {}),
     [("search", "letters.Letter", "success", P)]),
    ("new letter", "practitioner",
     lambda w: ("post", f"/letters/{w.patient.uid}/new/", {"kind": "referral", "language": "fr"}),
     [("read", "clinical.Chart", "success", P), ("create", "letters.Letter", "success", P)]),
    ("letter", "practitioner", lambda w: ("get", f"/letters/letter/{_letter(w)}/", {}),
     [("read", "letters.Letter", "success", P)]),
    ("edit a draft", "practitioner",
     lambda w: ("post", f"/letters/letter/{_letter(w, final=False)}/", REPORT),
     [("update", "letters.Letter", "success", P)]),
    ("edit a finalised letter", "practitioner",
     lambda w: ("post", f"/letters/letter/{_letter(w)}/", REPORT),
     [("update", "letters.Letter", "failure", P)]),
    ("finalise", "practitioner",
     lambda w: ("post", f"/letters/letter/{_letter(w, final=False)}/finalise/", {}),
     [("update", "letters.Letter", "success", P)]),
    ("correct a letter", "practitioner",
     lambda w: ("post", f"/letters/letter/{_letter(w)}/correct/", {}),
     [("create", "letters.Letter", "success", P)]),
    ("print a letter", "practitioner",
     lambda w: ("post", f"/letters/letter/{_letter(w)}/print/", {}),
     [("print", "letters.Letter", "success", P)]),
    ("secretary refused a letter", "secretary",
     lambda w: ("get", f"/letters/letter/{_letter(w)}/", {}),
     [("read", "page", "denied", E)]),
    # M1: the directory of correspondents (no patient), and a document's confirm-and-send page:
    # the review reads the document and names its patient (the sending itself is proven with a
    # real SMTP server in tests/mail/: one "send" event).
    ("correspondents", "practitioner", lambda w: ("get", "/mail/correspondents/", {}),
     [("search", "mail.Correspondent", "success", E)]),
    ("verify page", "practitioner",
     lambda w: ("get", f"/mail/correspondents/{_correspondent(w)}/verify/", {}),
     [("read", "mail.Correspondent", "success", E)]),
    ("send form", "practitioner",
     lambda w: ("get", f"/mail/document/{_document(w)}/send/", {}),
     [("search", "mail.Correspondent", "success", E)]),
    ("send review", "practitioner",
     lambda w: ("post", f"/mail/document/{_document(w)}/send/",
                {"step": "review", "correspondent": _correspondent(w)}),
     [("search", "mail.Correspondent", "success", E),
      ("read", "documents.Document", "success", P),
      ("read", "patients.Patient", "success", P)]),
    ("send a letter, review", "practitioner",
     lambda w: ("post", f"/mail/letter/{_letter(w)}/send/",
                {"step": "review", "correspondent": _correspondent(w)}),
     [("search", "mail.Correspondent", "success", E),
      ("export", "letters.Letter", "success", P),
      ("read", "patients.Patient", "success", P)]),
    ("audit log", "auditor", lambda w: ("get", "/audit/", {}),
     [("search", "audit.AuditEvent", "success", E)]),
    ("audit export", "auditor",
     lambda w: ("post", "/audit/export/", {"patient": w.patient.uid, "format": "csv"}),
     [("export", "audit.AuditEvent", "success", P)]),
    ("access report", "auditor", lambda w: ("get", f"/audit/report/{w.patient.uid}/", {}),
     [("read", "audit.AccessReport", "success", P)]),
    # E7, M3: asked how it leaves (nothing read), then made, one print event naming that.
    ("access report pdf asked", "auditor",
     lambda w: ("get", f"/audit/report/{w.patient.uid}/pdf/", {}), []),
    ("access report pdf", "auditor",
     lambda w: ("post", f"/audit/report/{w.patient.uid}/pdf/", {}),
     [("print", "audit.AccessReport", "success", P)]),
    ("alerts", "auditor", lambda w: ("get", "/audit/alerts/", {}),
     [("search", "audit.Alert", "success", E)]),
    # J1: an archived record, refused without a reason, opened with one, restored.
    ("archived chart", "practitioner", lambda w: ("get", f"/patients/{_archived(w)}/", {}),
     [("read", "clinical.Chart", "denied", P)]),
    ("archived identity", "secretary", lambda w: ("get", f"/patients/{_archived(w)}/", {}),
     [("read", "patients.Patient", "denied", P)]),
    ("open archived", "practitioner",
     lambda w: ("post", f"/patients/{_archived(w)}/archive/open/", REASON),
     [("open-archived", "access.GlassBreak", "success", P)]),
    ("restore", "practitioner",
     lambda w: ("post", f"/patients/{_archived(w)}/archive/restore/", REASON),
     [("restore", "patients.Patient", "success", P)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "who", "request_of", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_url_leaves_exactly_the_expected_events(
    world: World,
    name: str,
    who: str,
    request_of: Callable[[World], tuple[str, str, dict[str, str]]],
    expected: list[tuple[str, ...]],
) -> None:
    client = client_for(getattr(world, who))
    method, url, data = request_of(world)
    before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    response = getattr(client, method)(url, data)
    assert response.status_code in (200, 302, 403), (response.status_code, url)
    if response.status_code == 200 and hasattr(response, "streaming_content"):
        b"".join(response.streaming_content)
    new = list(AuditEvent.objects.filter(seq__gt=before).order_by("seq"))
    got = [
        (
            e.action,
            e.resource,
            e.outcome,
            P if e.patient_ref == world.patient.uid else ("new" if e.patient_ref else E),
        )
        for e in new
    ]
    assert got == expected
    for e in new:
        assert e.actor_id == getattr(world, who).pk and e.request_id and e.source == "127.0.0.1"


def test_every_patient_url_is_covered() -> None:
    """A new URL that touches patient data must be added to CASES."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns: list[Any], ns: str = "") -> list[str]:
        out = []
        for p in patterns:
            if isinstance(p, URLResolver):
                out += walk(p.url_patterns, f"{p.namespace}:" if p.namespace else ns)
            elif isinstance(p, URLPattern):
                out.append(f"{ns}{p.name}")
        return out

    names = {n for n in walk(get_resolver().url_patterns) if n.split(":")[0] in
             ("patients", "clinical", "scheduling", "audit", "exchange", "letters",
              "mail")}  # fmt: skip
    covered = {
        "patients:search", "patients:register", "patients:detail", "patients:edit",
        "patients:archive_open", "patients:restore",
        "clinical:new", "clinical:correct", "clinical:retract", "clinical:history",
        "clinical:stop", "clinical:renew", "clinical:prescriber",
        "scheduling:agenda", "scheduling:book", "scheduling:cancel",
        "audit:log", "audit:export", "audit:report", "audit:report_pdf", "audit:alerts",
        "audit:report_search", "exchange:patient_copy",
        "letters:list", "letters:new", "letters:letter", "letters:finalise", "letters:correct",
        "letters:print",
        "mail:correspondents", "mail:verify", "mail:send_document", "mail:send_letter",
    }  # fmt: skip
    # The problem form's ICD-10 suggestions: the classification's own list, no patient's data,
    # no event (tests/clinical/test_codes.py).
    names.discard("clinical:icd10")
    assert names <= covered, names - covered
