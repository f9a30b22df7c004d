"""A correspondent's S/MIME certificate (M3): accepted only when it can encrypt mail for their
address now (mail/keys.py), each refusal saying why."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.core.exceptions import ValidationError

from secretum.mail import keys
from tests.mail.conftest import CORRESPONDENT, smime_recipient

NOW = dt.datetime.now(dt.UTC)


def _bare(
    email: str = CORRESPONDENT,
    *,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
    start: dt.datetime = NOW - dt.timedelta(days=1),
) -> str:
    """A certificate with no extension at all: its address in the subject's emailAddress."""
    signer = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Labo Fictif"),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, email),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(signer.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365))
        .sign(signer, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_a_certificate_without_extensions_names_its_address_in_the_subject() -> None:
    """No SAN: the subject's emailAddress; no key usage stated: no restriction (RFC 8550)."""
    cert = keys.check_certificate(_bare(CORRESPONDENT.upper()), CORRESPONDENT, NOW)
    assert keys.addresses(cert) == {CORRESPONDENT}
    assert len(keys.fingerprint(cert).split(":")) == 32


def test_a_certificate_not_yet_valid_is_refused() -> None:
    with pytest.raises(ValidationError, match="not valid before"):
        keys.check_certificate(_bare(start=NOW + dt.timedelta(days=2)), CORRESPONDENT, NOW)


def test_a_certificate_with_an_elliptic_curve_key_is_refused() -> None:
    """S/MIME enveloping needs RSA here (key transport): an EC key is said so."""
    pem = _bare(key=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ValidationError, match="not RSA"):
        keys.check_certificate(pem, CORRESPONDENT, NOW)


def test_the_address_must_be_the_correspondent_s() -> None:
    """Attack: a valid certificate of someone else, pasted for this correspondent."""
    with pytest.raises(ValidationError, match="is not for"):
        keys.check_certificate(smime_recipient("mallory@elsewhere.example").pem, CORRESPONDENT, NOW)
