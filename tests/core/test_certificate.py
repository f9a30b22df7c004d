"""The server's certificate (H1): the practice's or an ACME client's by path, reloaded when
renewed; a self-signed one where other machines connect, an expired one or one about to expire,
flagged by `secretum check` and the register."""

from __future__ import annotations

import io
import ssl
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from secretum.compliance import evidence
from secretum.compliance.evidence import Verdict
from secretum.core import host_checks
from secretum.lib import certificates
from secretum.lib.certificates import ReloadingContext
from secretum.lib.front import tls_context
from tests.certificates import Issued, authority, install, server

NETWORK_HOST = "secretum.cabinet-fictif.example"


def served_by(
    context: ssl.SSLContext, trusting: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> bytes:
    """The certificate a client is shown by a server with ``context`` (a real handshake, in
    memory), the client trusting nothing, or verifying it with ``trusting``."""
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    if trusting is None:
        trusting = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        trusting.check_hostname = False
        trusting.verify_mode = ssl.CERT_NONE
    client = trusting.wrap_bio(client_in, client_out, server_hostname=host)
    peer = context.wrap_bio(server_in, server_out, server_side=True)
    for _ in range(10):
        for side in (client, peer):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
    found = client.getpeercert(binary_form=True)
    assert found is not None
    return found


@pytest.fixture(scope="module")
def ca() -> Issued:
    return authority()


def test_the_certificate_init_makes_is_self_signed_and_an_issued_one_is_not(ca: Issued) -> None:
    assert certificates.is_self_signed(certificates.read_leaf(django_settings.INSTANCE.tls_cert))
    assert certificates.is_self_signed(server(None).cert)
    assert not certificates.is_self_signed(server(ca).cert)
    # A certificate that names itself as its issuer, signed by someone else: not self-signed.
    forged = server(Issued(ca.key, server(None).cert))
    assert forged.cert.issuer == forged.cert.subject
    assert not certificates.is_self_signed(forged.cert)


def test_several_nodes_self_signed_certificates_are_told_apart_in_one_trust_file(
    tmp_path: Path,
) -> None:
    """Issue 17: a balancer trusts every serving node's self-signed certificate from one file
    (HAProxy's ca-file, OpenSSL as here); each node's certificate has a name and a key
    identifier of its own, so each node's handshake is verified against its own entry, never
    refused for its neighbour's."""
    from secretum import init, instance

    nodes = []
    for name in ("node-a", "node-b"):
        inst = instance.Instance(tmp_path / name)
        inst.home.mkdir()
        init.create_tls(inst)
        nodes.append(inst)
    trusting_both = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, and checks the name
    trusting_both.load_verify_locations(cadata="".join(inst.tls_cert.read_text() for inst in nodes))
    for inst in nodes:
        shown = served_by(tls_context(inst.tls_cert, inst.tls_key), trusting_both, "localhost")
        assert shown == ssl.PEM_cert_to_DER_cert(inst.tls_cert.read_text())
        assert certificates.is_self_signed(certificates.read_leaf(inst.tls_cert))


def test_what_inspect_tells_of_a_certificate(tmp_path: Path, ca: Issued) -> None:
    assert certificates.inspect(tmp_path / "none.pem").problem
    (tmp_path / "garbage.pem").write_text("not a certificate")
    assert certificates.inspect(tmp_path / "garbage.pem").problem == "no PEM certificate in it"
    cert, _ = install(tmp_path / "ok", server(ca, days=90), chain=ca)
    fine = certificates.inspect(cert)
    assert not (fine.problem or fine.self_signed or fine.expired or fine.expires_soon)
    assert fine.days_left in (88, 89)
    cert, _ = install(tmp_path / "soon", server(ca, days=10))
    soon = certificates.inspect(cert)
    assert soon.expires_soon and not soon.expired
    cert, _ = install(tmp_path / "old", server(ca, days=-1))
    assert certificates.inspect(cert).expired


def test_a_renewed_certificate_is_served_to_new_connections(tmp_path: Path, ca: Issued) -> None:
    """H1: the files change (an ACME client renewed them): the next connection gets the new
    certificate, without a restart; a renewal caught half-way keeps the current one."""
    first, second, third = server(ca), server(ca), server(ca)
    cert, key = install(tmp_path, first, chain=ca)
    said = io.StringIO()
    tls = ReloadingContext(cert, key, tls_context, interval=0, out=said)
    assert served_by(tls.current()) == first.der
    assert served_by(tls.current()) == first.der  # nothing changed: the same context
    install(tmp_path, second, chain=ca)
    assert served_by(tls.current()) == second.der
    assert f"{cert} reloaded (valid until" in said.getvalue()
    # Half-way: the new certificate is there, its key not yet.
    cert.write_bytes(third.cert_pem() + ca.cert_pem())
    assert served_by(tls.current()) == second.der
    assert "does not load with its key" in said.getvalue() and "previous one" in said.getvalue()
    lines = len(said.getvalue().splitlines())
    tls.current()
    assert len(said.getvalue().splitlines()) == lines  # told once per change
    key.write_bytes(third.key_pem())
    assert served_by(tls.current()) == third.der


def test_the_files_are_looked_at_once_per_interval(tmp_path: Path, ca: Issued) -> None:
    first, second = server(ca), server(ca)
    cert, key = install(tmp_path, first)
    tls = ReloadingContext(cert, key, tls_context, interval=3600, out=io.StringIO())
    install(tmp_path, second)
    assert served_by(tls.current()) == first.der


def test_a_pair_that_does_not_load_at_start_is_refused(tmp_path: Path, ca: Issued) -> None:
    cert, key = install(tmp_path, server(ca))
    key.write_bytes(server(ca).key_pem())
    with pytest.raises(ssl.SSLError):
        ReloadingContext(cert, key, tls_context)


# --- flagged by `secretum check` (system checks) and by the register (H1) ---------------------


def _tls_ids() -> set[str]:
    return {m.id for m in host_checks._tls_checks() if m.id}


def _h1() -> evidence.Evidence:
    return evidence.gather(["H1"])["H1"]


@pytest.fixture
def practice_certificate(settings: Any, tmp_path: Path, ca: Issued) -> Any:
    """The practice's own certificate, for the name other machines reach it by."""
    settings.ALLOWED_HOSTS = [NETWORK_HOST, "127.0.0.1"]
    cert, key = install(tmp_path, server(ca, names=(NETWORK_HOST,)), chain=ca)
    settings.SECRETUM_TLS_CERT_FILE, settings.SECRETUM_TLS_KEY_FILE = cert, key
    return settings


def test_a_self_signed_certificate_is_flagged_once_other_machines_connect(
    settings: Any, db: Any
) -> None:
    """H1: `init`'s certificate is fine for this machine alone; not once the instance answers
    to a name other machines use."""
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
    assert "secretum.W402" not in _tls_ids()
    alone = _h1()
    assert alone.verdict == Verdict.MET and "self-signed, for this machine only" in alone.summary
    settings.ALLOWED_HOSTS = ["127.0.0.1", NETWORK_HOST]
    assert "secretum.W402" in _tls_ids()
    flagged = _h1()
    assert flagged.verdict == Verdict.NOT_MET
    assert f"self-signed while other machines reach this instance ({NETWORK_HOST})" in (
        flagged.summary
    )
    assert "SECRETUM_TLS_CERT_FILE" in flagged.action


def test_the_practices_certificate_by_path_is_met(practice_certificate: Any, db: Any) -> None:
    assert _tls_ids() == set()
    found = _h1()
    assert found.verdict == Verdict.MET, found.summary
    assert "issued by a certificate authority" in found.summary


@pytest.mark.parametrize(
    ("days", "check", "said"),
    [
        (10, "secretum.W001", "in less than 14 days: its renewal failed"),
        (-2, "secretum.E007", "the certificate expired on"),
    ],
)
def test_a_certificate_expired_or_about_to_is_flagged(
    practice_certificate: Any, db: Any, tmp_path: Path, ca: Issued, days: int, check: str, said: str
) -> None:
    cert, key = install(tmp_path / "due", server(ca, days=days), chain=ca)
    practice_certificate.SECRETUM_TLS_CERT_FILE, practice_certificate.SECRETUM_TLS_KEY_FILE = (
        cert,
        key,
    )
    assert _tls_ids() == {check}
    found = _h1()
    assert found.verdict == Verdict.NOT_MET and said in found.summary


def test_thirty_days_left_is_not_yet_a_failed_renewal(
    practice_certificate: Any, db: Any, tmp_path: Path, ca: Issued
) -> None:
    """ACME clients renew when 30 days are left: that is their business, not an alarm."""
    cert, key = install(tmp_path / "due", server(ca, days=20), chain=ca)
    practice_certificate.SECRETUM_TLS_CERT_FILE, practice_certificate.SECRETUM_TLS_KEY_FILE = (
        cert,
        key,
    )
    assert _tls_ids() == set() and _h1().verdict == Verdict.MET


def test_a_key_that_is_not_the_certificates_is_an_error(
    practice_certificate: Any, db: Any, tmp_path: Path, ca: Issued
) -> None:
    _, other_key = install(tmp_path / "other", server(ca))
    practice_certificate.SECRETUM_TLS_KEY_FILE = other_key
    assert _tls_ids() == {"secretum.E403"}
    assert "cannot be loaded together" in _h1().summary


def test_a_missing_certificate_is_an_error(settings: Any, db: Any, tmp_path: Path) -> None:
    settings.SECRETUM_TLS_CERT_FILE = tmp_path / "gone.pem"
    assert _tls_ids() == {"secretum.E006"}
    assert _h1().verdict == Verdict.NOT_MET


def test_a_certificate_without_its_key_setting_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SECRETUM_TLS_CERT_FILE", str(tmp_path / "fullchain.pem"))
    (found,) = host_checks._tls_checks()
    assert found.id == "secretum.E404" and "SECRETUM_TLS_CERT_FILE is set alone" in found.msg
