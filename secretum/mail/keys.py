"""The public keys a correspondent may have (M3): an S/MIME certificate or an age public key.

A certificate is accepted only when it can carry a document to this address now: valid today,
naming the address (subjectAltName rfc822Name, or the subject's emailAddress when there is no
SAN), an RSA key (S/MIME enveloped data encrypts the content key to it, RFC 8551 §2.3; pyca's
``PKCS7EnvelopeBuilder`` supports RSA recipients only), its key usage allowing key encipherment
and, when it lists extended key usages, e-mail protection (RFC 8550 §4.4). Who issued it is the
practice's judgement: the directory shows its issuer and fingerprint to compare by phone.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from secretum.crypto import age


def load_certificate(pem: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ValidationError(
            _("This is not a certificate in PEM form (-----BEGIN CERTIFICATE-----).")
        ) from None


def addresses(cert: x509.Certificate) -> set[str]:
    """The e-mail addresses the certificate names, lower-cased."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        found = san.get_values_for_type(x509.RFC822Name)
    except x509.ExtensionNotFound:
        found = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)]
    return {a.strip().lower() for a in found}


def _key_usage_allows_encryption(cert: x509.Certificate) -> bool:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True  # no restriction stated
    return bool(usage.key_encipherment)


def _extended_usage_allows_mail(cert: x509.Certificate) -> bool:
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return ExtendedKeyUsageOID.EMAIL_PROTECTION in usages or (
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages
    )


def check_certificate(pem: str, email: str, now: dt.datetime) -> x509.Certificate:
    """The certificate, when it can encrypt mail for ``email`` at ``now``; else
    ValidationError saying what is wrong."""
    cert = load_certificate(pem)
    if now < cert.not_valid_before_utc:
        raise ValidationError(
            _("This certificate is not valid before %(date)s.")
            % {"date": cert.not_valid_before_utc.date().isoformat()}
        )
    if now > cert.not_valid_after_utc:
        raise ValidationError(
            _("This certificate expired on %(date)s: ask the correspondent for their new one.")
            % {"date": cert.not_valid_after_utc.date().isoformat()}
        )
    if email.strip().lower() not in addresses(cert):
        raise ValidationError(
            _("This certificate is not for %(email)s (it names: %(names)s).")
            % {"email": email, "names": ", ".join(sorted(addresses(cert))) or "-"}
        )
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise ValidationError(_("This certificate's key is not RSA: S/MIME encryption needs one."))
    if not _key_usage_allows_encryption(cert) or not _extended_usage_allows_mail(cert):
        raise ValidationError(_("This certificate may not be used to encrypt e-mail."))
    return cert


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate, as certificate viewers show it (AA:BB:…)."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def check_age_recipient(text: str) -> str:
    """The age public key, normalised; ValidationError otherwise."""
    try:
        return age.X25519Recipient.parse(text).encode()
    except age.AgeError:
        raise ValidationError(_("This is not an age public key (it starts with “age1”).")) from None
