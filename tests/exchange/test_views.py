"""The patient's copy from the chart (GDPR art. 15/20; L1, E7, M3): a practitioner in care
makes, in one POST, a PDF the patient reads and the FHIR bundle, both sealed by the one delivery
chosen: under a passphrase (the PDF's own AES-256 and an age file, the same passphrase, shown on
the answer's page only), for an age key (both age files), or in clear with a reason. One export
event names both files, never the passphrase."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
from typing import Any

import pytest
from django.utils import timezone

from secretum.access.policy import Role
from secretum.clinical import services as clinical
from secretum.crypto import age
from secretum.crypto.sealing import pdf_encrypted
from tests.conftest import actor_for, client_for, events, make_user
from tests.pdf import pdf_text

# A medication with every field the copy carries (issue 15), recorded beside the full chart's.
MEDICATION = {
    "drug": "Quzartan", "strength": "40 mg", "dose": "1 tablet", "frequency": "every morning",
    "route": "oral", "start": "2026-01-05", "stop": "2026-04-05",
}  # fmt: skip


def _files(page: str) -> dict[str, tuple[str, str, bytes]]:
    """The files the answer carries, by their test id: name, media type, bytes."""
    found = {
        testid: (name, kind, base64.b64decode(data))
        for kind, data, name, testid in re.findall(
            r'href="data:([a-z/+-]+);base64,([A-Za-z0-9+/=]+)" download="([^"]+)" '
            r'data-testid="copy-(pdf|fhir)"',
            page,
        )
    }
    assert set(found) == {"pdf", "fhir"}, "both files are on the page"
    return found


def _passphrase(page: str) -> str:
    found = re.search(r'data-testid="copy-passphrase"><code>([a-z0-9-]+)</code>', page)
    assert found, page
    return found.group(1)


def _detail(event: Any) -> dict[str, Any]:
    return json.loads(event.detail)


def test_the_chart_offers_the_copy_and_the_page_gives_both_files_under_one_passphrase(
    practitioner: Any, full_chart: Any
) -> None:
    """E7, M3: the PDF under its own AES-256 and the bundle in age, one passphrase for both,
    shown once; the PDF is the whole record (each entry with its day and author)."""
    clinical.record_entry(actor_for(practitioner), full_chart.uid, "medication", MEDICATION)
    client = client_for(practitioner)
    chart = client.get(f"/patients/{full_chart.uid}/").content.decode()
    assert f'href="/exchange/{full_chart.uid}/copy/"' in chart
    form = client.get(f"/exchange/{full_chart.uid}/copy/")
    assert form.status_code == 200 and full_chart.family_name.upper() in form.content.decode()
    answer = client.post(f"/exchange/{full_chart.uid}/copy/", {"recipient": ""})
    assert answer.status_code == 200 and answer["Cache-Control"] == "no-store"
    page = answer.content.decode()
    passphrase = _passphrase(page)
    files = _files(page)
    (pdf_name, pdf_type, pdf), (fhir_name, fhir_type, blob) = files["pdf"], files["fhir"]
    assert (pdf_type, fhir_type) == ("application/pdf", "application/octet-stream")
    assert pdf_name.endswith(".pdf") and fhir_name.endswith(".fhir.json.age")
    # The PDF: opened by any reader with the passphrase, and not without it.
    assert pdf_encrypted(pdf) and full_chart.family_name.encode() not in pdf
    with pytest.raises(subprocess.CalledProcessError):
        pdf_text(pdf)
    with pytest.raises(subprocess.CalledProcessError):
        pdf_text(pdf, password="not-the-passphrase")
    text = pdf_text(pdf, password=passphrase)
    assert "GDPR art. 15" in text and full_chart.family_name.upper() in text
    assert full_chart.niss_display in text
    day = timezone.localdate().strftime("%d/%m/%Y")
    assert f"{day}, recorded by {practitioner}" in text
    for said in (
        "Fictitious hypertension", "Quzicillin", "Fictitious rash", "Quzpril 5 mg",
        "Blood pressure", "135/85 mmHg", "Quzvirus RNA", "126 mg/dL (high)", "Quzflu 2026",
        "Reason for encounter: Fictitious follow-up", "Feels <well>", "See again & check",
        "Product or substance: Quzartan", "Strength: 40 mg", "Route: oral",
        "Start: 05/01/2026", "Stop: 05/04/2026",
    ):  # fmt: skip
        assert said in text, said
    assert "Number of packages" not in text  # the prescription's, not the record's
    # The bundle: the same passphrase opens it.
    assert full_chart.family_name.encode() not in blob
    bundle = json.loads(b"".join(age.decrypt(io.BytesIO(blob), age.ScryptIdentity(passphrase))))
    assert bundle["entry"][0]["resource"]["identifier"][0]["value"] == full_chart.niss
    assert full_chart.family_name not in page  # the answer names no one but in the files
    assert 'data-testid="copy-altered"' not in page
    # One export event for the two files, naming both, never the passphrase.
    (event,) = events(action="export")
    assert event.outcome == "success" and passphrase not in event.detail
    detail = _detail(event)
    assert (detail["for"], detail["format"], detail["encryption"]) == (
        "patient's copy", "fhir-r4+pdf", "age-scrypt",
    )  # fmt: skip
    assert detail["files"] == [
        {"file": fhir_name, "format": "fhir-r4", "protection": "age-scrypt"},
        {"file": pdf_name, "format": "pdf", "protection": "pdf-aes256"},
    ]
    assert detail["entries"]["medication"] == 2 and detail["language"] == "en"


def test_the_pdf_in_the_patients_language_chosen_on_the_page(
    practitioner: Any, full_chart: Any
) -> None:
    client = client_for(practitioner)
    form = client.get(f"/exchange/{full_chart.uid}/copy/").content.decode()
    assert 'name="language"' in form and '<option value="en" selected>' in form
    page = client.post(
        f"/exchange/{full_chart.uid}/copy/", {"delivery": "passphrase", "language": "nl"}
    ).content.decode()
    text = pdf_text(_files(page)["pdf"][2], password=_passphrase(page))
    assert "Allergieën" in text and "Vaccinaties" in text and "Quzicillin" in text
    assert _detail(events(action="export")[0])["language"] == "nl"
    refused = client.post(f"/exchange/{full_chart.uid}/copy/", {"language": "de"})
    assert "base64," not in refused.content.decode() and len(events(action="export")) == 1


def test_for_the_patients_key_both_files_in_age_and_a_wrong_key_said_clearly(
    practitioner: Any, full_chart: Any
) -> None:
    """For an age key, the PDF too is an age file (.pdf.age), as every PDF handed out is."""
    client = client_for(practitioner)
    identity = age.X25519Identity.generate()
    key = identity.recipient().encode()
    page = client.post(
        f"/exchange/{full_chart.uid}/copy/", {"delivery": "recipient", "delivery_key": key}
    ).content.decode()
    assert 'data-testid="copy-passphrase"' not in page
    files = _files(page)
    (pdf_name, pdf_type, sealed_pdf), (fhir_name, _type, blob) = files["pdf"], files["fhir"]
    assert pdf_name.endswith(".pdf.age") and pdf_type == "application/octet-stream"
    pdf = b"".join(age.decrypt(io.BytesIO(sealed_pdf), identity))
    assert not pdf_encrypted(pdf) and full_chart.family_name.upper() in pdf_text(pdf)
    bundle = json.loads(b"".join(age.decrypt(io.BytesIO(blob), identity)))
    assert bundle["type"] == "collection"
    detail = _detail(events(action="export")[0])
    assert (detail["encryption"], detail["recipient"]) == ("age-x25519", key)
    assert [f["protection"] for f in detail["files"]] == ["age-x25519", "age-x25519"]
    assert [f["file"] for f in detail["files"]] == [fhir_name, pdf_name]
    wrong = client.post(
        f"/exchange/{full_chart.uid}/copy/", {"delivery": "recipient", "delivery_key": "not-a-key"}
    )
    assert wrong.status_code == 200 and "not an age public key" in wrong.content.decode()
    assert len(events(action="export")) == 1


def test_in_clear_only_with_a_reason_as_on_the_command_line(
    practitioner: Any, full_chart: Any
) -> None:
    """E7, M3: the web as the command line: a plain copy needs its reason, which the event keeps;
    then both files are in clear."""
    client = client_for(practitioner)
    url = f"/exchange/{full_chart.uid}/copy/"
    refused = client.post(url, {"delivery": "plain", "delivery_reason": "short"})
    assert "base64," not in refused.content.decode() and not events(action="export")
    reason = "Le patient demande une copie lisible sur sa clé USB (fictif)."
    page = client.post(url, {"delivery": "plain", "delivery_reason": reason}).content.decode()
    assert 'data-testid="copy-passphrase"' not in page
    files = _files(page)
    (pdf_name, pdf_type, pdf), (fhir_name, fhir_type, bundle) = files["pdf"], files["fhir"]
    assert (pdf_type, fhir_type) == ("application/pdf", "application/fhir+json")
    assert not pdf_encrypted(pdf) and "Quzicillin" in pdf_text(pdf)
    assert json.loads(bundle)["entry"][0]["resource"]["identifier"][0]["value"] == full_chart.niss
    (event,) = events(action="export")
    detail = _detail(event)
    assert (detail["encryption"], detail["plain_reason"]) == ("none", reason)
    assert detail["files"] == [
        {"file": fhir_name, "format": "fhir-r4", "protection": "none"},
        {"file": pdf_name, "format": "pdf", "protection": "none"},
    ]
    assert fhir_name.endswith(".fhir.json") and pdf_name.endswith(".pdf")


@pytest.mark.parametrize("role", [Role.SECRETARY, Role.NURSE])
def test_refused_to_the_secretary_and_the_nurse(role: Role, full_chart: Any) -> None:
    """L1: the nurse reads the chart in care but does not hand the record out."""
    client = client_for(make_user(role))
    assert client.get(f"/exchange/{full_chart.uid}/copy/").status_code == 403
    assert client.post(f"/exchange/{full_chart.uid}/copy/").status_code == 403
    assert not events(action="export")


def test_refused_to_a_practitioner_without_care(full_chart: Any) -> None:
    stranger = client_for(make_user(Role.PRACTITIONER))
    answer = stranger.post(f"/exchange/{full_chart.uid}/copy/", {"recipient": ""})
    assert answer.status_code == 403 and b"base64," not in answer.content
    (event,) = events(action="export")
    assert event.outcome == "denied"


def test_a_record_altered_outside_secretum_is_said_on_the_copy(
    practitioner: Any, full_chart: Any
) -> None:
    """Patient safety: a copy of a record with an entry deleted in the database says so, on the
    page and in the PDF the patient reads."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM clinical_allergy WHERE substance IS NOT NULL")
    page = (
        client_for(practitioner)
        .post(f"/exchange/{full_chart.uid}/copy/", {"recipient": ""})
        .content.decode()
    )
    assert 'data-testid="copy-altered"' in page
    text = pdf_text(_files(page)["pdf"][2], password=_passphrase(page))
    assert "altered outside Secretum: this copy may lack entries" in text
    assert "Allergies None recorded." in text
    (event,) = events(action="export")
    assert event.outcome == "success"  # the alert itself is the chart's (test_record_integrity)
