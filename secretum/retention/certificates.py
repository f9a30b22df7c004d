"""Destruction certificates (J2): their text, their signature, and when no copy of a destroyed
record remains readable.

Signed with the practice's Ed25519 report-signing key (``compliance.signing``, RFC 8032), not
with an HMAC under the key file (as ``patients.integrity`` seals records): an HMAC proves nothing
to anyone who lacks the key file, and whoever holds it could forge one. A signature is checked by
a third party (the Data Protection Authority, an auditor, the patient's lawyer) with the public
key alone, which cannot sign: ``secretum compliance verify-report CERT.txt CERT.txt.sig
--public-key report-signing.pub``, or any Ed25519 tool over the text's bytes.

The text is plain UTF-8, one ``name: value`` per line: no name, no birth date, no medical
content; the patient is its opaque reference, as in the audit log.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from secretum.audit.models import AuditEvent, Outcome
from secretum.compliance import signing
from secretum.crypto.rotation import RESOURCE as KEY_FILE
from secretum.retention.models import DestructionCertificate

FORMAT = "secretum-destruction-certificate-1"


def utc(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def text_of(lines: list[tuple[str, str]]) -> str:
    """The certificate's text: its format, then one ``name: value`` per line (values on one
    line each)."""
    body = "".join(f"{name}: {' '.join(str(value).split())}\n" for name, value in lines)
    return f"{FORMAT}\n{body}"


def sign(certificate: DestructionCertificate, lines: list[tuple[str, str]]) -> None:
    """Write the certificate's text and its detached signature (``signing.sign``)."""
    certificate.text = text_of(lines)
    certificate.signature = signing.sign(certificate.text.encode(), certificate.approved_at)


def verify(certificate: DestructionCertificate) -> signing.Verification:
    """The certificate's text against its signature and this practice's public key."""
    return signing.verify(
        certificate.text.encode(), certificate.signature, signing.public_key_pem()
    )


@dataclass(frozen=True)
class Readability:
    """When no copy of a destroyed record remains readable: ``until`` (a day), or None while
    the key-encryption key that wrapped its data key is still in the key file (a key rotation
    retires it: ``secretum keys rotate``)."""

    retired_at: dt.datetime | None
    until: dt.date | None


def _retired_at(version: int, since: dt.datetime) -> dt.datetime:
    """When a key rotation finished that removed ``version`` from the key file (the rotation's
    audit event: the first rotation after it was replaced retires it, kept one rotation longer
    for a late write, and the next removes it); now, if no such event is found (removed by
    hand): a later date is the safe side."""
    events = AuditEvent.objects.filter(
        resource=KEY_FILE, outcome=Outcome.SUCCESS, at__gte=since
    ).order_by("seq")
    for event in events.only("at", "detail"):
        detail = json.loads(event.detail or "{}")
        removed = str(detail.get("removed", "")).split(",")
        if detail.get("phase") == "finished" and str(version) in removed:
            return event.at
    return timezone.now()


def readability(certificate: DestructionCertificate) -> Readability:
    """Old data backups hold the destroyed data key, wrapped under the KEK version named on the
    certificate: they open as long as a key file holding that version exists. The live key file
    loses it at the second rotation after (the first retires it, kept one rotation longer); its
    copies made before (key-store backups, recovery
    material) are discarded after the practice's ``key_backup_expiry_days``."""
    versions = settings.INSTANCE.read_key_versions()
    if certificate.kek_version in versions.versions:  # in the key file, or in the token
        return Readability(None, None)
    retired = _retired_at(certificate.kek_version, certificate.approved_at)
    days = dt.timedelta(days=certificate.key_backup_expiry_days)
    return Readability(retired, timezone.localdate(retired + days))
