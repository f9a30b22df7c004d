"""The signed report of the register (L3): PDF and HTML with every measure, detached Ed25519
signatures that an auditor checks with `secretum compliance verify-report`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from secretum.access.actor import AccessDenied
from secretum.access.policy import Role
from secretum.compliance import catalogue, reports, signing
from tests.compliance.test_catalogue import EXPECTED_IDS
from tests.conftest import actor_for, client_for, events, make_user
from tests.pdf import pdf_text


@pytest.fixture
def issued(manager: Any) -> reports.ReportView:
    return reports.issue_report(actor_for(manager))


def test_the_pdf_holds_every_measure_id(manager: Any, issued: reports.ReportView) -> None:
    pdf = reports.report_file(actor_for(manager), issued.uid, "pdf").data
    assert pdf.startswith(b"%PDF")
    cells = set(pdf_text(pdf).split())
    assert set(EXPECTED_IDS) <= cells
    assert set(catalogue.IDS) <= cells
    assert issued.measures == 59


def test_the_html_holds_every_measure_with_its_status(
    manager: Any, issued: reports.ReportView
) -> None:
    html = reports.report_file(actor_for(manager), issued.uid, "html").data.decode()
    assert html.startswith("<!doctype html>") and "<script" not in html and "style" not in html
    for measure_id in EXPECTED_IDS:
        assert f'data-testid="report-{measure_id}"><td>{measure_id}</td>' in html


def test_both_files_carry_a_valid_detached_signature(
    manager: Any, issued: reports.ReportView
) -> None:
    actor = actor_for(manager)
    public = reports.report_public_key(actor)
    for part in ("pdf", "html"):
        data = reports.report_file(actor, issued.uid, part).data
        sig = reports.report_file(actor, issued.uid, f"{part}-sig").data.decode()
        assert signing.verify(data, sig, public).ok
        assert not signing.verify(data + b" ", sig, public).ok


def test_the_signing_key_is_owner_only(issued: reports.ReportView) -> None:
    assert signing.key_path().stat().st_mode & 0o777 == 0o600


def test_verify_report_command(manager: Any, issued: reports.ReportView, tmp_path: Path) -> None:
    actor = actor_for(manager)
    pdf = tmp_path / "register.pdf"
    sig = tmp_path / "register.pdf.sig"
    pem = tmp_path / "key.pem"
    pdf.write_bytes(reports.report_file(actor, issued.uid, "pdf").data)
    sig.write_bytes(reports.report_file(actor, issued.uid, "pdf-sig").data)
    pem.write_bytes(reports.report_public_key(actor))

    call_command("compliance_verify_report", str(pdf), str(sig), public_key=str(pem))
    call_command("compliance_verify_report", str(pdf), str(sig))  # the instance's own key

    data = bytearray(pdf.read_bytes())
    data[len(data) // 2] ^= 1
    pdf.write_bytes(bytes(data))
    with pytest.raises(CommandError, match="NOT authentic"):
        call_command("compliance_verify_report", str(pdf), str(sig), public_key=str(pem))


def test_a_signature_under_another_key_is_refused(manager: Any, issued: reports.ReportView) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    actor = actor_for(manager)
    data = reports.report_file(actor, issued.uid, "pdf").data
    sig = reports.report_file(actor, issued.uid, "pdf-sig").data.decode()
    other = signing.public_key_pem(Ed25519PrivateKey.generate().public_key())
    result = signing.verify(data, sig, other)
    assert not result.ok and "names key" in result.message


def test_issuing_a_report_is_audited(manager: Any, issued: reports.ReportView) -> None:
    event = events(resource="compliance.Report")[-1]
    assert (event.action, event.resource_ref) == ("export", issued.uid)
    assert '"measures":59' in event.detail


def test_the_auditor_issues_and_reads_reports_the_secretary_does_not(db: Any) -> None:
    auditor = make_user(Role.AUDITOR)
    issued = reports.issue_report(actor_for(auditor))
    assert [r.uid for r in reports.list_reports(actor_for(auditor))] == [issued.uid]
    secretary = make_user(Role.SECRETARY)
    with pytest.raises(AccessDenied):
        reports.issue_report(actor_for(secretary))
    with pytest.raises(AccessDenied):
        reports.report_file(actor_for(secretary), issued.uid, "pdf")


def test_the_report_pages(manager: Any) -> None:
    client = client_for(manager)
    response = client.post("/compliance/reports/")
    assert response.status_code == 302
    page = client.get("/compliance/reports/").content.decode()
    uid = re.search(r'id="report-([0-9a-f-]{36})"', page)
    assert uid is not None
    url = f"/compliance/reports/{uid.group(1)}"
    # E7, M3: the report (it names staff) leaves encrypted by default, in clear with a reason
    # kept by its export event; a signature leaves as it is, and only to a GET.
    assert b'data-testid="delivery"' in client.get(f"{url}/pdf/").content
    assert b'data-testid="delivered-passphrase"' in client.post(f"{url}/html/").content
    reason = "Copie pour l'inspection, au format papier (fictif)."
    response = client.post(f"{url}/pdf/", {"delivery": "plain", "delivery_reason": reason})
    assert response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    exports = events(action="export", resource="compliance.Report")
    assert [json.loads(e.detail).get("encryption") for e in exports[-2:]] == ["age-scrypt", "none"]
    assert client.get(f"{url}/pdf-sig/")["Content-Type"].startswith("text/plain")
    assert client.post(f"{url}/pdf-sig/").status_code == 405
    assert client.get(f"{url}/nothing/").status_code == 404
    key = client.get("/compliance/reports/public-key/")
    assert key.content.startswith(b"-----BEGIN PUBLIC KEY-----")
    printable = client.get("/compliance/report/").content.decode()
    assert all(f'data-testid="report-{i}"' in printable for i in EXPECTED_IDS)


def test_the_secretum_command_names(
    manager: Any, issued: reports.ReportView, tmp_path: Path, capsys: Any
) -> None:
    from secretum.cli import main

    actor = actor_for(manager)
    pdf, sig = tmp_path / "r.pdf", tmp_path / "r.pdf.sig"
    pdf.write_bytes(reports.report_file(actor, issued.uid, "pdf").data)
    sig.write_bytes(reports.report_file(actor, issued.uid, "pdf-sig").data)
    assert main(["compliance", "verify-report", str(pdf), str(sig)]) == 0
    assert "report authentic" in capsys.readouterr().out
    pdf.write_bytes(b"%PDF-1.4 another file")
    assert main(["compliance", "verify-report", str(pdf), str(sig)]) == 1
    assert "NOT authentic" in capsys.readouterr().err
    assert main(["compliance", "summary"]) == 0
    assert "measures are not met yet" in capsys.readouterr().out
