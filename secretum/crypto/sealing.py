"""How a file leaves Secretum (E7, M3, issue 14): encrypted for its recipient by default.

One ``Delivery`` is chosen by the user before the file is made, and travels through the
service that makes it, so the one audit event of that download (an export, a print) names how
the file left: its encryption, the recipient's public key, or the reason of a plain copy. The
generated passphrase is never part of that detail: it is returned once, to be shown once.

Three ways, as issue 14 asks:

* ``passphrase`` (the default): a new passphrase (``age.generate_passphrase``, 118 bits), meant
  to travel by another channel than the file. A PDF is encrypted with the PDF standard's own
  AES-256 (ISO 32000-2 §7.6.4, security handler revision 6), so any PDF reader opens it with the
  passphrase; any other file becomes an age file (``age -d``, scrypt recipient).
* ``recipient``: an age X25519 public key (``age1…``): the file, whatever its kind, in an age
  file that only the holder of the matching identity opens.
* ``plain``: in clear, with a reason of 10 to 200 characters that the audit event keeps.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from io import BytesIO
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from fpdf import FPDF
from fpdf.enums import EncryptionMethod

from secretum.crypto import age

REASON_MIN, REASON_MAX = 10, 200
AGE_TYPE = "application/octet-stream"
PDF_TYPE = "application/pdf"
# The file's end: the last trailer's dictionary, its startxref and the end-of-file marker.
_TRAILER = re.compile(rb"trailer\s*<<(.*)>>\s*startxref\s*\d+\s*%%EOF\s*", re.DOTALL)
# fpdf2 logs, at DEBUG, every string it encrypts, in clear (fpdf/encryption.py): a document's
# title, its alternative texts. A log is no place for what a PDF was encrypted to keep: that
# logger stays silent below WARNING, whatever level the instance logs at.
logging.getLogger("fpdf.encryption").setLevel(logging.WARNING)

# A print to paper (a prescription, a letter, a certificate) is shown to be printed, not handed
# out as a file: its print event says so in the delivery's own words, so that the register's E7
# counts it among the copies in clear, with this reason (docs/exchange.md).
PAPER = {"encryption": "none", "plain_reason": "printed to paper, signed and handed over"}


class Mode(StrEnum):
    PASSPHRASE = "passphrase"  # noqa: S105 (a name of a way to deliver, not a password)
    RECIPIENT = "recipient"
    PLAIN = "plain"


class Kind(StrEnum):
    """What the file is: a PDF can carry its own encryption, the others travel as age files."""

    PDF = "pdf"
    CSV = "csv"
    JSON = "json"
    TEXT = "text"
    OTHER = "other"  # an image, a document as it was attached

    @classmethod
    def of(cls, content_type: str) -> Kind:
        return cls.PDF if content_type == PDF_TYPE else cls.OTHER


def checked_reason(reason: str | None) -> str:
    """The reason of a plain copy, on one line, 10 to 200 printable characters."""
    text = " ".join(str(reason or "").split())
    if not REASON_MIN <= len(text) <= REASON_MAX or not text.isprintable():
        raise ValidationError(
            _("A plain copy needs its reason, in %(min)d to %(max)d characters.")
            % {"min": REASON_MIN, "max": REASON_MAX}
        )
    return text


def recipient_of(text: str) -> age.X25519Recipient:
    try:
        return age.X25519Recipient.parse(text)
    except age.AgeError:
        raise ValidationError(_("This is not an age public key (it starts with “age1”).")) from None


def pdf_encrypted(data: bytes) -> bool:
    """Whether a PDF carries the standard security handler: its last trailer, which closes the
    file, names an ``/Encrypt`` dictionary (ISO 32000-1 §7.5.5). A PDF's encryption keeps the
    file's structure in clear but every string and stream, the metadata too, under AES-256."""
    trailer = data.rfind(b"trailer")
    found = _TRAILER.fullmatch(data, trailer) if trailer > 0 else None
    return data.startswith(b"%PDF-") and found is not None and b"/Encrypt " in found.group(1)


@dataclass(frozen=True)
class Sealed:
    """The file as it leaves: its bytes, its name and its media type."""

    data: bytes
    filename: str
    content_type: str


@dataclass(frozen=True)
class Delivery:
    mode: Mode
    recipient: age.X25519Recipient | None = None
    reason: str = ""
    # Generated for this one file, shown once: never in the audit detail, never in a repr.
    passphrase: str = field(default="", repr=False)

    @classmethod
    def choose(cls, *, recipient: str = "", plain_reason: str | None = None) -> Delivery:
        """The delivery the user asked for: for ``recipient`` (an age public key) when given,
        in clear with ``plain_reason``, else under a new passphrase. ValidationError on a bad
        key, a reason out of bounds, or both a key and a reason."""
        if recipient and plain_reason is not None:
            raise ValidationError(_("A plain copy has no recipient key."))
        if recipient:
            return cls(Mode.RECIPIENT, recipient=recipient_of(recipient))
        if plain_reason is not None:
            return cls(Mode.PLAIN, reason=checked_reason(plain_reason))
        return cls(Mode.PASSPHRASE, passphrase=age.generate_passphrase())

    @property
    def target(self) -> age.ScryptRecipient | age.X25519Recipient:
        """Whom an age file of this delivery is for (a delivery in clear makes none): the
        recipient's key, else the passphrase."""
        return self.recipient or age.ScryptRecipient(self.passphrase)

    def encryption(self, kind: Kind) -> str:
        if self.mode is Mode.PLAIN:
            return "none"
        if self.mode is Mode.RECIPIENT:
            return "age-x25519"
        return "pdf-aes256" if kind is Kind.PDF else "age-scrypt"

    def audit_detail(self, kind: Kind) -> dict[str, Any]:
        """What the download's audit event says of how the file left (never the passphrase)."""
        detail: dict[str, Any] = {"encryption": self.encryption(kind)}
        if self.recipient is not None:
            detail["recipient"] = self.recipient.encode()  # a public key: who can open it
        if self.mode is Mode.PLAIN:
            detail["plain_reason"] = self.reason
        return detail

    def protect_pdf(self, document: FPDF) -> None:
        """Before ``document.output()``: under the passphrase, the PDF's own AES-256. The owner
        password is random and forgotten: no one may lift the protection without the passphrase."""
        if self.mode is Mode.PASSPHRASE:
            document.set_encryption(
                owner_password=secrets.token_urlsafe(32),
                user_password=self.passphrase,
                encryption_method=EncryptionMethod.AES_256,
                encrypt_metadata=True,
            )

    def seal(self, data: bytes | Iterable[bytes], filename: str, content_type: str) -> Sealed:
        """The file as it leaves. A PDF under a passphrase must already carry its encryption
        (``protect_pdf``, or ``seal_pdf``): a PDF in clear is then wrapped in age rather than let
        out. Everything else under a passphrase or a key becomes ``<filename>.age``."""
        pieces = [data] if isinstance(data, bytes) else data
        if self.mode is Mode.PLAIN:
            return Sealed(b"".join(pieces), filename, content_type)
        if self.mode is Mode.PASSPHRASE and content_type == PDF_TYPE:
            whole = b"".join(pieces)
            if pdf_encrypted(whole):
                return Sealed(whole, filename, content_type)
            pieces = [whole]
        out = BytesIO()
        age.encrypt(pieces, out, self.target)
        return Sealed(out.getvalue(), f"{filename}.age", AGE_TYPE)

    def seal_pdf(self, document: FPDF, filename: str) -> Sealed:
        """An fpdf document, protected as this delivery says, then sealed."""
        self.protect_pdf(document)
        return self.seal(bytes(document.output()), filename, PDF_TYPE)
