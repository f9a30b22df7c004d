"""The document pages (D4, E2): a streamed upload held in memory only, the chart's list, the file
served inline or as a download under a sandboxing CSP."""

from __future__ import annotations

import tempfile
from io import BytesIO
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory

from secretum.documents import services
from secretum.documents.models import Document
from tests.conftest import actor_for, client_for, events
from tests.documents import samples
from tests.documents.conftest import EICAR


def _upload(name: str, data: bytes, content_type: str = "application/pdf") -> dict[str, Any]:
    return {"document": SimpleUploadedFile(name, data, content_type=content_type)}


def test_attach_from_the_chart_and_see_it_listed(
    scanner: str, practitioner: Any, patient: Any
) -> None:
    client = client_for(practitioner)
    page = client.get(f"/patients/{patient.uid}/")
    assert f"/documents/{patient.uid}/attach/" in page.content.decode()
    form = client.get(f"/documents/{patient.uid}/attach/")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.content.decode()
    # The browser says text/html; the content says PDF: the content decides.
    response = client.post(
        f"/documents/{patient.uid}/attach/",
        _upload("Lettre Quzref.pdf", samples.pdf(), "text/html"),
    )
    assert response.status_code == 302 and response["Location"] == f"/patients/{patient.uid}/"
    chart = client.get(f"/patients/{patient.uid}/").content.decode()
    row = Document.objects.get()
    assert "Lettre Quzref.pdf" in chart and f"/documents/{row.uid}/download/" in chart
    assert row.content_type == "application/pdf"


def test_the_served_file_is_sandboxed_and_never_sniffed(
    scanner: str, practitioner: Any, patient: Any
) -> None:
    uid = services.attach_document(
        actor_for(practitioner), patient.uid, name="Scan «Łukasz».png", data=samples.png()
    ).uid
    client = client_for(practitioner)
    shown = client.get(f"/documents/{uid}/")
    assert shown.status_code == 200 and shown.content == samples.png()
    assert shown["Content-Type"] == "image/png"
    assert shown["X-Content-Type-Options"] == "nosniff"
    assert shown["Content-Security-Policy"].startswith("sandbox;")
    assert "default-src 'none'" in shown["Content-Security-Policy"]
    assert shown["Content-Disposition"].startswith("inline;")
    assert "filename*=utf-8''" in shown["Content-Disposition"]
    assert shown["Cache-Control"] == "no-store"
    # E7, M3: asked how it leaves; by default an age file under a passphrase shown once.
    assert b'data-testid="delivery"' in client.get(f"/documents/{uid}/download/").content
    secret = client.post(f"/documents/{uid}/download/").content.decode()
    assert 'data-testid="delivered-passphrase"' in secret and samples.png() not in secret.encode()
    reason = {"delivery": "plain", "delivery_reason": "Copie remise au patient (fictif)."}
    download = client.post(f"/documents/{uid}/download/", reason)
    assert download["Content-Disposition"].startswith("attachment;")
    assert download.content == samples.png() and download["X-Content-Type-Options"] == "nosniff"
    exports = [e for e in events(resource="documents.Document") if e.action == "export"]
    assert [e.action for e in events(resource="documents.Document")][-3:] == [
        "read",
        "export",
        "export",
    ]
    assert '"encryption":"age-scrypt"' in exports[0].detail.replace(" ", "")
    assert "Copie remise" in exports[1].detail


def test_the_secretary_gets_no_document_and_no_list(
    scanner: str, practitioner: Any, secretary: Any, patient: Any
) -> None:
    uid = services.attach_document(
        actor_for(practitioner), patient.uid, name="Quzsecretname.png", data=samples.png()
    ).uid
    client = client_for(secretary)
    assert client.get(f"/documents/{uid}/").status_code == 403
    assert client.get(f"/documents/{uid}/download/").status_code == 403
    assert client.get(f"/documents/{patient.uid}/attach/").status_code == 403
    chart = client.get(f"/patients/{patient.uid}/").content.decode()
    assert "Quzsecretname" not in chart and "/attach/" not in chart


def test_an_infected_upload_is_refused_with_a_message(
    scanner: str, practitioner: Any, patient: Any
) -> None:
    response = client_for(practitioner).post(
        f"/documents/{patient.uid}/attach/", _upload("invoice.pdf", EICAR)
    )
    assert response.status_code == 400
    assert "quarantined" in response.content.decode()
    assert Document.objects.get().status == Document.Status.QUARANTINED


def test_a_refused_type_and_a_missing_scanner_say_why(
    scanner: str, practitioner: Any, patient: Any, settings: Any, tmp_path: Any
) -> None:
    client = client_for(practitioner)
    response = client.post(
        f"/documents/{patient.uid}/attach/", _upload("letter.pdf", b"<html>x</html>")
    )
    assert response.status_code == 400 and "Only PDF, PNG and JPEG" in response.content.decode()
    settings.SECRETUM_CLAMD_SOCKET = str(tmp_path / "none.sock")
    response = client.post(f"/documents/{patient.uid}/attach/", _upload("a.pdf", samples.pdf()))
    assert response.status_code == 400 and "not available" in response.content.decode()
    assert not Document.objects.exists()


def test_an_upload_over_the_limit_is_stopped(
    scanner: str, practitioner: Any, patient: Any, settings: Any
) -> None:
    """The handler stops reading past the limit; a body announced far larger is refused before
    it is read."""
    settings.SECRETUM_DOCUMENT_MAX_BYTES = 100_000
    client = client_for(practitioner)
    response = client.post(
        f"/documents/{patient.uid}/attach/", _upload("big.pdf", samples.pdf(padding=150_000))
    )
    assert response.status_code == 400 and "larger than" in response.content.decode()
    response = client.post(
        f"/documents/{patient.uid}/attach/",
        _upload("huge.pdf", samples.pdf(padding=300_000)),
        follow=True,
    )
    assert "larger than" in response.content.decode()
    assert not Document.objects.exists()


def test_no_plaintext_temporary_file_is_written(
    scanner: str, practitioner: Any, patient: Any, settings: Any, monkeypatch: Any
) -> None:
    """D4, E10: a document larger than Django's in-memory limit (2.5 MB) would be spooled to a
    temporary file by the default handlers; these views keep it in memory. Every temporary file
    Django's uploads create is counted, and the control shows the count would catch one."""
    from django.core.files import temp

    made: list[str] = []
    real = temp.NamedTemporaryFile

    def counting(*args: Any, **kwargs: Any) -> Any:
        handle = real(*args, **kwargs)
        made.append(handle.name)
        return handle

    # Django's TemporaryUploadedFile makes its file with django.core.files.temp's function.
    monkeypatch.setattr(temp, "NamedTemporaryFile", counting)
    settings.FILE_UPLOAD_TEMP_DIR = tempfile.mkdtemp()
    big = samples.pdf("Quzbig", padding=3 * 1024 * 1024)
    assert len(big) > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    response = client_for(practitioner).post(
        f"/documents/{patient.uid}/attach/", _upload("big.pdf", big)
    )
    assert response.status_code == 302, response.content[:2000]
    assert made == []
    assert services.open_document(actor_for(practitioner), Document.objects.get().uid).data == big
    # The control: Django's default handlers spool the same upload to a temporary file.
    request = RequestFactory().post("/x/", _upload("big.pdf", big))
    spooled = request.FILES["document"]
    assert not isinstance(spooled, list) and spooled.read() == big
    assert len(made) == 1 and made[0].startswith(settings.FILE_UPLOAD_TEMP_DIR)


def test_the_memory_handler_keeps_what_it_received() -> None:
    from django.core.files.uploadhandler import StopUpload
    from django.test import override_settings

    from secretum.documents.uploads import MemoryOnlyUploadHandler

    handler = MemoryOnlyUploadHandler()
    handler.new_file("document", "a.pdf", "application/pdf", 3)
    assert handler.receive_data_chunk(b"abc", 0) is None
    done = handler.file_complete(3)
    assert done.read() == b"abc" and not handler.too_large
    with override_settings(SECRETUM_DOCUMENT_MAX_BYTES=2), pytest.raises(StopUpload):
        handler.receive_data_chunk(b"abc", 0)
    assert handler.too_large
    assert isinstance(handler.buffer, BytesIO)


def test_a_post_without_a_file_asks_for_one(practitioner: Any, patient: Any) -> None:
    response = client_for(practitioner).post(f"/documents/{patient.uid}/attach/", {})
    assert response.status_code == 400
    assert '<div class="field invalid">' in response.content.decode()
    assert not Document.objects.exists()
