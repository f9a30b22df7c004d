"""The unfiled tray (D4): the intake's scans that named no patient, listed, viewed and filed to
their patient by a clinician with a basis for that patient; every step audited; a quarantined
scan (E2) never shown; a tray row altered in the database refused and reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404

from secretum.access.guard import NoCareRelationship
from secretum.access.policy import Role
from secretum.audit.models import TAMPERED
from secretum.clinical.records import verify_records
from secretum.documents import intake, services, tray
from secretum.documents.models import Document, UnfiledDocument
from secretum.lib import niss
from tests.conftest import actor_for, client_for, events, make_user
from tests.documents import samples
from tests.documents.conftest import EICAR, drop


@pytest.fixture
def waiting(scanner: str, folder: Path, db: Any) -> UnfiledDocument:
    drop(folder, "SCAN_0042 lettre Quztray.pdf", samples.pdf("Quztray"))
    drop(folder, "SCAN_0043.bin", EICAR)
    report = intake.import_folder(folder)
    assert (report.unfiled, report.quarantined) == (2, 1)
    return UnfiledDocument.objects.get(status=Document.Status.CLEAN)


def test_a_clinician_files_a_scan_by_national_number(
    waiting: UnfiledDocument, practitioner: Any, patient: Any
) -> None:
    client = client_for(practitioner)
    page = client.get("/documents/unfiled/").content.decode()
    assert "SCAN_0042 lettre Quztray.pdf" in page
    assert "1 scan was quarantined by the antivirus" in page and "SCAN_0043" not in page
    assert 'data-testid="nav-unfiled"' in page
    shown = client.get(f"/documents/unfiled/{waiting.uid}/")
    assert shown.status_code == 200 and shown["Content-Type"] == "application/pdf"
    assert shown.content == samples.pdf("Quztray")
    assert "sandbox" in shown["Content-Security-Policy"]
    form = client.get(f"/documents/unfiled/{waiting.uid}/file/")
    assert form.status_code == 200 and "SCAN_0042" in form.content.decode()
    done = client.post(
        f"/documents/unfiled/{waiting.uid}/file/", {"patient": niss.formatted(patient.niss)}
    )
    assert done.status_code == 302 and done["Location"] == f"/patients/{patient.uid}/"
    assert not UnfiledDocument.objects.filter(uid=waiting.uid).exists()
    filed = services.patient_documents(actor_for(practitioner), patient.uid)
    assert [d.title for d in filed] == ["SCAN_0042 lettre Quztray.pdf"]
    opened = services.open_document(actor_for(practitioner), filed[0].uid)
    assert opened.data == samples.pdf("Quztray")
    assert Document.objects.get().source == Document.Source.INTAKE
    assert verify_records() == (1, [])  # the record's set of entries counts the filed scan
    created = events(action="create", resource="documents.Document")[-1]
    assert created.actor_id == practitioner.pk and created.patient_ref == str(patient.uid)
    assert json.loads(created.detail)["unfiled"] == str(waiting.uid)
    assert [e.action for e in events(resource="documents.UnfiledDocument")][-3:] == [
        "search", "read", "read",
    ]  # fmt: skip
    searched = events(action="search", resource="patients.Patient")[-1]
    assert json.loads(searched.detail)["results"] == 1


def test_filing_by_reference_and_bad_input_say_why(
    waiting: UnfiledDocument, practitioner: Any, patient: Any
) -> None:
    client = client_for(practitioner)
    url = f"/documents/unfiled/{waiting.uid}/file/"
    for given, said in (
        ("12345", "A national number has 11 digits"),
        ("00.00.00-000.00", "check digits are wrong"),
        ("85.07.30-033.28", "No patient has this national number or reference."),
        ("4f0c2a56-0000-4000-8000-000000000000", "No patient has this national number"),
        ("", "This field is required."),
    ):
        refused = client.post(url, {"patient": given})
        assert refused.status_code == 400 and said in refused.content.decode(), given
    assert UnfiledDocument.objects.filter(uid=waiting.uid).exists()
    assert client.post(url, {"patient": f" {patient.uid} "}).status_code == 302
    assert client.get(url).status_code == 404  # filed: gone from the tray


def test_no_basis_no_filing_and_the_secretary_sees_no_tray(
    waiting: UnfiledDocument, secretary: Any, patient: Any
) -> None:
    stranger = make_user(Role.PRACTITIONER)
    with pytest.raises(NoCareRelationship):
        tray.file_unfiled(actor_for(stranger), waiting.uid, str(patient.uid))
    assert UnfiledDocument.objects.filter(uid=waiting.uid).exists()
    assert not Document.objects.exists()
    denied = events(action="create", resource="documents.Document")[-1]
    assert denied.outcome == "denied" and denied.actor_id == stranger.pk
    client = client_for(secretary)
    for url in ("/documents/unfiled/", f"/documents/unfiled/{waiting.uid}/",
                f"/documents/unfiled/{waiting.uid}/file/"):  # fmt: skip
        assert client.get(url).status_code == 403, url
    assert 'data-testid="nav-unfiled"' not in client.get("/").content.decode()


def test_a_quarantined_scan_is_never_shown_nor_filed(
    waiting: UnfiledDocument, practitioner: Any, patient: Any
) -> None:
    infected = UnfiledDocument.objects.get(status=Document.Status.QUARANTINED)
    with pytest.raises(Http404):
        tray.open_unfiled(actor_for(practitioner), infected.uid)
    with pytest.raises(Http404):
        tray.file_unfiled(actor_for(practitioner), infected.uid, str(patient.uid))
    assert UnfiledDocument.objects.filter(uid=infected.uid).exists()


def test_a_tray_row_altered_in_the_database_is_refused_and_reported(
    waiting: UnfiledDocument, practitioner: Any, patient: Any
) -> None:
    """The attacker holds the database: marks the infected scan clean (its content's associated
    data names its status), and swaps two rows' names."""
    infected = UnfiledDocument.objects.get(status=Document.Status.QUARANTINED)
    UnfiledDocument.objects.filter(pk=infected.pk).update(status=Document.Status.CLEAN)
    actor = actor_for(practitioner)
    with pytest.raises(Http404):
        tray.open_unfiled(actor, infected.uid)
    with pytest.raises(Http404):
        tray.file_unfiled(actor, infected.uid, str(patient.uid))
    assert not Document.objects.exists()
    tampered = [
        e
        for e in events(resource="documents.UnfiledDocument", outcome="failure")
        if json.loads(e.detail).get("problem") == TAMPERED
    ]
    assert len(tampered) == 2 and {e.resource_ref for e in tampered} == {str(infected.uid)}
    UnfiledDocument.objects.filter(pk=waiting.pk).update(title=infected.title)
    listed, quarantined = tray.unfiled_documents(actor)
    assert quarantined == 0
    # The flipped row is listed by its name (the name's associated data holds no status) but
    # never opens; the row given another's name is listed as unreadable.
    assert sorted(s.title for s in listed) == [
        "(name unreadable: altered outside Secretum)", "SCAN_0043.bin",
    ]  # fmt: skip
    with pytest.raises(Http404):
        tray.unfiled_document(actor, waiting.uid)


def test_a_scan_filed_twice_at_once_is_filed_once(
    waiting: UnfiledDocument, practitioner: Any, patient: Any
) -> None:
    """Two tabs file the same scan: the second finds it gone."""
    actor = actor_for(practitioner)
    tray.file_unfiled(actor, waiting.uid, str(patient.uid))
    with pytest.raises(Http404):
        tray.file_unfiled(actor, waiting.uid, str(patient.uid))
    assert Document.objects.count() == 1


def test_an_unknown_scan_is_not_found(practitioner: Any) -> None:
    client = client_for(practitioner)
    assert client.get("/documents/unfiled/4f0c2a56-0000-4000-8000-000000000000/").status_code == 404
    with pytest.raises(ValidationError):
        tray.resolve_patient(actor_for(practitioner), "not a number")
