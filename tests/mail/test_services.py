"""Correspondents and sending (M1, M3, M4) through the services, against a real SMTP server with
TLS (tests/mail/conftest.py): what the correspondent receives is encrypted and opens with their
key or the passphrase only; the passphrase is nowhere but in the sender's hands; an unverified
address, a secretary, a server that fails verification are refused and audited."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import io
import json
import re
from dataclasses import dataclass, field
from email import policy as email_policy
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import pkcs7
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.utils import timezone

from secretum.access.actor import AccessDenied, Actor
from secretum.access.guard import NoCareRelationship
from secretum.access.policy import Role
from secretum.audit.log import record_event
from secretum.audit.models import Action, AuditEvent
from secretum.crypto import age
from secretum.mail import services
from secretum.mail import transport as transports
from secretum.mail.models import Correspondent, Delivery
from secretum.mail.transport import SmtpTransport, TransportRefused
from tests import certificates
from tests.conftest import actor_for, make_user
from tests.mail.conftest import (
    CORRESPONDENT,
    DOCUMENT_TITLE,
    Inbox,
    Recipient,
    Server,
    smime_recipient,
)


def _code(server: Server) -> str:
    body = email.message_from_bytes(server.inbox.messages[-1][1], policy=email_policy.default)
    found = re.search(r": ([A-Z2-9]{8})\b", body.get_body().get_content())  # type: ignore[union-attr]
    assert found
    return found.group(1)


def _verified(actor: Any, server: Server, **keys: str) -> Correspondent:
    """M1: added, a code sent to the address over TLS, typed back."""
    row = services.add_correspondent(
        actor, name="Dr Fictif Quzmed", kind="hospital", email=CORRESPONDENT, **keys
    )
    services.send_verification(actor, row.uid)
    services.confirm_verification(actor, row.uid, _code(server))
    row.refresh_from_db()
    assert row.verified
    return row


def _received(server: Server) -> email.message.EmailMessage:
    recipients, raw = server.inbox.messages[-1]
    assert recipients == [CORRESPONDENT]
    return email.message_from_bytes(raw, policy=email_policy.default)  # type: ignore[return-value]


def _everything_audited() -> str:
    return json.dumps([(e.action, e.resource, e.detail) for e in AuditEvent.objects.all()])


def test_smime_message_decrypts_with_the_recipient_key(
    mail_settings: Server, practitioner: Any, patient: Any, document: Any
) -> None:
    """M3: with a certificate, S/MIME enveloped data (AES-256) that opens with the recipient's
    key and holds the document; the subject does not name the patient."""
    recipient = smime_recipient()
    actor = actor_for(practitioner)
    row = _verified(actor, mail_settings, certificate=recipient.pem)
    sent = services.send(actor, "document", document.uid, row.uid)
    assert sent.encryption == "smime" and sent.passphrase is None
    raw = mail_settings.inbox.messages[-1][1]
    message = _received(mail_settings)
    assert message.get_content_type() == "application/pkcs7-mime"
    assert patient.family_name not in str(message["Subject"])
    assert sent.reference in str(message["Subject"])
    assert b"Quzmail" not in raw and patient.family_name.encode() not in raw
    inner = pkcs7.pkcs7_decrypt_smime(raw, recipient.cert, recipient.key, [])
    opened = email.message_from_bytes(inner, policy=email_policy.default)
    attachment = next(opened.iter_attachments())  # type: ignore[attr-defined]
    assert attachment.get_filename() == DOCUMENT_TITLE
    assert attachment.get_content() == document.data
    # Another key does not open it.
    other = smime_recipient()
    with pytest.raises(ValueError):
        pkcs7.pkcs7_decrypt_smime(raw, other.cert, other.key, [])


def test_age_passphrase_message_decrypts_with_the_passphrase_only(
    mail_settings: Server, practitioner: Any, patient: Any, document: Any
) -> None:
    """M3: without a key, an age file under a passphrase made for it, returned once to the
    sender: not in the message, not in the audit log, not in the database."""
    actor = actor_for(practitioner)
    row = _verified(actor, mail_settings)
    sent = services.send(actor, "document", document.uid, row.uid)
    assert sent.encryption == "age-scrypt" and sent.passphrase
    raw = mail_settings.inbox.messages[-1][1]
    assert sent.passphrase.encode() not in raw
    assert sent.passphrase.replace("-", "").encode() not in raw
    assert sent.passphrase not in _everything_audited()
    message = _received(mail_settings)
    assert patient.family_name not in str(message["Subject"])
    attachment = next(message.iter_attachments())
    name = attachment.get_filename()
    assert name and name.endswith(".pdf.age") and "Zorbatova" not in name  # neutral name
    data = attachment.get_content()
    opened = b"".join(age.decrypt(io.BytesIO(data), age.ScryptIdentity(sent.passphrase)))
    assert opened == document.data
    with pytest.raises(age.AgeError):
        b"".join(age.decrypt(io.BytesIO(data), age.ScryptIdentity("wrong-passphrase")))


def test_age_key_message_decrypts_with_the_identity(
    mail_settings: Server, practitioner: Any, patient: Any, document: Any
) -> None:
    identity = age.X25519Identity.generate()
    actor = actor_for(practitioner)
    row = _verified(actor, mail_settings, age_recipient=identity.recipient().encode())
    sent = services.send(actor, "document", document.uid, row.uid)
    assert sent.encryption == "age-x25519" and sent.passphrase is None
    data = next(_received(mail_settings).iter_attachments()).get_content()
    assert b"".join(age.decrypt(io.BytesIO(data), identity)) == document.data


def test_the_send_is_the_decision_then_the_delivery_each_audited(
    mail_settings: Server, practitioner: Any, patient: Any, document: Any
) -> None:
    """M1, M4: the decision (correspondent, document, encryption: delivery pending), then what
    the transport did (the TLS session), two events naming the same message."""
    actor = actor_for(practitioner)
    row = _verified(actor, mail_settings)
    before = AuditEvent.objects.count()
    sent = services.send(actor, "document", document.uid, row.uid)
    new = list(AuditEvent.objects.order_by("seq")[before:])
    assert [(e.action, e.resource, e.outcome) for e in new] == [
        ("read", "documents.Document", "success"),
        ("send", "mail.Message", "success"),
        ("send", "mail.Delivery", "success"),
    ]
    decided, delivered = json.loads(new[1].detail), json.loads(new[2].detail)
    assert decided["correspondent"] == str(row.uid) and decided["document"] == document.uid
    assert decided["to"] == CORRESPONDENT and decided["encryption"] == "age-scrypt"
    assert decided["delivery"] == "pending" and new[1].patient_ref == str(patient.uid)
    assert delivered["delivery"] == "sent" and delivered["tls"].startswith("TLS")
    assert delivered["correspondent"] == str(row.uid) and "queue_id" not in delivered  # "250 OK"
    assert new[1].resource_ref == new[2].resource_ref == sent.reference
    assert new[2].patient_ref == str(patient.uid)
    assert DOCUMENT_TITLE not in new[1].detail + new[2].detail  # the document's name is medical
    delivery = Delivery.objects.get(purpose="document")
    assert delivery.tls_version.startswith("TLS") and delivery.correspondent == row


def test_an_unverified_correspondent_is_refused(
    mail_settings: Server, practitioner: Any, patient: Any, document: Any
) -> None:
    """M1: nothing goes to an address that was never verified; the refusal is audited."""
    actor = actor_for(practitioner)
    row = services.add_correspondent(
        actor, name="Dr Unverified", kind="colleague", email=CORRESPONDENT
    )
    with pytest.raises(ValidationError, match="not verified"):
        services.send(actor, "document", document.uid, row.uid)
    assert mail_settings.inbox.messages == []
    failed = AuditEvent.objects.filter(action="send").get()
    assert failed.outcome == "failure" and json.loads(failed.detail)["correspondent"] == str(
        row.uid
    )


def test_a_wrong_code_does_not_verify_and_five_tries_end_it(
    mail_settings: Server, practitioner: Any
) -> None:
    """M1, attack: guessing the code. Wrong codes are counted; after five, even the right one
    is refused until a new code is sent."""
    actor = actor_for(practitioner)
    row = services.add_correspondent(actor, name="Dr Guess", kind="lab", email=CORRESPONDENT)
    with pytest.raises(ValidationError, match="No valid code"):
        services.confirm_verification(actor, row.uid, "AAAAAAAA")  # none sent yet
    services.send_verification(actor, row.uid)
    code = _code(mail_settings)
    for _n in range(services.CODE_TRIES):
        with pytest.raises(ValidationError, match="not the code"):
            services.confirm_verification(actor, row.uid, "AAAAAAAA")
    with pytest.raises(ValidationError, match="No valid code"):
        services.confirm_verification(actor, row.uid, code)
    row.refresh_from_db()
    assert not row.verified and row.code_attempts == services.CODE_TRIES
    assert AuditEvent.objects.filter(action="update", outcome="failure").count() == 7


def test_an_expired_code_is_refused(mail_settings: Server, practitioner: Any) -> None:
    actor = actor_for(practitioner)
    row = services.add_correspondent(actor, name="Dr Late", kind="lab", email=CORRESPONDENT)
    services.send_verification(actor, row.uid)
    Correspondent.objects.filter(pk=row.pk).update(
        code_sent_at=timezone.now() - dt.timedelta(hours=services.CODE_HOURS, minutes=1)
    )
    with pytest.raises(ValidationError, match="No valid code"):
        services.confirm_verification(actor, row.uid, _code(mail_settings))


def test_the_code_is_kept_as_a_hash_only(mail_settings: Server, practitioner: Any) -> None:
    actor = actor_for(practitioner)
    row = services.add_correspondent(actor, name="Dr Hash", kind="lab", email=CORRESPONDENT)
    services.send_verification(actor, row.uid)
    code = _code(mail_settings)
    row.refresh_from_db()
    assert code not in row.code_hash and len(row.code_hash) == 64
    assert code not in _everything_audited()


def test_a_secretary_can_neither_send_nor_keep_the_directory(
    mail_settings: Server, practitioner: Any, secretary: Any, patient: Any, document: Any
) -> None:
    """C1: the secretary holds neither permission; each refusal is a "denied" event."""
    row = _verified(actor_for(practitioner), mail_settings)
    actor = actor_for(secretary)
    with pytest.raises(AccessDenied):
        services.send(actor, "document", document.uid, row.uid)
    with pytest.raises(AccessDenied):
        services.add_correspondent(actor, name="X", kind="lab", email=CORRESPONDENT)
    with pytest.raises(AccessDenied):
        services.directory(actor, sending=True)
    assert len(mail_settings.inbox.messages) == 1  # the verification code only


def test_a_nurse_and_the_manager_cannot_send(
    mail_settings: Server, practitioner: Any, manager: Any, patient: Any, document: Any
) -> None:
    row = _verified(actor_for(practitioner), mail_settings)
    for user in (make_user(Role.NURSE), manager):
        with pytest.raises(AccessDenied):
            services.send(actor_for(user), "document", document.uid, row.uid)
    # The manager keeps the directory.
    assert services.directory(actor_for(manager)) == [row]


def test_a_practitioner_without_a_basis_cannot_send_the_patient_document(
    mail_settings: Server, practitioner: Any, patient: Any, document: Any
) -> None:
    row = _verified(actor_for(practitioner), mail_settings)
    other = make_user(Role.PRACTITIONER)
    with pytest.raises(NoCareRelationship):
        services.send(actor_for(other), "document", document.uid, row.uid)
    assert len(mail_settings.inbox.messages) == 1


def test_a_server_that_fails_verification_sends_nothing_and_the_failure_is_audited(
    settings: Any, smtp_server: Any, mail_settings: Server, practitioner: Any, patient: Any,
    document: Any,
) -> None:  # fmt: skip
    actor = actor_for(practitioner)
    row = _verified(actor, mail_settings)
    rogue = smtp_server("starttls", issuer=certificates.authority("Attacker CA"))
    settings.EMAIL_PORT = rogue.port
    with pytest.raises(TransportRefused, match="could not be verified"):
        services.send(actor, "document", document.uid, row.uid)
    assert rogue.inbox.messages == []
    decided = AuditEvent.objects.filter(action="send", resource="mail.Message").get()
    assert json.loads(decided.detail)["delivery"] == "pending"
    failed = AuditEvent.objects.get(action="send", resource="mail.Delivery", outcome="failure")
    assert failed.resource_ref == decided.resource_ref
    assert json.loads(failed.detail)["reason"] == "certificate"
    assert not Delivery.objects.filter(purpose="document").exists()


def test_no_mail_server_set_is_a_clear_refusal(settings: Any, practitioner: Any) -> None:
    settings.SECRETUM_SMTP_HOST = ""
    actor = actor_for(practitioner)
    row = services.add_correspondent(actor, name="Dr Nomail", kind="lab", email=CORRESPONDENT)
    with pytest.raises(TransportRefused, match="No mail server") as refused:
        services.send_verification(actor, row.uid)
    assert refused.value.reason == "no-server"
    # Refused at the decision, before any conversation: one failure event, no delivery.
    (event,) = AuditEvent.objects.filter(action="send")
    assert event.outcome == "failure" and event.resource == "mail.Correspondent"


@pytest.mark.parametrize(
    ("recipient", "message"),
    [
        (lambda: smime_recipient(days=-1), "expired"),
        (lambda: smime_recipient("someone.else@elsewhere.example"), "is not for"),
        (lambda: smime_recipient(usage="sign-only"), "may not be used to encrypt"),
    ],
)
def test_a_certificate_that_cannot_serve_is_refused(
    practitioner: Any, recipient: Any, message: str
) -> None:
    made: Recipient = recipient()
    with pytest.raises(ValidationError, match=message):
        services.add_correspondent(
            actor_for(practitioner), name="Dr Cert", kind="lab", email=CORRESPONDENT,
            certificate=made.pem,
        )  # fmt: skip
    assert not Correspondent.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"certificate": "not a certificate"}, "not a certificate in PEM"),
        ({"age_recipient": "age1notakey"}, "not an age public key"),
        ({"name": " "}, "name"),
        ({"kind": "spy"}, "kind"),
        ({"email": "not-an-address"}, "valid email"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(
    practitioner: Any, fields: dict[str, str], message: str
) -> None:
    given = {"name": "Dr Input", "kind": "lab", "email": CORRESPONDENT, **fields}
    with pytest.raises(ValidationError, match=message):
        services.add_correspondent(actor_for(practitioner), **given)


def test_a_certificate_expired_after_it_was_added_stops_the_sending(
    mail_settings: Server, practitioner: Any, patient: Any, document: Any
) -> None:
    recipient = smime_recipient()
    actor = actor_for(practitioner)
    row = _verified(actor, mail_settings, certificate=recipient.pem)
    later = smime_recipient(days=-1)
    Correspondent.objects.filter(pk=row.pk).update(certificate=later.pem)
    with pytest.raises(ValidationError, match="expired"):
        services.send(actor, "document", document.uid, row.uid)
    assert len(mail_settings.inbox.messages) == 1  # the code only


def test_an_unknown_correspondent_is_not_found(practitioner: Any) -> None:
    from django.http import Http404

    with pytest.raises(Http404):
        services.correspondent(actor_for(practitioner), "00000000-0000-0000-0000-000000000000")
    with pytest.raises(Http404):
        services.correspondent(actor_for(practitioner), "not-a-uid")


def test_rows_say_what_they_are(mail_settings: Server, practitioner: Any) -> None:
    actor = actor_for(practitioner)
    row = services.add_correspondent(actor, name="Dr Str", kind="lab", email=CORRESPONDENT)
    services.send_verification(actor, row.uid)
    assert str(row) == f"Dr Str <{CORRESPONDENT}>"
    assert str(Delivery.objects.get()).startswith("verification to 127.0.0.1:")


def test_a_certificate_sent_by_mail_is_the_employers_copy_encrypted(
    mail_settings: Server, practitioner: Any, patient: Any, tmp_path: Any
) -> None:
    """M1, M3, C3: a finalised sick-leave certificate goes out through the same path as a
    document: encrypted, the patient named in neither subject nor file name, and the copy is the
    employer's: the medical reason is not in it."""
    from tests.letters.test_services import DIAGNOSIS, _final
    from tests.pdf import pdf_text

    actor = actor_for(practitioner)
    row = _verified(actor, mail_settings)
    letter = _final(actor, patient.uid, "sick-leave")
    review = services.review_sending(actor, "letter", letter, row.uid)
    assert review.patient.uid == patient.uid and review.filename.endswith(".pdf")
    sent = services.send(actor, "letter", letter, row.uid)
    assert sent.encryption == "age-scrypt" and sent.passphrase
    message = _received(mail_settings)
    assert patient.family_name not in str(message["Subject"])
    attachment = next(message.iter_attachments())
    assert patient.family_name not in (attachment.get_filename() or "")
    data = attachment.get_content()
    opened = b"".join(age.decrypt(io.BytesIO(data), age.ScryptIdentity(sent.passphrase)))
    text = pdf_text(opened)
    assert "Certificat d'incapacité de travail" in text and DIAGNOSIS not in text
    assert DIAGNOSIS not in _everything_audited()


class _Rejecting(Inbox):
    """A server that takes the envelope and refuses the content (a content filter)."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "554 5.7.1 Fictitious policy rejection"


class _Watching(Inbox):
    """A server whose handler, on its own thread and database connection, writes to the audit
    log while the client waits for its answer: it can only if no transaction of the sender
    holds the writer's lock (SQLite) or the log's head."""

    def __init__(self) -> None:
        super().__init__()
        self.wrote: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.wrote.append(await asyncio.to_thread(self._write))
        return await super().handle_DATA(server, session, envelope) + " queued as QZ42"

    @staticmethod
    def _write() -> str:
        try:
            connection = connections["default"]
            if connection.vendor == "sqlite":  # fail fast, not after the 20 s busy timeout
                connection.ensure_connection()
                connection.cursor().execute("PRAGMA busy_timeout = 2000")
            record_event(Actor.system(), Action.READ, "mail.Delivery", detail={"probe": 1})
            return "ok"
        except Exception as exc:  # reported on the test's thread
            return type(exc).__name__
        finally:
            connections.close_all()  # this thread's own connection


@dataclass
class _InTransaction:
    """The practice's transport, noting whether the sending thread is in a transaction while
    it talks to the server."""

    inner: SmtpTransport
    seen: list[bool] = field(default_factory=list)
    name: str = "smtp"

    def send(self, message: Any) -> Any:
        self.seen.append(connection.in_atomic_block)
        return self.inner.send(message)


@pytest.mark.django_db(transaction=True)
def test_no_transaction_is_open_while_the_server_talks(
    mail_settings: Server, practitioner: Any, patient: Any, document: Any
) -> None:
    """M4: the decision commits before the SMTP conversation and the outcome after it, each in
    its own short transaction: while the server holds its answer, another connection writes to
    the audit log, and the sending thread is in no transaction (a slow server blocks no one)."""
    actor = actor_for(practitioner)
    row = _verified(actor, mail_settings)
    watching = _Watching()
    mail_settings.controller.handler = watching
    mail_settings.controller.server.event_handler = watching
    probe = _InTransaction(transports.SmtpTransport.from_settings())
    services.send(actor, "document", document.uid, row.uid, transport=probe)
    assert probe.seen == [False] and watching.wrote == ["ok"] and len(watching.messages) == 1
    probe_event = AuditEvent.objects.get(action="read", resource="mail.Delivery")
    decided = AuditEvent.objects.get(action="send", resource="mail.Message")
    delivered = AuditEvent.objects.get(
        action="send", resource="mail.Delivery", resource_ref=decided.resource_ref
    )
    # In this order: the decision committed, the handler's write, then the outcome.
    assert decided.seq < probe_event.seq < delivered.seq
    assert json.loads(delivered.detail)["queue_id"] == "QZ42"
    services.send_verification(actor, row.uid, transport=probe)
    assert probe.seen == [False, False] and watching.wrote == ["ok", "ok"]


def test_a_message_the_server_refuses_is_recorded_failed_and_said(
    mail_settings: Server, practitioner: Any, patient: Any, document: Any
) -> None:
    """The server refuses the content: the sender is told, the delivery's event is a failure
    with the reason, no Delivery row; the decision's event stays "pending" (it was decided and
    attempted, never reported sent)."""
    actor = actor_for(practitioner)
    row = _verified(actor, mail_settings)
    rejecting = _Rejecting()
    mail_settings.controller.handler = rejecting
    mail_settings.controller.server.event_handler = rejecting
    with pytest.raises(TransportRefused, match="refused the message"):
        services.send(actor, "document", document.uid, row.uid)
    assert rejecting.messages == []
    failed = AuditEvent.objects.get(action="send", resource="mail.Delivery", outcome="failure")
    detail = json.loads(failed.detail)
    assert failed.outcome == "failure" and detail == {
        "purpose": "document", "correspondent": str(row.uid), "delivery": "failed",
        "reason": "refused",
    }  # fmt: skip
    assert failed.patient_ref == str(patient.uid)
    assert not Delivery.objects.filter(purpose="document").exists()
    # A new code refused by the server changes nothing: the address stays verified, the old
    # code's state as it was.
    before = Correspondent.objects.values().get(pk=row.pk)
    with pytest.raises(TransportRefused, match="refused the message"):
        services.send_verification(actor, row.uid)
    assert Correspondent.objects.values().get(pk=row.pk) == before
    assert Delivery.objects.filter(purpose="verification").count() == 1  # the first code only
