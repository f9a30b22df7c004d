"""What the backups did: each backup made, each copy to the second target, each restore drill
(I1, I3, I4). Kept for the register's evidence and the managers' alerts; never a key, a record's
value or a patient's name: paths, sizes, counts, the signed manifest."""

from __future__ import annotations

from django.db import models


class BackupRecord(models.Model):
    class Kind(models.TextChoices):
        CREATE = "create"
        COPY = "copy"
        DRILL = "drill"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    ok = models.BooleanField()
    at = models.DateTimeField(db_index=True)
    scheduled = models.BooleanField(default=False)
    path = models.CharField(max_length=1024, blank=True)
    size = models.BigIntegerField(default=0)
    message = models.TextField(blank=True)  # what failed, one sentence; or the drill's findings
    manifest = models.JSONField(null=True)  # the signed manifest: {"manifest": ..., "signature"}

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["kind", "ok", "at"], name="backup_kind_ok_at")]

    def __str__(self) -> str:
        return f"{self.kind} {'ok' if self.ok else 'failed'} {self.at:%Y-%m-%d %H:%M}"
