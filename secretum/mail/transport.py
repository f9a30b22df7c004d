"""How a message leaves Secretum: a small ``Transport`` protocol and its SMTP implementation (M4).

    class Transport(Protocol):
        name: str  # "smtp"
        def send(self, message: EmailMessage) -> Receipt: ...

SMTP over TLS only, the server's certificate always verified (``ssl.create_default_context``:
the system's CAs, or the practice's own with ``SECRETUM_SMTP_CA_FILE``; host name checked;
TLS 1.2 at least). Port 465 is implicit TLS (RFC 8314); any other port must offer STARTTLS
(RFC 3207) and is refused when it does not. A refusal happens before any message is given: the
server sees at most EHLO. Authentication (``SECRETUM_SMTP_USER``) only inside TLS.

Belgian secure messaging (eHealthBox, M2) is another transport that fits the same protocol: its
``send`` takes the same message for a recipient identified by their NIHII/SSIN instead of an
address and returns a receipt. It needs the practice's eHealth certificate, an STS token and the
platform's SOAP endpoints (docs/mail.md); none of that is faked here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol, cast

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

IMPLICIT_TLS_PORT = 465  # RFC 8314 "submissions"
TIMEOUT = 30  # seconds for the connection and each command


class TransportRefused(Exception):
    """Nothing was sent: the transport refused to hand the message over (its reason, for the
    sender, in their language)."""


@dataclass(frozen=True)
class Receipt:
    transport: str
    server: str  # host:port
    tls_version: str
    cipher: str
    at: dt.datetime = field(default_factory=timezone.now)


class Transport(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, message: EmailMessage) -> Receipt: ...


@dataclass(frozen=True)
class SmtpTransport:
    host: str
    port: int = 587
    user: str = ""
    password: str = ""
    ca_file: str = ""
    timeout: float = TIMEOUT
    implicit_tls: bool | None = None  # None: implicit TLS on port 465, STARTTLS elsewhere
    name: str = "smtp"

    @classmethod
    def from_settings(cls) -> SmtpTransport:
        """The practice's mail server; TransportRefused when none is set."""
        if not settings.SECRETUM_SMTP_HOST:
            raise TransportRefused(
                _("No mail server is set (SECRETUM_SMTP_HOST): nothing can be sent by mail.")
            )
        return cls(
            host=settings.SECRETUM_SMTP_HOST,
            port=int(getattr(settings, "EMAIL_PORT", 587)),
            user=str(getattr(settings, "EMAIL_HOST_USER", "")),
            password=str(getattr(settings, "EMAIL_HOST_PASSWORD", "")),
            ca_file=settings.SECRETUM_SMTP_CA_FILE,
        )

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"

    def context(self) -> ssl.SSLContext:
        """Verification on (CERT_REQUIRED, host name checked), TLS 1.2 or later."""
        try:
            context = ssl.create_default_context(cafile=self.ca_file or None)
        except (OSError, ssl.SSLError):
            raise TransportRefused(
                _("The mail server's CA file %(path)s cannot be read.") % {"path": self.ca_file}
            ) from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def _connect(self, context: ssl.SSLContext) -> smtplib.SMTP:
        implicit = (
            self.port == IMPLICIT_TLS_PORT if self.implicit_tls is None else self.implicit_tls
        )
        if implicit:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            client.ehlo()
            if not client.has_extn("starttls"):
                raise TransportRefused(
                    _(
                        "The mail server %(server)s does not offer STARTTLS: sending in clear is "
                        "refused, nothing was sent."
                    )
                    % {"server": self.server}
                )
            client.starttls(context=context)
            client.ehlo()
        except BaseException:
            client.close()
            raise
        return client

    def send(self, message: EmailMessage) -> Receipt:
        context = self.context()
        try:
            client = self._connect(context)
        except ssl.SSLCertVerificationError as exc:
            raise TransportRefused(
                _(
                    "The mail server %(server)s presented a certificate that could not be "
                    "verified (%(reason)s): nothing was sent."
                )
                % {"server": self.server, "reason": exc.verify_message or exc.reason}
            ) from None
        except (ssl.SSLError, smtplib.SMTPException, OSError) as exc:
            raise TransportRefused(
                _("The mail server %(server)s could not be reached over TLS (%(reason)s).")
                % {"server": self.server, "reason": type(exc).__name__}
            ) from None
        try:
            tls = cast(ssl.SSLSocket, client.sock)  # both paths of _connect end in TLS or raise
            receipt = Receipt(
                self.name, self.server, tls.version() or "", (tls.cipher() or ("",))[0]
            )
            if self.user:
                client.login(self.user, self.password)
            client.send_message(message)
        except smtplib.SMTPException as exc:
            raise TransportRefused(
                _("The mail server %(server)s refused the message (%(reason)s).")
                % {"server": self.server, "reason": type(exc).__name__}
            ) from None
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()  # a polite end; the message was accepted or refused already
            client.close()
        return receipt


def configured() -> Transport:
    """The practice's transport (the only one so far: SMTP)."""
    return SmtpTransport.from_settings()
