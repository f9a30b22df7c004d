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
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol, cast

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

IMPLICIT_TLS_PORT = 465  # RFC 8314 "submissions"
TIMEOUT = 30  # seconds for the connection and each command
# The id a server gives the message it accepted, in its answer to DATA: "250 2.0.0 Ok: queued as
# 4ZQ1x2", as Postfix, Exim and others word it. Only this id is kept, never the rest of the answer.
_QUEUED = re.compile(r"queued as\s+<?([A-Za-z0-9][A-Za-z0-9._@-]{0,99})")

# Why a transport refused, as the audit event records it (a code; the sender reads the message).
NO_SERVER = "no-server"
CA_FILE = "ca-file"
NO_STARTTLS = "no-starttls"
CERTIFICATE = "certificate"
CONNECTION_REFUSED = "connection-refused"
UNREACHABLE = "unreachable"
REFUSED = "refused"
INTERRUPTED = "interrupted"


class TransportRefused(Exception):
    """The transport did not hand the message over (its reason, for the sender, in their
    language; ``reason`` one of the codes above, for the audit event). Nothing was sent, except
    for INTERRUPTED: the connection broke before the server confirmed, which cannot say."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Receipt:
    transport: str
    server: str  # host:port
    tls_version: str
    cipher: str
    at: dt.datetime = field(default_factory=timezone.now)
    queue_id: str = ""  # the server's id of the message, when its answer names one


class _Answer:
    """Keeps the server's answer to DATA, which smtplib reads and drops (the queue id)."""

    answer = b""
    in_data = False  # the message itself was being given: a broken connection cannot say more

    def data(self, msg: Any) -> tuple[int, bytes]:
        self.in_data = True
        code, answer = super().data(msg)  # type: ignore[misc]
        self.answer = answer
        return code, answer


class _SMTP(_Answer, smtplib.SMTP):
    pass


class _SMTPSSL(_Answer, smtplib.SMTP_SSL):
    pass


def queue_id(answer: bytes) -> str:
    """The queue id in a server's answer to DATA, or ""."""
    found = _QUEUED.search(answer.decode("ascii", "replace"))
    return found.group(1) if found else ""


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
                _("No mail server is set (SECRETUM_SMTP_HOST): nothing can be sent by mail."),
                NO_SERVER,
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
                _("The mail server's CA file %(path)s cannot be read.") % {"path": self.ca_file},
                CA_FILE,
            ) from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def _connect(self, context: ssl.SSLContext) -> _SMTP | _SMTPSSL:
        implicit = (
            self.port == IMPLICIT_TLS_PORT if self.implicit_tls is None else self.implicit_tls
        )
        if implicit:
            return _SMTPSSL(self.host, self.port, timeout=self.timeout, context=context)
        client = _SMTP(self.host, self.port, timeout=self.timeout)
        try:
            client.ehlo()
            if not client.has_extn("starttls"):
                raise TransportRefused(
                    _(
                        "The mail server %(server)s does not offer STARTTLS: sending in clear is "
                        "refused, nothing was sent."
                    )
                    % {"server": self.server},
                    NO_STARTTLS,
                )
            client.starttls(context=context)
            client.ehlo()
        except BaseException:
            client.close()
            raise
        return client

    def send(self, message: EmailMessage) -> Receipt:
        """Hand ``message`` to the server: its Receipt (the TLS session, the server's queue id),
        or TransportRefused. Called outside any database transaction (mail/services.py): the
        conversation may last up to ``timeout`` seconds per command."""
        context = self.context()
        try:
            client = self._connect(context)
        except ssl.SSLCertVerificationError as exc:
            raise TransportRefused(
                _(
                    "The mail server %(server)s presented a certificate that could not be "
                    "verified (%(reason)s): nothing was sent."
                )
                % {"server": self.server, "reason": exc.verify_message or exc.reason},
                CERTIFICATE,
            ) from None
        except (ssl.SSLError, smtplib.SMTPException, OSError) as exc:
            raise TransportRefused(
                _("The mail server %(server)s could not be reached over TLS (%(reason)s).")
                % {"server": self.server, "reason": type(exc).__name__},
                CONNECTION_REFUSED if isinstance(exc, ConnectionRefusedError) else UNREACHABLE,
            ) from None
        try:
            tls = cast(ssl.SSLSocket, client.sock)  # both paths of _connect end in TLS or raise
            version, cipher = tls.version() or "", (tls.cipher() or ("",))[0]
            if self.user:
                client.login(self.user, self.password)
            client.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            # smtplib turns a timeout or a reset into SMTPServerDisconnected: during DATA, the
            # server may have taken the message without its answer reaching us.
            lost = isinstance(exc, smtplib.SMTPServerDisconnected) or not isinstance(
                exc,
                smtplib.SMTPException,  # an SMTPException is an OSError too: an answer
            )
            if lost and client.in_data:
                raise TransportRefused(
                    _(
                        "The connection to the mail server %(server)s broke before it confirmed "
                        "the message (%(reason)s): it may not have been sent. Check with the "
                        "recipient before sending it again."
                    )
                    % {"server": self.server, "reason": type(exc).__name__},
                    INTERRUPTED,
                ) from None
            raise TransportRefused(
                _("The mail server %(server)s refused the message (%(reason)s).")
                % {"server": self.server, "reason": type(exc).__name__},
                REFUSED,
            ) from None
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()  # a polite end; the message was accepted or refused already
            client.close()
        return Receipt(self.name, self.server, version, cipher, queue_id=queue_id(client.answer))


def configured() -> Transport:
    """The practice's transport (the only one so far: SMTP)."""
    return SmtpTransport.from_settings()
