"""Nothing leaves in clear (issue 14; E7, M3): every download of the auditor, the manager and the
practitioner (the access report, the printed summary, the audit log's export, the maintenance
log's export) is encrypted by default, under a passphrase shown once or for an age key; in clear
only with a reason, audited in the download's own event; the passphrase nowhere but on the
answer's page. Files are opened as a recipient would: poppler for PDFs, Debian's ``age``."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from secretum.access.policy import Role
from secretum.compliance.models import PrintLog
from secretum.crypto import age
from tests.conftest import SecureClient, client_for, events, make_user
from tests.exchange.conftest import AGE, age_keypair, run_age
from tests.pdf import PDFTOTEXT, pdf_text

PASSPHRASE = re.compile(r'data-testid="delivered-passphrase"><code>([a-z0-9-]+)</code>')
LINK = re.compile(r'href="data:([a-z/+.;= -]+);base64,([A-Za-z0-9+/=]+)" download="([^"]+)"')
REASON = "The patient asked for a paper copy at the desk."


def _delivered(response: Any) -> tuple[str, bytes, str, str]:
    """The passphrase, the file, its name and media type of a passphrase page."""
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    page = response.content.decode()
    said, link = PASSPHRASE.search(page), LINK.search(page)
    assert said and link, page
    return said.group(1), base64.b64decode(link.group(2)), link.group(3), link.group(1)


def _opens_without(data: bytes) -> bool:
    assert PDFTOTEXT
    done = subprocess.run([PDFTOTEXT, "-", "-"], input=data, capture_output=True, check=False)
    return done.returncode == 0


def _everywhere(secret: str, response: Any, caplog: Any) -> list[str]:
    """Where the secret shows besides the page body: headers, the log records, any table."""
    found = []
    if secret in " ".join(f"{k}: {v}" for k, v in response.items()):
        found.append("headers")
    if secret in caplog.text:
        found.append("logs")
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (names from the schema)
            if secret in repr(cursor.fetchall()):
                found.append(table)
    return found


# --- the patient access report (GDPR art. 15): patient data -> encrypted ---------------------


def test_the_access_report_leaves_as_a_pdf_only_its_passphrase_opens(
    auditor: Any, patient: Any, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    client = client_for(auditor)
    url = f"/audit/report/{patient.uid}/pdf/"
    asked = client.get(url)
    assert asked.status_code == 200 and b'data-testid="delivery"' in asked.content
    assert b"%PDF" not in asked.content and not events(action="print")
    answer = client.post(url, {"delivery": "passphrase"})
    passphrase, data, name, kind = _delivered(answer)
    assert (name, kind) == ("access-report.pdf", "application/pdf")
    assert data.startswith(b"%PDF-") and not _opens_without(data)
    assert patient.family_name.encode() not in data
    assert patient.family_name.upper() in pdf_text(data, password=passphrase).upper()
    (event,) = events(action="print")
    detail = json.loads(event.detail)
    assert (event.resource, detail["encryption"]) == ("audit.AccessReport", "pdf-aes256")
    assert _everywhere(passphrase, answer, caplog) == []
    # Replayed, the same request makes another file under another passphrase (and its event):
    # the first passphrase opens nothing new, and a GET gets the question, never a file.
    again, other, _, _ = _delivered(client.post(url, {"delivery": "passphrase"}))
    assert again != passphrase and not _opens_without(other)
    with pytest.raises(subprocess.CalledProcessError):
        pdf_text(other, password=passphrase)
    assert b"%PDF" not in client.get(url).content and len(events(action="print")) == 2


def test_an_attacker_replaying_the_download_gets_no_file(auditor: Any, patient: Any) -> None:
    url = f"/audit/report/{patient.uid}/pdf/"
    client_for(auditor).post(url, {"delivery": "passphrase"})
    anonymous = SecureClient().post(url, {"delivery": "passphrase"})
    assert anonymous.status_code == 302 and b"%PDF" not in anonymous.content
    for role in (Role.PRACTITIONER, Role.SECRETARY, Role.MANAGER):
        other = client_for(make_user(role)).post(
            url, {"delivery": "plain", "delivery_reason": REASON}
        )
        assert other.status_code == 403 and b"%PDF" not in other.content
    assert len(events(action="print", outcome="success")) == 1


# --- the printed patient summary (P1, C3): patient data -> encrypted; a print stays a print ----


def test_the_printed_summary_in_clear_needs_a_reason_and_the_event_keeps_it(
    practitioner: Any, patient: Any
) -> None:
    client = client_for(practitioner)
    url = f"/compliance/print/{patient.uid}/"
    for reason in ("", "too short", "x" * 201, "tab\x07bell in it, long enough"):
        refused = client.post(url, {"delivery": "plain", "delivery_reason": reason})
        assert refused.status_code == 400 and b"%PDF" not in refused.content
        assert "reason, in 10 to 200 characters" in refused.content.decode()
    assert not events(action="print") and not PrintLog.objects.exists()
    answer = client.post(url, {"delivery": "plain", "delivery_reason": f"  {REASON}  "})
    assert answer["Content-Type"] == "application/pdf" and answer["Cache-Control"] == "no-store"
    assert answer["Content-Disposition"].startswith('attachment; filename="patient-summary-')
    assert patient.family_name.upper() in pdf_text(answer.content).upper()
    (event,) = events(action="print")
    detail = json.loads(event.detail)
    assert (detail["encryption"], detail["plain_reason"]) == ("none", REASON)
    assert detail["document"] == "patient-summary" and PrintLog.objects.count() == 1


def test_the_printed_summary_for_an_age_key_opens_with_its_identity_only(
    practitioner: Any, patient: Any, tmp_path: Path
) -> None:
    key, public = age_keypair(tmp_path)
    client = client_for(practitioner)
    answer = client.post(
        f"/compliance/print/{patient.uid}/", {"delivery": "recipient", "delivery_key": public}
    )
    assert answer["Content-Type"] == "application/octet-stream"
    assert re.search(r'filename="patient-summary-[0-9-]+\.pdf\.age"', answer["Content-Disposition"])
    sealed = tmp_path / "summary.pdf.age"
    sealed.write_bytes(answer.content)
    opened = subprocess.run(["age", "-d", "-i", str(key), str(sealed)], capture_output=True)
    assert opened.returncode == 0, opened.stderr
    assert patient.family_name.upper() in pdf_text(opened.stdout).upper()
    (event,) = events(action="print")
    assert json.loads(event.detail)["recipient"] == public
    assert json.loads(event.detail)["encryption"] == "age-x25519"
    for bad in ({"delivery": "recipient"}, {"delivery": "recipient", "delivery_key": "age1nope"}):
        refused = client.post(f"/compliance/print/{patient.uid}/", bad)
        assert refused.status_code == 400 and b"%PDF" not in refused.content
    assert len(events(action="print")) == 1


def test_the_chart_links_to_the_question_not_to_a_file(practitioner: Any, patient: Any) -> None:
    client = client_for(practitioner)
    chart = client.get(f"/patients/{patient.uid}/").content.decode()
    assert f'href="/compliance/print/{patient.uid}/" data-testid="print-summary"' in chart
    asked = client.get(f"/compliance/print/{patient.uid}/")
    assert asked.status_code == 200 and b'value="passphrase"' in asked.content
    assert b'value="passphrase" checked' in asked.content or b"checked" in asked.content
    assert not events(action="print")


def test_the_printed_summary_under_a_passphrase(practitioner: Any, patient: Any) -> None:
    answer = client_for(practitioner).post(
        f"/compliance/print/{patient.uid}/", {"delivery": "passphrase"}
    )
    passphrase, data, name, _ = _delivered(answer)
    assert name.startswith("patient-summary-") and name.endswith(".pdf")
    assert not _opens_without(data)
    assert patient.family_name.upper() in pdf_text(data, password=passphrase).upper()
    assert json.loads(events(action="print")[0].detail)["encryption"] == "pdf-aes256"


# --- the audit log's export (D2): names patients and users -> encrypted ------------------------


@pytest.mark.skipif(AGE is None, reason="Debian's age is needed: make system-deps")
def test_the_audit_export_is_an_age_file_debians_age_opens(
    auditor: Any, patient: Any, tmp_path: Path, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    client = client_for(auditor)
    log = client.get("/audit/").content.decode()
    assert 'data-testid="delivery"' in log and 'value="passphrase"' in log
    answer = client.post("/audit/export/", {"patient": patient.uid, "format": "csv"})
    passphrase, data, name, kind = _delivered(answer)
    assert re.fullmatch(r"audit-[0-9-]+\.csv\.age", name) and kind == "application/octet-stream"
    assert str(patient.uid).encode() not in data
    sealed = tmp_path / name
    sealed.write_bytes(data)
    status, said = run_age(["-d", "-o", str(tmp_path / "out.csv"), str(sealed)], "wrong")
    assert status != 0 and not (tmp_path / "out.csv").exists()
    status, said = run_age(["-d", "-o", str(tmp_path / "out.csv"), str(sealed)], passphrase)
    assert status == 0, said
    assert str(patient.uid) in (tmp_path / "out.csv").read_text()
    (event,) = events(action="export")
    assert json.loads(event.detail)["encryption"] == "age-scrypt"
    assert _everywhere(passphrase, answer, caplog) == []


def test_the_audit_export_in_ndjson_for_a_key_and_a_bad_choice_refused(
    auditor: Any, patient: Any
) -> None:
    identity = age.X25519Identity.generate()
    client = client_for(auditor)
    answer = client.post(
        "/audit/export/",
        {
            "format": "ndjson",
            "delivery": "recipient",
            "delivery_key": identity.recipient().encode(),
        },
    )
    assert answer["Content-Type"] == "application/octet-stream"
    assert answer["X-Secretum-Events"].isdigit()
    lines = b"".join(age.decrypt(io.BytesIO(answer.content), identity)).splitlines()
    assert json.loads(lines[0])["resourceType"] == "AuditEvent"
    bad = client.post("/audit/export/", {"format": "csv", "delivery": "plain"})
    assert bad.status_code == 400 and "reason, in 10 to 200" in bad.content.decode()
    assert len(events(action="export")) == 1


# --- the maintenance log's export (K1): names technicians -> encrypted ------------------------


def test_the_maintenance_export_under_a_passphrase_and_in_clear_with_a_reason(
    auditor: Any,
) -> None:
    client = client_for(auditor)
    asked = client.get("/maintenance/export.csv")
    assert asked.status_code == 200 and b'data-testid="delivery"' in asked.content
    assert not events(action="export")
    passphrase, data, name, _ = _delivered(client.post("/maintenance/export.csv", {}))
    assert name.endswith(".csv.age")
    text = b"".join(age.decrypt(io.BytesIO(data), age.ScryptIdentity(passphrase))).decode()
    assert text.startswith("number,")
    plain = client.post("/maintenance/export.csv", {"delivery": "plain", "delivery_reason": REASON})
    assert plain["Content-Type"].startswith("text/csv") and plain.content.startswith(b"number,")
    kinds = [json.loads(e.detail)["encryption"] for e in events(action="export")]
    assert kinds == ["age-scrypt", "none"]
