"""Sending a document by mail in the browser (M1, M3, M4): a real `secretum serve` whose mail
goes to a real SMTP server with STARTTLS (aiosmtpd, its certificate from a test CA the practice
names in SECRETUM_SMTP_CA_FILE). The practitioner adds a correspondent, verifies the address with
the code the server received, files a scan to a patient, then chooses the correspondent, sees
recipient, address, patient, file and encryption, confirms and sends; the message received opens
with the passphrase shown once. ``walk`` is shared with the accessibility test (test_axe.py)."""

from __future__ import annotations

import email
import io
import re
from collections.abc import Callable, Iterator
from email import policy as email_policy
from typing import Any

import pytest
from playwright.sync_api import expect

from secretum.crypto import age
from tests import certificates
from tests.e2e.conftest import PRACTITIONER, DemoPatient, Server, running_server, sign_in
from tests.e2e.test_browser import open_record
from tests.mail.conftest import Inbox, start_smtp

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("mail-smtp")
    ca = certificates.authority("Cabinet Fictif Mail Test CA")
    (folder / "ca.pem").write_bytes(ca.cert_pem())
    server = start_smtp(folder / "server", ca, folder / "ca.pem")
    try:
        yield server
    finally:
        server.controller.stop()


@pytest.fixture(scope="module")
def mail_server(tmp_path_factory: pytest.TempPathFactory, smtp: Any) -> Iterator[Server]:
    """Secretum, its mail to the test server, the server's CA named by the practice (M4)."""
    with running_server(
        tmp_path_factory.mktemp("mail"),
        SECRETUM_SMTP_HOST="127.0.0.1",
        SECRETUM_SMTP_PORT=str(smtp.port),
        SECRETUM_SMTP_CA_FILE=smtp.ca_file,
        SECRETUM_SMTP_FROM="cabinet@cabinet-fictif.example",
    ) as running:
        yield running


@pytest.fixture
def mail_page(browser: Any, mail_server: Server) -> Iterator[Any]:
    context = browser.new_context(ignore_https_errors=True, base_url=mail_server.base_url)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def _submit(page: Any, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


def _code_for(inbox: Inbox, address: str) -> str:
    for recipients, raw in reversed(inbox.messages):
        if recipients == [address]:
            body = email.message_from_bytes(raw, policy=email_policy.default).get_body()
            found = re.search(r": ([A-Z2-9]{8})\b", body.get_content())  # type: ignore[union-attr]
            assert found
            return found.group(1)
    raise AssertionError(f"no code was sent to {address}")


def walk(
    page: Any, inbox: Inbox, patient: DemoPatient, address: str, seen: Callable[[str], None]
) -> str:
    """The whole path, ``seen(where)`` called on each page: add and verify a correspondent, file
    a scan to ``patient``, send it to them. Returns the passphrase shown once."""
    sign_in(page, PRACTITIONER)
    page.goto("/mail/correspondents/")
    seen("correspondents")
    _submit(page, "[data-testid=add-correspondent] button[type=submit]")
    seen("correspondents, refused")
    page.fill("#id_name", "Dr Quzmed Fictif")
    page.select_option("#id_kind", "hospital")
    page.fill("#id_email", address)
    _submit(page, "[data-testid=add-correspondent] button[type=submit]")
    expect(page.locator("[data-testid=correspondent]")).to_contain_text(address)
    seen("verify")
    _submit(page, "[data-testid=send-code] button[type=submit]")
    page.fill("#id_code", "AAAAAAAA")
    _submit(page, "[data-testid=confirm-code] button[type=submit]")
    seen("verify, refused")
    page.fill("#id_code", _code_for(inbox, address))
    _submit(page, "[data-testid=confirm-code] button[type=submit]")
    expect(page.locator("[data-testid=correspondents]")).to_contain_text(address)
    # A scan of the intake's tray (the demo leaves two) filed to the patient: their document.
    chart = open_record(page, patient)
    page.goto("/documents/unfiled/")
    _submit(page, "[data-testid=unfiled] a[href$='/file/']")
    page.fill("#id_patient", patient.niss)
    _submit(page, "[data-testid=file-scan] button[type=submit]")
    assert page.url == chart
    _submit(page, "[data-testid=send-by-mail]")
    seen("choose the recipient")
    value = page.locator("#id_correspondent option", has_text=address).get_attribute("value")
    page.select_option("#id_correspondent", value)
    _submit(page, "[data-testid=choose-correspondent] button[type=submit]")
    review = page.locator("[data-testid=send-review]")
    expect(review.locator("[data-testid=review-recipient]")).to_contain_text("Dr Quzmed Fictif")
    expect(review.locator("[data-testid=review-address]")).to_have_text(address)
    expect(review.locator("[data-testid=review-patient]")).to_contain_text(patient.family_name)
    expect(review.locator("[data-testid=review-file]")).to_contain_text(".pdf")
    seen("confirm before sending")
    sent_before = len(inbox.messages)
    _submit(page, "[data-testid=confirm-send] button[type=submit]")  # not confirmed: refused
    assert len(inbox.messages) == sent_before
    seen("confirm before sending, refused")
    page.check("#id_confirm")
    _submit(page, "[data-testid=confirm-send] button[type=submit]")
    passphrase = page.locator("[data-testid=sent-passphrase] code").inner_text()
    seen("sent")
    return passphrase


def test_confirm_and_send_a_document(mail_page: Any, mail_server: Server, smtp: Any) -> None:
    address = "dr.quzmed@hopital-fictif.example"
    patient = mail_server.patients[0]
    passphrase = walk(mail_page, smtp.inbox, patient, address, lambda where: None)
    recipients, raw = smtp.inbox.messages[-1]
    assert recipients == [address]
    assert passphrase.encode() not in raw and patient.family_name.encode() not in raw
    message = email.message_from_bytes(raw, policy=email_policy.default)
    assert patient.family_name not in str(message["Subject"])
    data = next(message.iter_attachments()).get_content()  # type: ignore[attr-defined]
    opened = b"".join(age.decrypt(io.BytesIO(data), age.ScryptIdentity(passphrase)))
    assert opened.startswith(b"%PDF")
