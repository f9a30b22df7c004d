"""The search index rebuilt under a new generation: a new index key, tokens sized from the number
of patients (E10, O1; ``secretum keys rotate --index-key``, docs/keys.md "Search tokens").

1. ``indexkeys.start``: the key file gains a new generation (a fresh key, the bits per kind that
   ``wanted_bits`` sizes from the tokens stored now) beside the current one; a key file already
   holding two is a rebuild under way, resumed.
2. ``rebuild``: every patient whose tokens are of an older generation, in batches of patients,
   each batch one transaction holding its patients' rows locked (``select_for_update``; SQLite
   takes the database's write lock as the batch begins): the identity decrypted, the tokens
   replaced by those of the new generation. A patient registered or changed meanwhile is indexed
   by the server under the new generation already. A record that does not open is left as it is
   and counted: its generation is then not retired.
3. After a grace period (a write that read the key file just before it changed commits), a
   second pass; the older generation is retired from the key file once no token names it.

Killed at any point, every patient is still found: a search looks under every generation the key
file holds (``keyring.blind_indexes``) and confirms each candidate on its decrypted values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count

from secretum.crypto import indexkeys, keyring, rotation
from secretum.instance import IndexGeneration
from secretum.patients import services
from secretum.patients.models import Patient, SearchToken

BATCH = 200
# The fields a patient's tokens are made of (services.real_tokens).
INDEXED = ("family_name", "given_name", "birth_date", "niss")


def token_rows() -> dict[str, int]:
    """How many tokens of each kind the index stores (all generations: one at rest)."""
    found = dict(SearchToken.objects.values_list("kind").annotate(n=Count("id")).order_by())
    return {kind: int(found.get(kind, 0)) for kind in SearchToken.Kind.values}


def wanted_bits() -> dict[str, int]:
    """The bits per kind the current number of tokens calls for (``indexkeys.sized_bits``)."""
    return {kind: indexkeys.sized_bits(rows) for kind, rows in token_rows().items()}


def resize_due() -> bool:
    """Whether the number of patients has moved so far that the index should be rebuilt."""
    current = keyring.index_generations()[0]
    return any(
        indexkeys.resize_due(rows, current.bits_of(kind)) for kind, rows in token_rows().items()
    )


@dataclass
class Counts:
    patients: int = 0  # patients looked at
    rebuilt: int = 0
    unreadable: int = 0  # records that did not open: left as they are

    def add(self, later: Counts) -> None:
        self.patients = max(self.patients, later.patients)
        self.rebuilt += later.rebuilt
        self.unreadable = later.unreadable


def _values(patient: Patient) -> dict[str, str | None]:
    key = services.patient_key(patient)
    return {name: patient.unseal(key, name) for name in INDEXED}


def rebuild(
    generation: IndexGeneration,
    batch: int = BATCH,
    after_batch: Callable[[Counts], None] | None = None,
) -> Counts:
    """Step 2: every patient with tokens of another generation indexed again under this one."""
    counts, last = Counts(), 0
    while True:
        stale = (
            SearchToken.objects.exclude(generation=generation.number)
            .filter(patient_id__gt=last)
            .order_by("patient_id")
            .values_list("patient_id", flat=True)
            .distinct()
        )
        page = list(stale[:batch])
        if not page:
            return counts
        last = page[-1]
        counts.patients += len(page)
        with transaction.atomic():
            for patient in Patient.objects.select_for_update().filter(pk__in=page).order_by("pk"):
                try:
                    values = _values(patient)
                except keyring.DecryptionError:
                    counts.unreadable += 1
                    continue
                services.index_patient(patient, values, generation)
                counts.rebuilt += 1
        if after_batch is not None:
            after_batch(counts)


@dataclass
class Summary:
    started: indexkeys.Started
    counts: Counts
    left: int  # tokens of an older generation at the end
    retired: list[int]


def run(
    progress: Callable[[Counts], None] | None = None,
    batch: int = BATCH,
    grace: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_start: Callable[[indexkeys.Started], None] | None = None,
) -> Summary:
    """The three steps (the module's docstring), under the instance's rotation lock (one change
    of the key file at a time)."""
    with rotation.exclusive():
        started = indexkeys.start(wanted_bits())
        if on_start is not None:
            on_start(started)
        generation = keyring.index_generations()[0]
        counts = rebuild(generation, batch, progress)
        wait = rotation.GRACE_SECONDS if grace is None else grace
        sleep(max(0.0, wait - (time.monotonic() - started.at)))
        counts.add(rebuild(generation, batch, progress))
        left = SearchToken.objects.exclude(generation=generation.number).count()
        retired = [] if left else started.older
        if retired:
            indexkeys.retire(retired)
        return Summary(started, counts, left, retired)
