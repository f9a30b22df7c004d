"""The directory of correspondents and sending a patient's document to one of them (M1, M3, M4).

Every read and write passes the gate (``access.guard.guarded``) and leaves its audit event:

- the directory (``exchange:correspondent:manage``: practitioners and the manager): listing,
  adding a correspondent, sending and confirming the one-time code that verifies their address;
- sending (``exchange:mail:send``: practitioners, within a basis for the patient, C1): the
  document is read through its source (a patient's document: ``documents.services``, audited
  there), encrypted (mail/envelope.py) and handed to the transport (mail/transport.py) in three
  steps. The decision commits first: one ``send`` event on the message naming the
  correspondent, the source and its document, the encryption and ``"delivery": "pending"``.
  Then the SMTP conversation, outside any transaction (``_hand_over``): a slow or hanging server
  holds no database lock, other users write on. Then its outcome, in a short transaction of its
  own: a ``send`` event on the delivery (``mail.Delivery``) with the TLS session and the
  server's queue id, and the Delivery row; or a "failure" event with the transport's reason
  (certificate, no STARTTLS, connection refused, refused…), and the sender told. Never the
  passphrase, the document's name or its content. A message is reported sent only once the
  server accepted it; one the server took while its outcome could not be written keeps its
  "pending" event.

Sources: a callable ``(actor, uid) -> Attachment`` reading one thing of a patient, audited by
itself. ``SOURCES["document"]`` reads a patient's document, ``SOURCES["letter"]`` a finalised letter
or certificate (``letters.services.letter_document``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.access.guard import EventDraft, guarded, require
from secretum.access.policy import Permission
from secretum.audit.log import record_event
from secretum.audit.models import Action, Outcome
from secretum.documents import services as documents
from secretum.letters import services as letters
from secretum.mail import envelope, keys
from secretum.mail import transport as transports
from secretum.mail.envelope import Attachment
from secretum.mail.models import Correspondent, Delivery
from secretum.patients import services as patients

RESOURCE = "mail.Correspondent"
MESSAGE = "mail.Message"
DELIVERY = "mail.Delivery"
PENDING = "pending"  # the decision's event: handed to the transport next, its outcome to follow
NAME_MAX = 200
# M1: the one-time code: 8 characters of 31 (about 40 bits), valid a day, five tries.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CODE_HOURS = 24
CODE_TRIES = 5

Source = Callable[[Actor, Any], Attachment]


def document_source(actor: Actor, uid: Any) -> Attachment:
    """A patient's document (D4), read through its own audited service."""
    found = documents.open_document(actor, uid)
    return Attachment(found.filename, found.data, found.content_type, found.patient_uid)


def letter_source(actor: Actor, uid: Any) -> Attachment:
    """A finalised letter or certificate (issue 15) as its PDF, read through its own audited
    service (a certificate as the employer's copy: never the medical reason)."""
    filename, data, patient_uid = letters.letter_document(actor, uid)
    return Attachment(filename, data, "application/pdf", patient_uid)


SOURCES: dict[str, Source] = {"document": document_source, "letter": letter_source}


def _hash(uid: Any, code: str) -> str:
    return hashlib.sha256(f"{uid}:{code.strip().upper()}".encode()).hexdigest()


def _correspondent(uid: Any) -> Correspondent:
    try:
        return Correspondent.objects.get(uid=uid)
    except (Correspondent.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such correspondent.") from None


def directory(actor: Actor, *, sending: bool = False) -> list[Correspondent]:
    """The correspondents, by name: for the directory's keepers, or (``sending``) for those who
    send, who see the verified ones only."""
    permission = Permission.MAIL_SEND if sending else Permission.CORRESPONDENTS_MANAGE
    with guarded(actor, permission, Action.SEARCH, RESOURCE):
        rows = Correspondent.objects.all()
        return list(rows.filter(verified_at__isnull=False) if sending else rows)


def correspondent(actor: Actor, uid: Any) -> Correspondent:
    with guarded(actor, Permission.CORRESPONDENTS_MANAGE, Action.READ, RESOURCE, resource_ref=uid):
        return _correspondent(uid)


def add_correspondent(
    actor: Actor,
    *,
    name: str,
    kind: str,
    email: str,
    certificate: str = "",
    age_recipient: str = "",
) -> Correspondent:
    """A new correspondent, unverified until the code sent to their address comes back (M1).
    A certificate or an age key given is checked first (mail/keys.py)."""
    with guarded(actor, Permission.CORRESPONDENTS_MANAGE, Action.CREATE, RESOURCE) as event:
        name = " ".join(name.split())
        email = email.strip().lower()
        if not 0 < len(name) <= NAME_MAX or not name.isprintable():
            raise ValidationError(_("Give the correspondent's name (at most 200 characters)."))
        if kind not in Correspondent.Kind.values:
            raise ValidationError(_("Choose the kind of correspondent."))
        validate_email(email)
        if certificate.strip():
            keys.check_certificate(certificate, email, timezone.now())
        row = Correspondent.objects.create(
            name=name,
            kind=kind,
            email=email,
            certificate=certificate.strip(),
            age_recipient=keys.check_age_recipient(age_recipient) if age_recipient.strip() else "",
            created_by=actor.user,
        )
        event.resource_ref = str(row.uid)
        event.detail.update(kind=kind, smime=bool(row.certificate), age_key=bool(row.age_recipient))
        return row


def _hand_over(
    actor: Actor,
    carrier: transports.Transport,
    message: EmailMessage,
    row: Correspondent,
    *,
    purpose: str,
    encryption: str,
    reference: str = "",
    patient_ref: str = "",
    then: Callable[[transports.Receipt], None] | None = None,
) -> transports.Receipt:
    """The SMTP conversation, outside any transaction, once the decision committed (M4); then
    its outcome in a short transaction of its own: a ``send`` event on the delivery and the
    Delivery row (and ``then(receipt)``, what the caller keeps once the message left), or a
    "failure" event with the transport's reason and TransportRefused raised for the sender."""
    detail: dict[str, Any] = {"purpose": purpose, "correspondent": str(row.uid)}
    try:
        receipt = carrier.send(message)
    except transports.TransportRefused as refused:
        # A connection lost while the message was handed over: it may have left (docs/mail.md).
        unknown = refused.reason == transports.INTERRUPTED
        detail.update(delivery="unknown" if unknown else "failed", reason=refused.reason)
        record_event(
            actor, Action.SEND, DELIVERY, outcome=Outcome.FAILURE, patient_ref=patient_ref,
            resource_ref=reference, detail=detail,
        )  # fmt: skip
        raise
    detail.update(delivery="sent", server=receipt.server, tls=receipt.tls_version)
    if receipt.queue_id:
        detail["queue_id"] = receipt.queue_id
    with transaction.atomic():
        record_event(
            actor, Action.SEND, DELIVERY, patient_ref=patient_ref, resource_ref=reference,
            detail=detail,
        )  # fmt: skip
        Delivery.objects.create(
            correspondent=row,
            purpose=purpose,
            encryption=encryption,
            transport=receipt.transport,
            server=receipt.server,
            tls_version=receipt.tls_version,
            cipher=receipt.cipher,
            at=receipt.at,
        )
        if then is not None:
            then(receipt)
    return receipt


def send_verification(
    actor: Actor, uid: Any, *, transport: transports.Transport | None = None
) -> None:
    """M1: a one-time code to the correspondent's address, over the verified-TLS transport; the
    address is verified when the code is typed back (``confirm_verification``). The decision
    commits, the code leaves outside any transaction, and only once it left does its hash
    replace the previous code and the address become unverified until it comes back: a code
    the server refused changes nothing of the correspondent."""
    with guarded(
        actor, Permission.CORRESPONDENTS_MANAGE, Action.SEND, RESOURCE, resource_ref=uid
    ) as event:
        event.detail.update(purpose=Delivery.Purpose.VERIFICATION, delivery=PENDING)
        row = _correspondent(uid)
        carrier = transport or transports.configured()
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))

    def keep_code(receipt: transports.Receipt) -> None:
        Correspondent.objects.filter(pk=row.pk).update(
            code_hash=_hash(row.uid, code),
            code_sent_at=receipt.at,
            code_attempts=0,
            verified_at=None,
        )

    _hand_over(
        actor, carrier, envelope.verification(row.email, code), row,
        purpose=Delivery.Purpose.VERIFICATION, encryption="none", reference=str(row.uid),
        then=keep_code,
    )  # fmt: skip


class WrongCode(ValidationError):
    """A code that is not the one sent: counted against the five tries."""


def confirm_verification(actor: Actor, uid: Any, code: str) -> None:
    """The code the correspondent received, typed back: the address is verified. A wrong, used
    or expired code, or a sixth try, is refused (ValidationError, audited as a failure)."""
    try:
        _confirm(actor, uid, code)
    except WrongCode:
        # Counted after the refused block's rollback, in the database (no lost update).
        Correspondent.objects.filter(uid=uid).update(code_attempts=F("code_attempts") + 1)
        raise


def _confirm(actor: Actor, uid: Any, code: str) -> None:
    with guarded(
        actor, Permission.CORRESPONDENTS_MANAGE, Action.UPDATE, RESOURCE, resource_ref=uid
    ):
        row = Correspondent.objects.select_for_update().get(pk=_correspondent(uid).pk)
        sent = row.code_sent_at
        if (
            not row.code_hash
            or sent is None
            or timezone.now() - sent > dt.timedelta(hours=CODE_HOURS)
            or row.code_attempts >= CODE_TRIES
        ):
            raise ValidationError(_("No valid code is waiting: send a new one."))
        if not hmac.compare_digest(row.code_hash, _hash(row.uid, code)):
            raise WrongCode(_("This is not the code that was sent."))
        row.code_hash = ""
        row.verified_at = timezone.now()
        row.save(update_fields=["code_hash", "verified_at"])


def encryption_for(row: Correspondent) -> str:
    """How a document to this correspondent is encrypted (M3); ValidationError when their
    certificate no longer serves."""
    if row.certificate:
        keys.check_certificate(row.certificate, row.email, timezone.now())
        return envelope.SMIME
    return envelope.AGE_KEY if row.age_recipient else envelope.AGE_PASSPHRASE


def _verified(uid: Any) -> Correspondent:
    row = _correspondent(uid)
    if not row.verified:
        raise ValidationError(
            _("%(name)s's address is not verified: nothing is sent to it until it is.")
            % {"name": row.name}
        )
    return row


@dataclass(frozen=True)
class Confirmation:
    """What the sender sees and confirms before sending (M1)."""

    correspondent: Correspondent
    patient: Any  # the patient's identity (patients.services.PatientIdentity)
    filename: str
    size: int
    encryption: str


def _may_send(actor: Actor, action: str, detail: dict[str, Any]) -> None:
    """The role may send, checked before the source is read: a role that may not send never
    reads the document for it (a "denied" event, AccessDenied). The patient's basis is the
    source's own check, then the send's."""
    require(actor, Permission.MAIL_SEND, EventDraft(action, MESSAGE, detail=dict(detail)))


def review_sending(actor: Actor, source: str, uid: Any, correspondent_uid: Any) -> Confirmation:
    """The recipient (verified), the patient concerned and the file, for the confirmation page
    (M1): reads the source and the patient's identity, each audited."""
    _may_send(actor, Action.READ, {"source": source, source: str(uid)})
    found = SOURCES[source](actor, uid)
    identity = patients.access_patient(actor, found.patient_uid)
    row = _verified(correspondent_uid)
    return Confirmation(row, identity, found.filename, len(found.data), encryption_for(row))


@dataclass(frozen=True)
class Sent:
    correspondent: Correspondent
    encryption: str
    reference: str
    passphrase: str | None  # shown once to the sender, to give by another channel


def send(
    actor: Actor,
    source: str,
    uid: Any,
    correspondent_uid: Any,
    *,
    transport: transports.Transport | None = None,
) -> Sent:
    """Send one thing of a patient to a verified correspondent, encrypted (M3), over the
    verified-TLS transport (M4): the decision's ``send`` event commits ("pending"), the
    transport talks to the server outside any transaction, and its outcome is a second event
    (``_hand_over``). Refused at the decision (audited, nothing attempted) for an unverified
    correspondent, a certificate no longer valid or no mail server; refused by the transport
    (a server that fails verification, that refuses the message): the outcome's "failure"
    event, TransportRefused for the sender."""
    detail = {"source": source, source: str(uid), "correspondent": str(correspondent_uid)}
    _may_send(actor, Action.SEND, detail)
    found = SOURCES[source](actor, uid)
    with guarded(
        actor, Permission.MAIL_SEND, Action.SEND, MESSAGE,
        patient_ref=found.patient_uid, detail=detail,
    ) as event:  # fmt: skip
        row = _verified(correspondent_uid)
        event.detail.update(correspondent_name=row.name, to=row.email)
        how = encryption_for(row)
        carrier = transport or transports.configured()
        if how == envelope.SMIME:
            sealed = envelope.smime(found, keys.load_certificate(row.certificate), row.email)
        else:
            sealed = envelope.age_file(found, row.email, row.age_recipient)
        event.detail.update(encryption=how, reference=sealed.reference, delivery=PENDING)
        event.resource_ref = sealed.reference
    _hand_over(
        event.actor or actor, carrier, sealed.message, row, purpose=Delivery.Purpose.DOCUMENT,
        encryption=how, reference=sealed.reference, patient_ref=str(found.patient_uid),
    )  # fmt: skip
    return Sent(row, how, sealed.reference, sealed.passphrase)
