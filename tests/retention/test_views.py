"""J2: the pages of retention and destruction, as each role meets them."""

from __future__ import annotations

import base64
import io
import json
import re
from typing import Any

from secretum.crypto import age
from secretum.patients.models import Patient
from secretum.retention.models import DestructionCertificate, ErasureRequest
from tests.conftest import client_for, events
from tests.maintenance.test_windows import sudo_client


def test_the_manager_sees_the_due_record_by_reference_never_by_name(
    old_record: str, manager: Any
) -> None:
    page = client_for(manager).get("/records/due/")
    assert page.status_code == 200
    body = page.content.decode()
    assert old_record in body and "Zyxwvutska" not in body and "Quilline" not in body
    assert f"/records/{old_record}/destroy/" in body


def test_no_destruction_without_re_authentication(old_record: str, manager: Any) -> None:
    """J2: a signed-in manager is sent to confirm their password and second factor first."""
    answer = client_for(manager).post(f"/records/{old_record}/destroy/", {"confirm": "on"})
    assert answer.status_code == 302 and answer["Location"].startswith("/accounts/confirm/")
    assert Patient.objects.filter(uid=old_record).exists()


def test_the_box_must_be_ticked(old_record: str, manager: Any) -> None:
    answer = sudo_client(manager).post(f"/records/{old_record}/destroy/", {})
    assert answer.status_code == 302 and answer["Location"] == "/records/due/"
    assert Patient.objects.filter(uid=old_record).exists()


def test_a_destroyed_patients_pages_answer_not_found(
    old_record: str, manager: Any, practitioner: Any
) -> None:
    """J2: after re-authentication the record is destroyed and its certificate shown; the
    patient's own pages then answer 404, cleanly."""
    client = sudo_client(manager)
    answer = client.post(f"/records/{old_record}/destroy/", {"confirm": "on"})
    certificate = DestructionCertificate.objects.get(patient_ref=old_record)
    assert answer["Location"] == f"/records/certificates/{certificate.uid}/"
    page = client.get(answer["Location"])
    assert page.status_code == 200 and b"Signature valid" in page.content
    assert b"Rotate the key" in page.content
    # E7, M3: the text leaves encrypted by default (an age file under a passphrase shown once),
    # in clear with a reason, which its read event keeps.
    url = f"/records/certificates/{certificate.uid}/certificate.txt"
    assert b'data-testid="delivery"' in client.get(url).content
    secret = client.post(url).content.decode()
    passphrase = re.search(r'delivered-passphrase"><code>([a-z0-9-]+)<', secret)
    link = re.search(r"base64,([A-Za-z0-9+/=]+)", secret)
    assert passphrase and link and certificate.text not in secret
    sealed = io.BytesIO(base64.b64decode(link.group(1)))
    opened = b"".join(age.decrypt(sealed, age.ScryptIdentity(passphrase.group(1))))
    assert opened == certificate.text.encode()
    reason = "Copie pour le registre des destructions (fictif)."
    plain = client.post(url, {"delivery": "plain", "delivery_reason": reason})
    assert plain.content == certificate.text.encode()
    read = events(action="read", resource="retention.DestructionCertificate")[-1]
    assert json.loads(read.detail)["plain_reason"] == reason
    doctor = client_for(practitioner)
    for url in (f"/patients/{old_record}/", f"/patients/{old_record}/edit/"):
        assert doctor.get(url).status_code == 404, url
    again = client.post(f"/records/{old_record}/destroy/", {"confirm": "on"})
    assert again["Location"] == "/records/due/"
    assert DestructionCertificate.objects.count() == 1


def test_a_practitioner_records_an_erasure_request_under_the_law(
    practitioner: Any, patient: Any
) -> None:
    """J2, GDPR art. 17: the page states that retention law normally forbids erasure; the basis
    comes from a closed list and must be confirmed."""
    client = client_for(practitioner)
    page = client.get(f"/records/{patient.uid}/erasure/")
    assert b"at least 30 years" in page.content and b"17(3)" in page.content
    refused = client.post(f"/records/{patient.uid}/erasure/", {"basis": "art17-1d-unlawful"})
    assert refused.status_code == 400 and not ErasureRequest.objects.exists()
    done = client.post(
        f"/records/{patient.uid}/erasure/", {"basis": "art17-1d-unlawful", "confirm": "on"}
    )
    assert done["Location"] == f"/patients/{patient.uid}/"
    assert ErasureRequest.objects.get().basis == "art17-1d-unlawful"


def test_the_auditor_reads_the_list_but_cannot_destroy(old_record: str, auditor: Any) -> None:
    client = client_for(auditor)
    body = client.get("/records/due/").content.decode()
    assert old_record in body and "/destroy/" not in body
    assert client.post(f"/records/{old_record}/destroy/", {"confirm": "on"}).status_code == 403
