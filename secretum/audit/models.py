"""The audit log (D1, D2): one row per access, append-only, each row a leaf of a Merkle tree.

The database refuses UPDATE and DELETE on both tables (triggers, see ``audit/db.py``); on
PostgreSQL the application's role also holds only INSERT and SELECT on them
(``secretum audit grant``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Action(models.TextChoices):
    """The one vocabulary of audit actions (D1): the writers (``audit.log.record_event`` refuses
    any other word), the auditor's filters, pages and exports (CSV, FHIR AuditEvent) all read
    it, labels included."""

    READ = "read", _("viewed")
    SEARCH = "search", _("listed")
    CREATE = "create", _("created")
    UPDATE = "update", _("changed")
    RETRACT = "retract", _("marked as entered in error")
    DELETE = "delete", _("removed")
    PRINT = "print", _("printed")
    EXPORT = "export", _("exported")
    SEND = "send", _("sent")
    LOGIN = "login", _("logged in")
    LOGIN_FAILED = "login-failed", _("failed login")
    AUTHENTICATE = "authenticate", _("signed in at the identity provider")
    LOGOUT = "logout", _("logged out")
    LOCK = "lock", _("locked (idle)")
    UNLOCK = "unlock", _("unlocked")
    REAUTHENTICATE = "reauthenticate", _("confirmed identity again")
    LOCKOUT = "lockout", _("locked out (too many failures)")
    BREAK_THE_GLASS = "break-the-glass", _("opened in an emergency (break the glass)")
    REVIEW = "review", _("reviewed")  # the auditor's judgement of an access (C2)
    MAINTENANCE = "maintenance", _("maintenance")
    # J1: a record moved to the archive, opened from it with a reason, restored to active.
    ARCHIVE = "archive", _("moved to the archive")
    OPEN_ARCHIVED = "open-archived", _("opened from the archive, with a reason")
    RESTORE = "restore", _("restored from the archive to active")


# The detail's "problem" of an event that refused a row or a record altered outside Secretum
# (a seal or a ciphertext that no longer matches): the auditor's "tampered" alert reads it.
TAMPERED = "row-altered-outside-secretum"
# The detail's "problem" of a medical record refused for want of a care relationship (C1):
# the alerts leave it out of probing.
NO_CARE = "no-care-relationship"
# The detail's "problem" of an archived record refused (J1): read without an archive grant, or
# written before it was restored to active.
ARCHIVED = "archived-record"
# The detail's "problem" of an upload the antivirus found infected, quarantined (E2): the
# auditor's "virus" alert reads it.
INFECTED = "infected-file-quarantined"
# The detail's "problem" of a write refused on a continuity copy (I5: ``secretum serve
# --read-only --from-backup``), by the gate or by the read-only middleware.
READ_ONLY = "read-only-copy"


class Outcome(models.TextChoices):
    SUCCESS = "success"
    DENIED = "denied"
    FAILURE = "failure"


class AuditEvent(models.Model):
    """One event, in the shape of IHE BALP / FHIR AuditEvent. Never clinical content or a secret.

    ``leaf_hash`` is the RFC 9162 leaf hash of the event's canonical entry
    (``audit.entries.canonical``); ``mac`` is the BLAKE2s MAC (RFC 7693 keyed mode) of that
    leaf hash under the instance's audit key. Both are computed once, when the event is
    appended; the tree itself is computed only when a checkpoint is signed or the log verified.
    """

    seq = models.BigIntegerField(unique=True)  # 1, 2, 3… with no gap: leaf index + 1
    at = models.DateTimeField(db_index=True)  # UTC
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    role = models.CharField(max_length=32, blank=True)
    on_behalf_of = models.CharField(max_length=150, blank=True)  # the user another acts for
    patient_ref = models.CharField(max_length=36, blank=True, db_index=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    resource = models.CharField(max_length=64)
    resource_ref = models.CharField(max_length=36, blank=True)
    # care | break-the-glass (its reason in detail) | administration | maintenance
    purpose = models.CharField(max_length=16, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    source = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=36, blank=True)
    detail = models.TextField(blank=True)  # canonical JSON; never a clinical value or a secret
    leaf_hash = models.CharField(max_length=64)
    mac = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["actor_name", "at"], name="audit_actor_at")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.resource} {self.outcome}"


class AuditCheckpoint(models.Model):
    """A signed tree head: the log's first ``tree_size`` events have Merkle root ``root_hash``.

    Also written, line by line, to the witness file outside the database. ``frontier`` holds the
    roots of the perfect subtrees of the tree (hex, largest first): the next checkpoint extends
    the tree from there instead of reading every leaf again. It folds to ``root_hash``, which the
    signature covers, so it cannot be altered unnoticed.
    """

    tree_size = models.BigIntegerField(unique=True)
    root_hash = models.CharField(max_length=64)
    signed_at = models.DateTimeField()
    key_id = models.CharField(max_length=16)
    signature = models.CharField(max_length=128)  # base64 Ed25519 signature of the note
    frontier = models.TextField()  # JSON list of hex hashes

    class Meta:
        ordering = ["tree_size"]

    def __str__(self) -> str:
        return f"checkpoint {self.tree_size} {self.root_hash[:12]}"
