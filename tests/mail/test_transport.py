"""The SMTP transport (M4) against a real aiosmtpd server with TLS from a test CA: accepted with
the right CA, refused (nothing received) with an unknown CA, a wrong host name, or a server that
offers no STARTTLS."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult

from secretum.mail import transport
from secretum.mail.transport import SmtpTransport, TransportRefused
from tests import certificates
from tests.mail.conftest import Inbox, Server, start_smtp


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "cabinet@cabinet-fictif.example"
    message["To"] = "dr.fictif@hopital-fictif.example"
    message["Subject"] = "Fictitious"
    message.set_content("Fictitious body Quzbody")
    return message


def test_starttls_with_the_practice_ca_is_accepted_and_verified(
    smtp_server: Callable[..., Server],
) -> None:
    """M4: STARTTLS, the server's certificate verified against the practice's CA."""
    server = smtp_server("starttls")
    receipt = SmtpTransport("127.0.0.1", server.port, ca_file=server.ca_file).send(_message())
    assert receipt.tls_version in ("TLSv1.2", "TLSv1.3")
    assert receipt.server == f"127.0.0.1:{server.port}" and receipt.cipher
    assert len(server.inbox.messages) == 1
    assert b"Quzbody" in server.inbox.messages[0][1]


def test_implicit_tls(smtp_server: Callable[..., Server]) -> None:
    """M4: implicit TLS (RFC 8314; port 465 by default, here told so)."""
    server = smtp_server("implicit")
    transport = SmtpTransport("127.0.0.1", server.port, ca_file=server.ca_file, implicit_tls=True)
    assert transport.send(_message()).tls_version.startswith("TLS")
    assert len(server.inbox.messages) == 1


def test_implicit_tls_to_an_unknown_ca_is_refused(smtp_server: Callable[..., Server]) -> None:
    server = smtp_server("implicit", issuer=certificates.authority("Attacker CA"))
    transport = SmtpTransport("127.0.0.1", server.port, ca_file=server.ca_file, implicit_tls=True)
    with pytest.raises(TransportRefused, match="could not be verified"):
        transport.send(_message())
    assert server.inbox.messages == []


def test_an_unknown_ca_is_refused_and_nothing_is_sent(smtp_server: Callable[..., Server]) -> None:
    """M4, attack: a server whose certificate another CA issued (a man in the middle)."""
    server = smtp_server("starttls", issuer=certificates.authority("Attacker CA"))
    with pytest.raises(TransportRefused, match="could not be verified") as refused:
        SmtpTransport("127.0.0.1", server.port, ca_file=server.ca_file).send(_message())
    assert server.inbox.messages == [] and refused.value.reason == transport.CERTIFICATE


def test_the_system_cas_do_not_trust_a_private_server(smtp_server: Callable[..., Server]) -> None:
    """M4: without the practice's CA file, the system's CAs decide: refused."""
    server = smtp_server("starttls")
    with pytest.raises(TransportRefused, match="could not be verified"):
        SmtpTransport("127.0.0.1", server.port).send(_message())
    assert server.inbox.messages == []


def test_a_wrong_host_name_is_refused(smtp_server: Callable[..., Server]) -> None:
    """M4, attack: a certificate of the right CA for another name."""
    server = smtp_server("starttls", names=("mail.elsewhere.example",))
    with pytest.raises(TransportRefused, match="could not be verified"):
        SmtpTransport("127.0.0.1", server.port, ca_file=server.ca_file).send(_message())
    assert server.inbox.messages == []


def test_a_server_without_starttls_is_refused(smtp_server: Callable[..., Server]) -> None:
    """M4, attack: STARTTLS stripped (a server offering none): nothing in clear."""
    server = smtp_server("plain")
    with pytest.raises(TransportRefused, match="does not offer STARTTLS") as refused:
        SmtpTransport("127.0.0.1", server.port, ca_file=server.ca_file).send(_message())
    assert server.inbox.messages == [] and refused.value.reason == transport.NO_STARTTLS


def test_an_unreadable_ca_file_is_refused(tmp_path: object) -> None:
    with pytest.raises(TransportRefused, match="cannot be read") as refused:
        SmtpTransport("127.0.0.1", 1, ca_file="/nonexistent/ca.pem").send(_message())
    assert refused.value.reason == transport.CA_FILE


def test_no_server_listening_is_a_clear_refusal(test_ca: object) -> None:
    from tests.mail.conftest import _free_port

    with pytest.raises(TransportRefused, match="could not be reached") as refused:
        SmtpTransport("127.0.0.1", _free_port()).send(_message())
    assert refused.value.reason == transport.CONNECTION_REFUSED


class _Refusing(Inbox):
    async def handle_RCPT(
        self, server: object, session: object, envelope: object, address: str, options: object
    ) -> str:
        return "550 no such user here"


def test_a_refused_recipient_is_a_clear_refusal(smtp_server: Callable[..., Server]) -> None:
    server = smtp_server("starttls")
    server.controller.handler = _Refusing()
    server.controller.server.event_handler = server.controller.handler
    with pytest.raises(TransportRefused, match="refused the message") as refused:
        SmtpTransport("127.0.0.1", server.port, ca_file=server.ca_file).send(_message())
    assert refused.value.reason == transport.REFUSED and server.inbox.messages == []


class _Queuing(Inbox):
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await super().handle_DATA(server, session, envelope)
        return "250 2.0.0 Ok: queued as 4QzFict1"


class _Hanging(Inbox):
    """Takes the message and never answers within the client's patience."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(3)
        return "250 OK"


def _handled_by(server: Server, handler: Inbox) -> None:
    server.controller.handler = handler
    server.controller.server.event_handler = handler
    server.inbox = handler


def test_the_server_queue_id_is_kept(smtp_server: Callable[..., Server]) -> None:
    """M4: the id the server gives the accepted message (its answer to DATA), for the audit
    event; a server that names none gives "" (``queue_id``)."""
    server = smtp_server("starttls")
    _handled_by(server, _Queuing())
    receipt = SmtpTransport("127.0.0.1", server.port, ca_file=server.ca_file).send(_message())
    assert receipt.queue_id == "4QzFict1" and len(server.inbox.messages) == 1
    assert transport.queue_id(b"OK") == "" and transport.queue_id(b"queued as <a.b@c>") == "a.b@c"


def test_a_server_that_hangs_after_the_message_is_said_as_such(
    smtp_server: Callable[..., Server],
) -> None:
    """The connection broke before the server confirmed: "it may not have been sent", never
    "sent" nor "nothing was sent" (reason INTERRUPTED)."""
    server = smtp_server("starttls")
    _handled_by(server, _Hanging())
    carrier = SmtpTransport("127.0.0.1", server.port, ca_file=server.ca_file, timeout=1)
    with pytest.raises(TransportRefused, match="may not have been sent") as refused:
        carrier.send(_message())
    assert refused.value.reason == transport.INTERRUPTED


def test_login_happens_inside_tls(
    tmp_path: Path, test_ca: tuple[certificates.Issued, Path]
) -> None:
    """M4: the password is given only after STARTTLS (aiosmtpd refuses AUTH before it)."""
    seen: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        seen.append((data.login, data.password))
        return AuthResult(success=True)

    server = start_smtp(
        tmp_path, *test_ca, "starttls",
        authenticator=authenticator, auth_require_tls=True,
    )  # fmt: skip
    try:
        transport = SmtpTransport(
            "127.0.0.1", server.port, user="cabinet", password="fictitious-pass",
            ca_file=server.ca_file,
        )  # fmt: skip
        assert transport.send(_message()).tls_version.startswith("TLS")
    finally:
        server.controller.stop()
    assert seen == [(b"cabinet", b"fictitious-pass")]
