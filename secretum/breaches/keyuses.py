"""What the KEK seals in this app, for its rotation (E10, G3, O2; ``crypto.rotation``): each
breach's narrative and the values of each of its updates. Updates are never changed by the
register (``AppendOnly``): the rotation rewrites only their envelope, the same values sealed
under the new KEK version, past the model's refusal (``_base_manager``), never their content."""

from __future__ import annotations

from typing import Any

from secretum.breaches import services
from secretum.crypto.rotation import KekUse, Kind, register


def _update_aad(update: Any) -> str:
    return services.update_aad(update.breach.uid)


NARRATIVES = register(
    KekUse("breaches.Breach", "narrative", Kind.SECRET, lambda b: services.narrative_aad(b.uid))
)
UPDATES = register(KekUse("breaches.BreachUpdate", "sealed", Kind.SECRET, _update_aad))
