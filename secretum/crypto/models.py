"""The one row that ties a database to its key file (O2, G3, E10, H3)."""

from __future__ import annotations

from django.db import models


class KeyFingerprint(models.Model):
    """The fingerprint of the key file that belongs to this database: one row, never a key.

    ``fingerprint`` is ``keyring.fingerprint_of`` the key file (HMAC-SHA256 of a fixed label
    under an HKDF-derived key, 64 hex digits), under ``scheme``. It tells a process whether its
    key file is this database's; it helps nobody recover a key (see ``secretum.crypto.keyring``).
    ``origin`` says how it came: written when ``secretum init`` first migrated the database, or
    adopted at the first start of an instance made before the record existed, once sampled
    ciphertexts of the database had opened under the key file (``secretum.crypto.binding``).
    """

    class Origin(models.TextChoices):
        INIT = "init"
        ADOPTED = "adopted"

    # One row: its key is always 1 (the constraint refuses a second one).
    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    scheme = models.CharField(max_length=40)
    fingerprint = models.CharField(max_length=64)
    origin = models.CharField(max_length=8, choices=Origin.choices)
    recorded_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="crypto_keyfingerprint_one_row")
        ]

    def __str__(self) -> str:
        return f"KeyFingerprint ({self.origin})"  # never the fingerprint: str() may reach a log


class RecoveryMaterial(models.Model):
    """Recovery material made of the key file (O2, I2), and when it was last proven to rebuild
    it (``secretum keys test-recovery``). Never the material itself, nor any key: its id, its
    scheme and the instance id it names (``secretum.crypto.custody``)."""

    material = models.CharField(max_length=16, unique=True)  # the material id, 16 hex digits
    scheme = models.CharField(max_length=10)  # "passphrase", "2-of-3", ...
    instance = models.CharField(max_length=32)  # the instance id, 32 hex digits
    made_at = models.DateTimeField()
    made_by = models.CharField(max_length=150)  # who ran the command (the system's user name)
    tested_at = models.DateTimeField(null=True)
    tested_by = models.CharField(max_length=150, blank=True)

    def __str__(self) -> str:
        return f"RecoveryMaterial {self.material} ({self.scheme})"


class ServingNode(models.Model):
    """A ``secretum serve`` of this installation, as it last announced itself (E10, O2;
    ``secretum.crypto.nodes``): where it runs, which key file it reads and the key-encryption
    key versions that file holds. Never a key."""

    name = models.TextField(unique=True)  # host:instance folder (a path has no set length)
    host = models.CharField(max_length=255)
    key_file = models.TextField()  # its path, or "environment" (SECRETUM_KEY)
    kek_versions = models.JSONField(default=list)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"ServingNode {self.name}"
