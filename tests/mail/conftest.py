"""A real SMTP server for the mail tests (M4): aiosmtpd on 127.0.0.1, with TLS from a test CA
made with pyca/cryptography at test time (STARTTLS required, implicit TLS, or none at all), and
an RSA S/MIME certificate for a fictitious correspondent (M3)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from secretum.documents import services as documents
from secretum.lib import clamav
from secretum.patients import services as patients
from tests import certificates
from tests.documents.samples import pdf

CORRESPONDENT = "dr.fictif@hopital-fictif.example"


class Inbox:
    """What the server received: (envelope recipients, message bytes)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.original_content)))
        return "250 OK"


@dataclass
class Server:
    port: int
    inbox: Inbox
    ca_file: str
    controller: Any = field(repr=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: Any) -> tuple[certificates.Issued, Path]:
    ca = certificates.authority("Cabinet Fictif Mail Test CA")
    path = tmp_path_factory.mktemp("mail-ca") / "ca.pem"
    path.write_bytes(ca.cert_pem())
    return ca, path


def start_smtp(
    folder: Path,
    ca: certificates.Issued,
    ca_path: Path,
    mode: str = "starttls",
    *,
    issuer: certificates.Issued | None = None,
    names: tuple[str, ...] = ("127.0.0.1", "localhost"),
    **extra: Any,
) -> Server:
    """A server on 127.0.0.1: ``mode`` "starttls" (required), "implicit" (TLS from the first
    byte) or "plain" (no STARTTLS offered); its certificate issued by ``issuer`` (default: the
    test CA ``ca``) for ``names``. Stop it with ``server.controller.stop()``."""
    issued = certificates.server(issuer or ca, names=names)
    cert, key = certificates.install(folder, issued)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    port = _free_port()
    options: dict[str, Any] = {"hostname": "127.0.0.1", "port": port, **extra}
    if mode == "starttls":
        options.update(tls_context=context, require_starttls=True)
    elif mode == "implicit":
        options.update(ssl_context=context, server_hostname="127.0.0.1")
    controller = Controller(inbox, **options)
    if mode == "implicit":
        # The controller's readiness probe only waits for the banner: it verifies nothing
        # (the transport under test does).
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        probe.check_hostname = False
        probe.verify_mode = ssl.CERT_NONE
        controller._trigger_server = lambda: _trigger(port, probe)
    controller.start()
    return Server(port, inbox, str(ca_path), controller)


@pytest.fixture
def smtp_server(tmp_path: Path, test_ca: Any) -> Iterator[Callable[..., Server]]:
    """Start servers (``start_smtp``'s arguments), stopped after the test."""
    started: list[Server] = []

    def start(mode: str = "starttls", **options: Any) -> Server:
        server = start_smtp(tmp_path / f"server-{len(started)}", *test_ca, mode, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.controller.stop()


def _trigger(port: int, context: ssl.SSLContext) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.recv(1024)


@pytest.fixture
def mail_settings(settings: Any, smtp_server: Callable[..., Server]) -> Server:
    """The practice's settings pointing at a STARTTLS server whose CA the practice names."""
    server = smtp_server("starttls")
    settings.SECRETUM_SMTP_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.SECRETUM_SMTP_CA_FILE = server.ca_file
    settings.DEFAULT_FROM_EMAIL = "cabinet@cabinet-fictif.example"
    settings.PRACTICE_NAME = "Cabinet Fictif"
    return server


@dataclass(frozen=True)
class Recipient:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()


def smime_recipient(
    email: str = CORRESPONDENT,
    *,
    days: float = 365,
    usage: str = "encipher",
) -> Recipient:
    """A fictitious correspondent's S/MIME certificate (self-signed; RSA, as S/MIME enveloping
    needs): ``usage`` "encipher" (key encipherment, e-mail protection), "sign-only"."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Dr Fictif")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(now, now + dt.timedelta(days=days)) - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=usage == "encipher",
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return Recipient(key, cert)


DOCUMENT_TITLE = "Zorbatova lettre de sortie.pdf"
DOCUMENT_TEXT = "Fictitious discharge letter Quzmail"


@pytest.fixture
def document(patient: Any, practitioner: Any) -> Any:
    """A clean PDF attached to the patient's record (stored as documents.services does, scanned
    clean: the scanner itself is proven in tests/documents)."""
    row, key = patients.open_patient(patient.uid)
    stored = documents.store(
        row, key, SimpleNamespace(detail={}), title=DOCUMENT_TITLE, kind="application/pdf",
        data=pdf(DOCUMENT_TEXT), verdict=clamav.Verdict(clean=True), author=practitioner,
    )  # fmt: skip
    return SimpleNamespace(uid=str(stored.uid), data=pdf(DOCUMENT_TEXT))
