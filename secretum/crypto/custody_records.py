"""When the key file's recovery material was made and last proven (O2, I2).

``secretum keys backup`` records each set it writes; ``secretum keys test-recovery`` records
that a set rebuilt the very key file this instance runs with. The register's O2 and I2
evidence reads ``status``: no material, material never tested, or a last test older than
``SECRETUM_RECOVERY_TEST_DAYS`` (365 by default) is not met. Only material naming the present
key file's instance id counts: material of a key file since replaced proves nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from secretum.crypto import custody, keyring
from secretum.crypto.models import RecoveryMaterial


def instance_id() -> bytes:
    """The instance id of the key file this process runs with (its fingerprint's start)."""
    return bytes.fromhex(keyring.key_fingerprint())[: custody.INSTANCE_ID_BYTES]


def _scheme(piece: custody.Material) -> str:
    if piece.kind == custody.Kind.PASSPHRASE:
        return "passphrase"
    k, n = piece.threshold
    return f"{k}-of-{n}"


def record_made(piece: custody.Material, by: str) -> RecoveryMaterial:
    return RecoveryMaterial.objects.create(
        material=piece.material_id,
        scheme=_scheme(piece),
        instance=piece.instance.hex(),
        made_at=piece.made_at,
        made_by=by[:150],
    )


def record_tested(piece: custody.Material, by: str) -> RecoveryMaterial:
    """Record a successful test (of material made here, or brought from an earlier database)."""
    found, _created = RecoveryMaterial.objects.get_or_create(
        material=piece.material_id,
        defaults={
            "scheme": _scheme(piece),
            "instance": piece.instance.hex(),
            "made_at": piece.made_at,
            "made_by": "",
        },
    )
    found.tested_at, found.tested_by = timezone.now(), by[:150]
    found.save(update_fields=["tested_at", "tested_by"])
    return found


# The audit log's resource for recovery material (its events are written by the commands,
# which stand above both this module and the audit log).
RESOURCE = "crypto.RecoveryMaterial"


def event_detail(piece: custody.Material, os_user: str, **more: str) -> dict[str, str]:
    """What an audit event says of recovery material: its scheme and who ran the command;
    never the material nor a key."""
    return {"scheme": _scheme(piece), "os_user": os_user[:150], **more}


@dataclass(frozen=True)
class Status:
    made_at: dt.datetime | None  # the newest material of this key file
    tested_at: dt.datetime | None  # the newest successful test of any of it
    limit_days: int

    @property
    def overdue(self) -> bool:
        limit = dt.timedelta(days=self.limit_days)
        return self.tested_at is not None and timezone.now() - self.tested_at > limit


def status() -> Status:
    mine = RecoveryMaterial.objects.filter(instance=instance_id().hex())
    newest = mine.aggregate(made=Max("made_at"), tested=Max("tested_at"))
    return Status(newest["made"], newest["tested"], settings.SECRETUM_RECOVERY_TEST_DAYS)
