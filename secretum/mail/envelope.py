"""What leaves by mail, encrypted before it leaves (M3).

- The correspondent has an S/MIME certificate: the whole message body (a short text and the
  document under its own name) is S/MIME enveloped data (RFC 8551) for that certificate, AES-256
  (CBC, as pyca's ``PKCS7EnvelopeBuilder`` makes it; RFC 8551 §2.7 lists AES-256 CBC as a MUST).
- Else, with an age public key: the document as an age file for that key (age X25519).
- Else: the document as an age file under a passphrase made for this message (about 118 bits),
  returned to the sender to be given by phone or text message. It is never in the message,
  never stored and never logged.

The subject and the clear headers never name the patient: the subject says who sends and a
reference of the message; an age attachment is named ``document-<date>.<ext>.age``, since its
name travels in clear (the document's own name may name the patient).
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.crypto import age

SMIME = "smime"
AGE_KEY = "age-x25519"
AGE_PASSPHRASE = "age-scrypt"  # noqa: S105  (the name of an encryption, not a password)
ENCRYPTIONS = (SMIME, AGE_KEY, AGE_PASSPHRASE)
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class Attachment:
    """What a source hands to the sending path (a patient's document, a letter)."""

    filename: str
    data: bytes
    content_type: str
    patient_uid: str


@dataclass(frozen=True)
class Sealed:
    message: EmailMessage
    encryption: str
    reference: str
    passphrase: str | None  # made for an age-scrypt message: shown once, kept nowhere


def reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))


def subject(ref: str) -> str:
    """Who sends, and a reference: never the patient (M3)."""
    return _("%(practice)s: a document for you (ref. %(ref)s)") % {
        "practice": settings.PRACTICE_NAME,
        "ref": ref,
    }


def _headers(message: EmailMessage, to: str, ref: str) -> EmailMessage:
    message["From"] = settings.DEFAULT_FROM_EMAIL
    message["To"] = to
    message["Subject"] = subject(ref)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=settings.DEFAULT_FROM_EMAIL.rpartition("@")[2])
    return message


def _split(content_type: str) -> tuple[str, str]:
    main, _sep, sub = content_type.partition("/")
    return main, sub or "octet-stream"


def smime(attachment: Attachment, cert: x509.Certificate, to: str) -> Sealed:
    ref = reference()
    inner = EmailMessage(policy=email_policy.SMTP)
    inner.set_content(
        _(
            "Please find attached a document sent to you by %(practice)s through Secretum "
            "(ref. %(ref)s)."
        )
        % {"practice": settings.PRACTICE_NAME, "ref": ref}
    )
    maintype, subtype = _split(attachment.content_type)
    inner.add_attachment(
        attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
    )
    enveloped = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(inner.as_bytes())
        .add_recipient(cert)
        .set_content_encryption_algorithm(algorithms.AES256)
        .encrypt(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.Binary])
    )
    outer = message_from_bytes(enveloped, _class=EmailMessage, policy=email_policy.SMTP)
    return Sealed(_headers(outer, to, ref), SMIME, ref, None)


def _extension(attachment: Attachment) -> str:
    name = attachment.filename.rsplit(".", 1)
    return name[1].lower() if len(name) == 2 and name[1].isalnum() else "bin"


def age_file(attachment: Attachment, to: str, recipient: str = "") -> Sealed:
    """The document as an age file: for ``recipient`` (an age public key), or under a new
    passphrase returned in ``Sealed.passphrase``."""
    ref = reference()
    passphrase = None if recipient else age.generate_passphrase()
    target: age.X25519Recipient | age.ScryptRecipient = (
        age.X25519Recipient.parse(recipient) if recipient else age.ScryptRecipient(passphrase or "")
    )
    out = io.BytesIO()
    age.encrypt([attachment.data], out, target)
    how = (
        _("It is encrypted for your age key.")
        if recipient
        else _(
            "It is encrypted with a passphrase that the sender gives you separately, by phone or "
            "text message: it is not in this message."
        )
    )
    message = EmailMessage(policy=email_policy.SMTP)
    message.set_content(
        _("Please find attached a document sent to you by %(practice)s (ref. %(ref)s).")
        % {"practice": settings.PRACTICE_NAME, "ref": ref}
        + "\n\n"
        + how
        + "\n\n"
        + _("Open it with age (https://age-encryption.org): age -d FILE > DOCUMENT")
        + "\n"
    )
    name = f"document-{timezone.localdate():%Y%m%d}.{_extension(attachment)}.age"
    message.add_attachment(
        out.getvalue(), maintype="application", subtype="octet-stream", filename=name
    )
    return Sealed(
        _headers(message, to, ref), AGE_KEY if recipient else AGE_PASSPHRASE, ref, passphrase
    )


def verification(to: str, code: str) -> EmailMessage:
    """The one-time code that proves the address reaches the correspondent (M1): no patient."""
    message = EmailMessage(policy=email_policy.SMTP)
    message.set_content(
        _(
            "%(practice)s wants to send you documents through Secretum at this address. To "
            "confirm that it is yours, give this code to the practice (by phone, or to the "
            "person who asked you): %(code)s"
        )
        % {"practice": settings.PRACTICE_NAME, "code": code}
        + "\n\n"
        + _("If you expected nothing, ignore this message.")
        + "\n"
    )
    message["From"] = settings.DEFAULT_FROM_EMAIL
    message["To"] = to
    message["Subject"] = _("%(practice)s: confirm your address") % {
        "practice": settings.PRACTICE_NAME
    }
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=settings.DEFAULT_FROM_EMAIL.rpartition("@")[2])
    return message
