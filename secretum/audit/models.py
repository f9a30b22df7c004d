"""The audit log (D1, D2): one row per access, append-only, each row chained to the previous."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Action(models.TextChoices):
    READ = "read"
    SEARCH = "search"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    LOGIN = "login"
    LOGIN_FAILED = "login-failed"
    LOGOUT = "logout"


class Outcome(models.TextChoices):
    SUCCESS = "success"
    DENIED = "denied"
    FAILURE = "failure"


class AuditEvent(models.Model):
    seq = models.BigIntegerField(unique=True)  # 1, 2, 3… with no gap
    at = models.DateTimeField()  # UTC
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    role = models.CharField(max_length=32, blank=True)
    patient_ref = models.CharField(max_length=36, blank=True, db_index=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    resource = models.CharField(max_length=64)
    resource_ref = models.CharField(max_length=36, blank=True)
    purpose = models.CharField(max_length=16, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    source = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=36, blank=True)
    detail = models.TextField(blank=True)  # canonical JSON; never a clinical value or a secret
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.resource} {self.outcome}"
