"""What the KEK seals in this app, for its rotation (E10, G3, O2; ``crypto.rotation``): each
patient's data key. The record seal covers the wrapped key (``integrity.seal_of``): a record
that was intact gets a new seal over the re-wrapped key; an altered one keeps its stale seal and
stays altered. Re-wrapping is no write of the record: its version does not change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from secretum.crypto.rotation import KekUse, Kind, register
from secretum.patients import integrity, services


def _reseal_record(patient: Any, apply: Callable[[], None]) -> list[str]:
    held = integrity.intact(patient)
    apply()
    if not held:
        return []
    patient.record_seal = integrity.seal_of(patient)
    return ["record_seal"]


DATA_KEYS = register(
    KekUse(
        "patients.Patient", "wrapped_key", Kind.DATA_KEY, services.key_aad, reseal=_reseal_record
    )
)
