"""The register's pages: who sees what, declarations and documents through the forms, the
manager's home page reminders, the daily summary by e-mail."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from secretum.access.policy import Role
from secretum.breaches import services as breaches
from secretum.compliance import register
from secretum.compliance.models import Declaration
from tests.compliance.test_catalogue import EXPECTED_IDS
from tests.conftest import actor_for, client_for, make_user


def test_the_manager_sees_every_measure_and_manages(manager: Any) -> None:
    page = client_for(manager).get("/compliance/")
    assert page.status_code == 200
    html = page.content.decode()
    for measure_id in EXPECTED_IDS:
        assert f'data-testid="measure-{measure_id}"' in html
    assert 'data-testid="profile-form"' in html
    assert "Authentification des utilisateurs" not in html  # English for this reader…
    assert "User authentication (staff / informal carers)" in html


@pytest.mark.parametrize(("language", "label"), [
    ("fr", "Authentification des utilisateurs (membres du personnel / proches aidants)"),
    ("nl", "Authenticatie van de gebruikers (personeelsleden / mantelzorgers)"),
])  # fmt: skip
def test_the_register_speaks_the_readers_language(manager: Any, language: str, label: str) -> None:
    page = client_for(manager).get("/compliance/", headers={"Accept-Language": language})
    html = page.content.decode()
    assert label in html
    text = {"fr": "Authentification à double facteur", "nl": "Tweefactorauthenticatie"}[language]
    assert text in html


def test_the_auditor_reads_without_forms(db: Any) -> None:
    auditor = make_user(Role.AUDITOR)
    html = client_for(auditor).get("/compliance/").content.decode()
    assert 'data-testid="measure-B3"' in html and 'data-testid="profile-form"' not in html
    measure = client_for(auditor).get("/compliance/measures/b3/").content.decode()
    assert 'data-testid="declaration-form"' not in measure
    response = client_for(auditor).post("/compliance/measures/b3/declare/", {"choice": "adopted"})
    assert response.status_code == 403


@pytest.mark.parametrize("role", [Role.PRACTITIONER, Role.SECRETARY, Role.MAINTAINER])
def test_other_roles_reach_help_but_not_the_register(db: Any, role: Role) -> None:
    client = client_for(make_user(role))
    assert client.get("/compliance/").status_code == 403
    assert client.get("/compliance/breaches/").status_code == 403
    help_page = client.get("/compliance/help/")
    assert help_page.status_code == 200
    assert b'data-testid="nav-help"' in help_page.content
    assert b'data-testid="nav-compliance"' not in help_page.content


def test_declaring_through_the_form(manager: Any) -> None:
    client = client_for(manager)
    data = {
        "choice": "not-needed",
        "justification": "No tablet or phone in the practice: nothing to separate or lend.",
        "owner": str(manager.pk),
        "next_review": (timezone.localdate() + dt.timedelta(days=365)).isoformat(),
    }
    response = client.post("/compliance/measures/e8/declare/", data)
    assert response.status_code == 302 and response["Location"] == "/compliance/measures/e8/"
    page = client.get("/compliance/measures/e8/").content.decode()
    assert 'data-status="declared"' in page and "No tablet or phone" in page
    bad = client.post("/compliance/measures/e8/declare/", {**data, "justification": ""})
    assert bad.status_code == 400
    assert Declaration.objects.filter(measure="E8").count() == 1
    assert client.post("/compliance/measures/e8/review/", {"next_review": data["next_review"]})
    assert Declaration.objects.filter(measure="E8").count() == 2


def test_an_unknown_measure_is_not_found(manager: Any) -> None:
    assert client_for(manager).get("/compliance/measures/z9/").status_code == 404


def test_attaching_and_downloading_a_document(manager: Any) -> None:
    client = client_for(manager)
    upload = SimpleUploadedFile("attestation.pdf", b"%PDF-1.4 fictitious", "application/pdf")
    response = client.post("/compliance/measures/e2/documents/", {"document": upload})
    assert response.status_code == 302
    detail = register.measure_detail(actor_for(manager), "E2")
    uid = detail.documents[0].uid
    # E7, M3: asked how it leaves; by default under a passphrase, as an age file (a PDF given
    # as bytes cannot carry its own encryption); in clear with a reason.
    assert b'data-testid="delivery"' in client.get(f"/compliance/documents/{uid}/").content
    secret = client.post(f"/compliance/documents/{uid}/").content.decode()
    assert 'download="attestation.pdf.age"' in secret and "fictitious" not in secret
    reason = {"delivery": "plain", "delivery_reason": "Remis à l'auditeur externe (fictif)."}
    got = client.post(f"/compliance/documents/{uid}/", reason)
    assert got.content == b"%PDF-1.4 fictitious"
    assert got["Content-Disposition"] == 'attachment; filename="attestation.pdf"'


def test_hosting_through_the_form(manager: Any) -> None:
    client = client_for(manager)
    assert client.post("/compliance/profile/", {"hosting": "cloud"}).status_code == 302
    html = client.get("/compliance/").content.decode()
    assert 'data-testid="measure-P1" data-status="not-applicable"' in html


def test_the_access_review_page(manager: Any) -> None:
    client = client_for(manager)
    assert b'data-testid="accounts"' in client.get("/compliance/access-review/").content
    response = client.post("/compliance/access-review/", {"note": "All roles checked."})
    assert response.status_code == 302
    row = register.build_register().row("C2")
    assert row.status == "met"


def test_the_managers_home_page_shows_failing_evidence_and_breaches(
    manager: Any, settings: Any
) -> None:
    settings.SECRETUM_IDLE_TIMEOUT = 3600  # E1 fails
    breaches.report_breach(
        actor_for(make_user(Role.SECRETARY)),
        aware_at=timezone.now(),
        what_happened="Fictitious: a letter sent to the wrong address.",
    )
    html = client_for(manager).get("/").content.decode()
    assert 'data-testid="compliance-reminders"' in html
    assert "/compliance/measures/e1/" in html
    assert "h left to notify the authority" in html
    assert "Fictitious: a letter" not in html  # dates on the home page, never the text


def test_no_reminders_for_other_roles(practitioner: Any) -> None:
    assert b"compliance-reminders" not in client_for(practitioner).get("/").content


def test_the_summary_is_printed_when_mail_is_not_configured(
    manager: Any, settings: Any, capsys: Any
) -> None:
    settings.SECRETUM_SMTP_HOST = ""
    call_command("compliance_summary")
    out = capsys.readouterr().out
    assert "Failing evidence" in out and "mail is not configured" in out
    assert mail.outbox == []


def test_the_summary_is_mailed_to_the_managers(manager: Any, settings: Any) -> None:
    settings.SECRETUM_SMTP_HOST = "smtp.example.invalid"  # the test backend is locmem
    settings.SECRETUM_IDLE_TIMEOUT = 3600
    manager.email = "gestion@example.invalid"
    manager.save()
    make_user(Role.SECRETARY).__class__.objects.filter(role="secretary").update(
        email="accueil@example.invalid"
    )
    call_command("compliance_summary")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["gestion@example.invalid"]
    assert "E1: The idle lock allows more than 20 minutes" in message.body
    assert "need attention" in message.subject


def test_a_document_upload_never_touches_the_disk_in_clear(
    manager: Any, settings: Any, tmp_path: Any
) -> None:
    """E10: even above Django's in-memory limit, the upload is not spooled to a file."""
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10  # Django would spool anything larger to disk
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    upload = SimpleUploadedFile("big.txt", b"Fictitious-Zorbatova " * 1000, "text/plain")
    response = client_for(manager).post("/compliance/measures/i2/documents/", {"document": upload})
    assert response.status_code == 302
    assert list(tmp_path.iterdir()) == []
    assert register.measure_detail(actor_for(manager), "I2").documents[0].size == 21000


def test_a_document_upload_without_the_csrf_token_is_refused(manager: Any) -> None:
    client = client_for(manager)
    client.handler.enforce_csrf_checks = True
    upload = SimpleUploadedFile("a.txt", b"a", "text/plain")
    response = client.post("/compliance/measures/i2/documents/", {"document": upload})
    assert response.status_code == 403
    assert register.measure_detail(actor_for(manager), "I2").documents == []
