"""The directory and the confirm-and-send pages (M1, M3): the confirmation shows recipient,
address, patient, file and encryption before anything is sent; the passphrase is on the answer
to the sending POST only."""

from __future__ import annotations

import email
import io
import re
from email import policy as email_policy
from typing import Any

from secretum.crypto import age
from secretum.mail import keys
from secretum.mail.models import Correspondent
from tests.conftest import client_for, events
from tests.mail.conftest import CORRESPONDENT, DOCUMENT_TITLE, Server, smime_recipient


def _code(server: Server) -> str:
    body = email.message_from_bytes(server.inbox.messages[-1][1], policy=email_policy.default)
    found = re.search(r": ([A-Z2-9]{8})\b", body.get_body().get_content())  # type: ignore[union-attr]
    assert found
    return found.group(1)


def _add_and_verify(client: Any, server: Server, **extra: str) -> Correspondent:
    answer = client.post(
        "/mail/correspondents/",
        {"name": "Dr Fictif Quzmed", "kind": "hospital", "email": CORRESPONDENT, **extra},
    )
    row = Correspondent.objects.get()
    assert (
        answer.status_code == 302
        and answer["Location"] == f"/mail/correspondents/{row.uid}/verify/"
    )
    assert (
        client.post(f"/mail/correspondents/{row.uid}/verify/", {"action": "send"}).status_code
        == 302
    )
    wrong = client.post(
        f"/mail/correspondents/{row.uid}/verify/", {"action": "confirm", "code": "AAAAAAAA"}
    )
    assert wrong.status_code == 400 and "not the code" in wrong.content.decode()
    done = client.post(
        f"/mail/correspondents/{row.uid}/verify/", {"action": "confirm", "code": _code(server)}
    )
    assert done.status_code == 302
    row.refresh_from_db()
    assert row.verified
    return row


def test_confirm_then_send_with_a_passphrase(
    mail_settings: Server, practitioner: Any, patient: Any, document: Any
) -> None:
    client = client_for(practitioner)
    row = _add_and_verify(client, mail_settings)
    chart = client.get(f"/patients/{patient.uid}/").content.decode()
    assert f'href="/mail/document/{document.uid}/send/"' in chart
    url = f"/mail/document/{document.uid}/send/"
    choose = client.get(url)
    assert choose.status_code == 200 and CORRESPONDENT in choose.content.decode()
    review = client.post(url, {"step": "review", "correspondent": str(row.uid)})
    page = review.content.decode()
    assert review.status_code == 200
    for shown in ("Dr Fictif Quzmed", CORRESPONDENT, patient.family_name.upper(), DOCUMENT_TITLE):
        assert shown in page, shown
    assert "passphrase" in page
    assert len(mail_settings.inbox.messages) == 1  # nothing sent by the review
    unconfirmed = client.post(url, {"step": "send", "correspondent": str(row.uid)})
    assert unconfirmed.status_code == 400 and len(mail_settings.inbox.messages) == 1
    sent = client.post(url, {"step": "send", "correspondent": str(row.uid), "confirm": "on"})
    assert sent.status_code == 200 and sent["Cache-Control"] == "no-store"
    found = re.search(
        r'data-testid="sent-passphrase"><code>([a-z0-9-]+)</code>', sent.content.decode()
    )
    assert found
    message = email.message_from_bytes(
        mail_settings.inbox.messages[-1][1], policy=email_policy.default
    )
    data = next(message.iter_attachments()).get_content()  # type: ignore[attr-defined]
    assert (
        b"".join(age.decrypt(io.BytesIO(data), age.ScryptIdentity(found.group(1)))) == document.data
    )
    (event,) = events(action="send", resource="mail.Message")
    assert event.outcome == "success" and found.group(1) not in event.detail


def test_smime_is_said_on_the_confirmation(
    mail_settings: Server, practitioner: Any, patient: Any, document: Any
) -> None:
    client = client_for(practitioner)
    row = _add_and_verify(client, mail_settings, certificate=smime_recipient().pem)
    review = client.post(
        f"/mail/document/{document.uid}/send/", {"step": "review", "correspondent": str(row.uid)}
    )
    assert "S/MIME" in review.content.decode()
    sent = client.post(
        f"/mail/document/{document.uid}/send/",
        {"step": "send", "correspondent": str(row.uid), "confirm": "on"},
    )
    assert 'data-testid="sent-passphrase"' not in sent.content.decode()


def test_an_unverified_correspondent_is_not_offered_nor_accepted(
    mail_settings: Server, practitioner: Any, patient: Any, document: Any
) -> None:
    client = client_for(practitioner)
    client.post("/mail/correspondents/", {"name": "Dr New", "kind": "lab", "email": CORRESPONDENT})
    row = Correspondent.objects.get()
    url = f"/mail/document/{document.uid}/send/"
    assert CORRESPONDENT not in client.get(url).content.decode()
    forced = client.post(url, {"step": "send", "correspondent": str(row.uid), "confirm": "on"})
    assert forced.status_code == 400 and "not verified" in forced.content.decode()
    assert mail_settings.inbox.messages == []


def test_a_refused_server_is_said_and_nothing_sent(
    settings: Any, mail_settings: Server, practitioner: Any, patient: Any, document: Any
) -> None:
    client = client_for(practitioner)
    row = _add_and_verify(client, mail_settings)
    settings.SECRETUM_SMTP_CA_FILE = ""  # the system's CAs do not know the test server
    sent = client.post(
        f"/mail/document/{document.uid}/send/",
        {"step": "send", "correspondent": str(row.uid), "confirm": "on"},
    )
    assert sent.status_code == 400 and "could not be verified" in sent.content.decode()
    assert len(mail_settings.inbox.messages) == 1
    # M4: the decision, then the delivery's failure with its reason; never reported sent.
    (decided,) = events(action="send", resource="mail.Message")
    failed = events(action="send", resource="mail.Delivery", outcome="failure")
    assert '"pending"' in decided.detail and len(failed) == 1
    assert '"certificate"' in failed[0].detail and "Document sent" not in sent.content.decode()


def test_a_bad_certificate_is_said_on_the_form(practitioner: Any) -> None:
    client = client_for(practitioner)
    answer = client.post(
        "/mail/correspondents/",
        {"name": "Dr X", "kind": "lab", "email": CORRESPONDENT, "certificate": "garbage"},
    )
    assert answer.status_code == 400 and "PEM" in answer.content.decode()
    assert not Correspondent.objects.exists()


def test_the_secretary_gets_no_page(secretary: Any, document: Any) -> None:
    client = client_for(secretary)
    assert client.get("/mail/correspondents/").status_code == 403
    assert client.get(f"/mail/document/{document.uid}/send/").status_code == 403


def test_forms_refused_say_why(mail_settings: Server, practitioner: Any) -> None:
    client = client_for(practitioner)
    empty = client.post("/mail/correspondents/", {})
    assert empty.status_code == 400 and Correspondent.objects.count() == 0
    client.post("/mail/correspondents/", {"name": "Dr V", "kind": "lab", "email": CORRESPONDENT})
    row = Correspondent.objects.get()
    page = client.get(f"/mail/correspondents/{row.uid}/verify/")
    assert page.status_code == 200 and CORRESPONDENT in page.content.decode()
    no_code = client.post(f"/mail/correspondents/{row.uid}/verify/", {"action": "confirm"})
    assert no_code.status_code == 400
    unknown = client.post(f"/mail/correspondents/{row.uid}/verify/", {"action": "other"})
    assert unknown.status_code == 400
    settings_off = client.post(f"/mail/correspondents/{row.uid}/verify/", {"action": "send"})
    assert settings_off.status_code == 302  # sent: the test server is set


def test_a_verify_page_shows_the_certificate(mail_settings: Server, practitioner: Any) -> None:
    client = client_for(practitioner)
    made = smime_recipient()
    client.post(
        "/mail/correspondents/",
        {"name": "Dr C", "kind": "lab", "email": CORRESPONDENT, "certificate": made.pem},
    )
    row = Correspondent.objects.get()
    page = client.get(f"/mail/correspondents/{row.uid}/verify/").content.decode()
    assert keys.fingerprint(made.cert) in page


def test_a_transport_refusal_is_said_on_the_verify_page(settings: Any, practitioner: Any) -> None:
    settings.SECRETUM_SMTP_HOST = ""
    client = client_for(practitioner)
    client.post("/mail/correspondents/", {"name": "Dr T", "kind": "lab", "email": CORRESPONDENT})
    row = Correspondent.objects.get()
    answer = client.post(f"/mail/correspondents/{row.uid}/verify/", {"action": "send"})
    assert answer.status_code == 400 and "No mail server" in answer.content.decode()
