"""The directory of correspondents (M1) and the record of what the mail transport delivered (M4).

A correspondent is a colleague, a hospital or a lab: no patient, but personal data of a
professional (a name and an address, as a user's own are), kept in clear and classified
administrative (access/classification.py). Their S/MIME certificate and age key are public keys.
The address is trusted only once verified: a one-time code sent to it over the verified-TLS
transport and typed back into Secretum (``verified_at``); the code is kept as a hash only.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Correspondent(models.Model):
    class Kind(models.TextChoices):
        COLLEAGUE = "colleague", _("colleague")
        HOSPITAL = "hospital", _("hospital")
        LAB = "lab", _("laboratory")
        OTHER = "other", _("other")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    email = models.EmailField(max_length=254)
    certificate = models.TextField(blank=True)  # S/MIME, PEM: checked when given (mail/keys.py)
    age_recipient = models.CharField(max_length=100, blank=True)  # an age1… public key
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    verified_at = models.DateTimeField(null=True)  # M1: the address proved to reach them
    code_hash = models.CharField(max_length=64, blank=True)  # SHA-256 of the one-time code
    code_sent_at = models.DateTimeField(null=True)
    code_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


class Delivery(models.Model):
    """One message the transport handed over (M4): when, to whom, how it was encrypted and the
    TLS session it went through. Never its content, its subject or a patient."""

    class Purpose(models.TextChoices):
        VERIFICATION = "verification", _("address verification")
        DOCUMENT = "document", _("document")

    at = models.DateTimeField(default=timezone.now, editable=False)
    correspondent = models.ForeignKey(Correspondent, on_delete=models.PROTECT, related_name="+")
    purpose = models.CharField(max_length=12, choices=Purpose.choices)
    encryption = models.CharField(max_length=12)  # smime, age-x25519, age-scrypt, none
    transport = models.CharField(max_length=20)  # smtp
    server = models.CharField(max_length=300)  # host:port
    tls_version = models.CharField(max_length=20)  # TLSv1.3
    cipher = models.CharField(max_length=100)

    def __str__(self) -> str:
        return f"{self.purpose} to {self.server} at {self.at:%Y-%m-%d %H:%M} ({self.tls_version})"
