"""Documents attached to a patient (D4) and their antivirus scan (E2), through the services, with
a real clamd (conftest) and a real database. The attacker holds the database, not the key file."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone

from secretum.access import care
from secretum.access.actor import AccessDenied
from secretum.access.guard import NoCareRelationship
from secretum.access.policy import Role
from secretum.audit import alerts
from secretum.audit.models import INFECTED, TAMPERED
from secretum.documents import services
from secretum.documents.models import Document
from secretum.patients import services as patients
from tests.conftest import actor_for, events, identity, make_user
from tests.documents import samples
from tests.documents.conftest import EICAR, SIGNATURE


def _last(**filters: Any) -> Any:
    return events(**filters)[-1]


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (samples.pdf(), "application/pdf"),
        (samples.png(), "image/png"),
        (samples.jpeg(), "image/jpeg"),
    ],
)
def test_attach_list_view_and_download_each_type(
    scanner: str, practitioner: Any, patient: Any, data: bytes, kind: str
) -> None:
    """D4: attached, listed on the chart, opened and downloaded, each an audit event."""
    actor = actor_for(practitioner)
    attached = services.attach_document(
        actor, patient.uid, name="C:\\scans\\Lettre Dr Quz.x", data=data
    )
    assert not attached.quarantined
    created = _last(resource="documents.Document")
    assert (created.action, created.outcome, created.resource_ref) == (
        "create",
        "success",
        attached.uid,
    )
    assert json.loads(created.detail)["type"] == kind

    (listed,) = services.patient_documents(actor, patient.uid)
    assert (listed.title, listed.content_type, listed.size) == ("Lettre Dr Quz.x", kind, len(data))
    assert listed.inline and listed.author == str(practitioner)
    assert _last(resource="documents.Document").action == "search"

    shown = services.open_document(actor, attached.uid)
    assert (shown.data, shown.content_type) == (data, kind)
    assert shown.filename.startswith("Lettre Dr Quz.x.")
    read = _last(resource="documents.Document")
    assert (read.action, read.resource_ref, read.patient_ref) == (
        "read",
        attached.uid,
        str(patient.uid),
    )
    services.open_document(actor, attached.uid, download=True)
    assert _last(resource="documents.Document").action == "export"


def test_the_type_is_told_by_the_content_not_the_name(
    scanner: str, practitioner: Any, patient: Any
) -> None:
    """D4: a PNG named .pdf is a PNG; a page of HTML named .pdf is refused, audited."""
    actor = actor_for(practitioner)
    uid = services.attach_document(actor, patient.uid, name="scan.pdf", data=samples.png()).uid
    assert services.open_document(actor, uid).content_type == "image/png"
    for data in (b"<html><script>alert(1)</script></html>", b"GIF89a....", b"MZ\x90\x00"):
        with pytest.raises(ValidationError, match="Only PDF, PNG and JPEG"):
            services.attach_document(actor, patient.uid, name="letter.pdf", data=data)
        failed = _last(resource="documents.Document")
        assert (failed.outcome, json.loads(failed.detail)["error"]) == (
            "failure",
            "ValidationError",
        )
    with pytest.raises(ValidationError, match="empty"):
        services.attach_document(actor, patient.uid, name="empty.pdf", data=b"")
    assert Document.objects.count() == 1


def test_the_size_limit_is_a_setting(
    scanner: str, practitioner: Any, patient: Any, settings: Any
) -> None:
    settings.SECRETUM_DOCUMENT_MAX_BYTES = 4096
    with pytest.raises(ValidationError, match=r"larger than 4\.0"):
        services.attach_document(
            actor_for(practitioner), patient.uid, name="big.pdf", data=samples.pdf(padding=5000)
        )
    assert not Document.objects.exists()


def test_a_file_name_is_kept_printable_and_without_a_path() -> None:
    assert services.clean_title("../../etc/passwd") == "passwd"
    assert services.clean_title("a\x00b\u202ec.pdf") == "abc.pdf"
    assert services.clean_title("   ") == "Document"
    assert len(services.clean_title("x" * 500)) == services.TITLE_MAX


def test_the_secretary_never_sees_a_medical_document(
    scanner: str, practitioner: Any, secretary: Any, patient: Any
) -> None:
    """C1: documents are medical; the secretary neither lists, opens nor attaches them."""
    uid = services.attach_document(
        actor_for(practitioner), patient.uid, name="a.png", data=samples.png()
    ).uid
    clerk = actor_for(secretary)
    for call in (
        lambda: services.patient_documents(clerk, patient.uid),
        lambda: services.open_document(clerk, uid),
        lambda: services.open_document(clerk, uid, download=True),
        lambda: services.attach_document(clerk, patient.uid, name="b.png", data=samples.png()),
    ):
        with pytest.raises(AccessDenied):
            call()
        assert _last(resource="documents.Document").outcome == "denied"


def test_a_practitioner_outside_the_care_relationship_is_refused(
    scanner: str, practitioner: Any, patient: Any, nurse: Any
) -> None:
    """C1: another practitioner needs a basis; the nurse who declares care gets one."""
    uid = services.attach_document(
        actor_for(practitioner), patient.uid, name="a.png", data=samples.png()
    ).uid
    other = actor_for(make_user(Role.PRACTITIONER))
    with pytest.raises(NoCareRelationship):
        services.open_document(other, uid)
    with pytest.raises(NoCareRelationship):
        services.patient_documents(other, patient.uid)
    care.declare_care(actor_for(nurse), patient.uid)
    assert services.open_document(actor_for(nurse), uid).data == samples.png()


def test_the_database_holds_no_document_in_clear(
    scanner: str, practitioner: Any, patient: Any
) -> None:
    """E10: the content and the name are ciphertext under the patient's data key."""
    data = samples.pdf("Quzsecretdiagnosis")
    services.attach_document(
        actor_for(practitioner), patient.uid, name="Quzsecretname.pdf", data=data
    )
    row = Document.objects.get()
    assert b"Quzsecretdiagnosis" not in bytes(row.content)
    assert b"%PDF" not in bytes(row.content)
    assert b"Quzsecretname" not in bytes(row.title)


def test_an_attacker_cannot_release_a_quarantined_file_or_move_a_document(
    scanner: str, practitioner: Any, patient: Any
) -> None:
    """E2, E10: marking a quarantined file clean, changing a document's type or moving it to
    another patient in the database makes it unreadable; the refusal is reported."""
    actor = actor_for(practitioner)
    infected = services.attach_document(actor, patient.uid, name="x.com", data=EICAR)
    Document.objects.filter(uid=infected.uid).update(status=Document.Status.CLEAN)
    with pytest.raises(Http404):
        services.open_document(actor, infected.uid)
    assert json.loads(_last(resource="documents.Document").detail)["problem"] == TAMPERED

    uid = services.attach_document(actor, patient.uid, name="a.png", data=samples.png()).uid
    Document.objects.filter(uid=uid).update(content_type="application/pdf")
    with pytest.raises(Http404):
        services.open_document(actor, uid)
    Document.objects.filter(uid=uid).update(content_type="image/png")
    assert services.open_document(actor, uid).data == samples.png()

    other = patients.register_patient(actor, identity())
    Document.objects.filter(uid=uid).update(patient=_row(other.uid))
    with pytest.raises(Http404):
        services.open_document(actor, uid)


def _row(uid: str) -> Any:
    from secretum.patients.models import Patient

    return Patient.objects.get(uid=uid)


def test_the_eicar_file_is_refused_quarantined_and_alerted(
    scanner: str, practitioner: Any, patient: Any
) -> None:
    """E2: the scanner finds the EICAR test file; it is kept sealed in quarantine, never listed
    or served, and the auditor's alerts show it."""
    started = timezone.now()
    actor = actor_for(practitioner)
    attached = services.attach_document(actor, patient.uid, name="invoice.pdf", data=EICAR)
    assert attached.quarantined and attached.signature.startswith(SIGNATURE)
    row = Document.objects.get(uid=attached.uid)
    assert row.status == Document.Status.QUARANTINED
    assert row.content_type == services.QUARANTINE_TYPE
    assert EICAR not in bytes(row.content)  # sealed like any document
    event = _last(resource="documents.Document")
    assert json.loads(event.detail)["problem"] == INFECTED
    assert services.patient_documents(actor, patient.uid) == []
    with pytest.raises(Http404):
        services.open_document(actor, attached.uid)
    (alert,) = [a for a in alerts.detect(started) if a.kind == "virus"]
    assert (alert.severity, alert.patient_ref) == ("high", str(patient.uid))
    assert alert.reason.startswith(SIGNATURE) and alert.who == practitioner.username


def test_without_the_scanner_an_upload_is_refused_never_kept_unscanned(
    practitioner: Any, patient: Any, settings: Any, tmp_path: Any
) -> None:
    """E2: clamd down: refused with a clear message, audited, nothing kept."""
    settings.SECRETUM_CLAMD_SOCKET = str(tmp_path / "no-clamd.sock")
    settings.SECRETUM_SCANNER_WAIT = 0
    with pytest.raises(ValidationError, match="antivirus scanner is not available"):
        services.attach_document(
            actor_for(practitioner), patient.uid, name="a.png", data=samples.png()
        )
    assert not Document.objects.exists()
    assert _last(resource="documents.Document").outcome == "failure"


def test_the_practice_may_have_uploads_wait_for_the_scanner(
    practitioner: Any, patient: Any, settings: Any, tmp_path: Any
) -> None:
    """E2: SECRETUM_SCANNER_WAIT: the upload waits that long for clamd, then is refused."""
    settings.SECRETUM_CLAMD_SOCKET = str(tmp_path / "no-clamd.sock")
    settings.SECRETUM_SCANNER_WAIT = 2
    started = time.monotonic()
    with pytest.raises(ValidationError, match="not available"):
        services.attach_document(
            actor_for(practitioner), patient.uid, name="a.png", data=samples.png()
        )
    assert time.monotonic() - started >= 2
    assert not Document.objects.exists()


def test_a_reader_without_medical_access_never_opens_a_documents_bytes(
    scanner: str, practitioner: Any, secretary: Any, patient: Any
) -> None:
    """C1: the reader decides the content like any medical field (access/fields.py)."""
    from secretum.access.fields import FieldReader, FieldRefused

    uid = services.attach_document(
        actor_for(practitioner), patient.uid, name="a.png", data=samples.png()
    ).uid
    row = Document.objects.get(uid=uid)
    key = patients.patient_key(_row(str(patient.uid)))
    for reader in (
        FieldReader(actor_for(secretary), key, medical=True),
        FieldReader(actor_for(practitioner), key, medical=False),
    ):
        with pytest.raises(FieldRefused):
            reader.open_bytes(row, "content", row.content_aad())
    allowed = FieldReader(actor_for(practitioner), key, medical=True)
    assert allowed.open_bytes(row, "content", row.content_aad()) == samples.png()
