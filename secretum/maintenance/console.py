"""Console access to the database (G1): `secretum shell` and `secretum dbshell`.

A console reads and writes every table outside the gate (``access.guard``): no permission, no
audit event per access. So on an instance that holds patients, the `secretum` command opens one
only with a reason of 10 to 200 characters, and records the session: a "maintenance" audit
event when it starts (who: the operating system's user and user id; the command; the reason)
and one when it ends, and an entry in the maintenance log (K1), in the same transaction as the
first event. The command line decides (``secretum/cli.py``); this module keeps the record.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import Actor, Purpose
from secretum.access.guard import guarded
from secretum.access.policy import Permission
from secretum.audit.models import Action
from secretum.maintenance import services
from secretum.maintenance.models import MaintenanceEntry

REASON_MIN, REASON_MAX = 10, 200
RESOURCE = "maintenance.ConsoleSession"


@dataclass(frozen=True)
class ConsoleActor(Actor):
    """The person at the server's console: no account of Secretum, the operating system's user
    name (``getpass.getuser()``), which the audit events record as ``os:NAME``."""

    os_user: str = ""

    @property
    def name(self) -> str:
        return f"os:{self.os_user}"


@dataclass(frozen=True)
class ConsoleSession:
    actor: ConsoleActor
    command: str
    entry: str  # the maintenance log entry's reference
    started_at: dt.datetime


def holds_patients() -> bool:
    """Whether the instance holds patient data: then a console needs a reason."""
    from secretum.patients.models import Patient

    return Patient.objects.exists()


def checked_reason(reason: str) -> str:
    text = " ".join(str(reason).split())
    if not REASON_MIN <= len(text) <= REASON_MAX or not text.isprintable():
        raise ValidationError(
            _("The reason must be %(min)d to %(max)d characters of plain text.")
            % {"min": REASON_MIN, "max": REASON_MAX}
        )
    return text


def open_console_session(os_user: str, command: str, reason: str) -> ConsoleSession:
    """Record the start of a console session: its audit event and its maintenance log entry,
    in one transaction, before the console opens."""
    reason = checked_reason(reason)
    actor = ConsoleActor(
        user=None, role=None, source="console", purpose=Purpose.MAINTENANCE, os_user=os_user
    )
    with guarded(
        actor,
        Permission.MAINTENANCE_LOG_WRITE,
        Action.MAINTENANCE,
        RESOURCE,
        # The user name comes from the environment first (getpass); the process's user id too.
        detail={"command": command, "phase": "start", "reason": reason, "uid": os.getuid()},
    ) as event:
        at = timezone.now()
        texts = {
            "intervener": os_user[:150],
            "company": "",
            "equipment": f"secretum {command}",
            "what": reason,
            "consent_by": "",
        }
        flags = {"outside": False, "on_workstation": False, "consent": False}
        entry = services.append_entry(
            actor, at, texts, flags, origin=MaintenanceEntry.Origin.CONSOLE
        )
        event.resource_ref = str(entry.uid)
    return ConsoleSession(actor, command, str(entry.uid), at)


def close_console_session(session: ConsoleSession) -> None:
    """Record the end of a console session (a session killed outright leaves its start only)."""
    ended = timezone.now()
    with guarded(
        session.actor,
        Permission.MAINTENANCE_LOG_WRITE,
        Action.MAINTENANCE,
        RESOURCE,
        resource_ref=session.entry,
        detail={
            "command": session.command,
            "phase": "end",
            "started_at": session.started_at.isoformat(timespec="seconds"),
            "seconds": int((ended - session.started_at).total_seconds()),
        },
    ):
        pass
