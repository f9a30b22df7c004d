"""The search index's generations in the key file: how many bits a token keeps, and a new
generation (a new key, new sizes) made, then the ones it replaces retired (E10, O1).

Sizing (the CipherSweet rule for blind indexes): a token of ``L`` bits over ``R`` stored tokens
of a kind is shared, on average, by ``C = R / 2**L`` of them. With ``2 <= C`` an attacker who
holds the database cannot tell from two equal tokens that the values are equal (each token stands
for several values); with ``C`` small (below ``sqrt(R)``, and below ``COINCIDENCE_MAX`` here so a
search decrypts a handful of extra candidates, never the practice) the index still narrows a
search to a few records, each confirmed on its decrypted value. ``sized_bits`` picks
``L = floor(log2 R) - 1`` (``2 <= C < 4``); ``resize_due`` says when the count has moved so far
that ``C`` left ``[COINCIDENCE_MIN, COINCIDENCE_MAX)``, and a new generation is made
(``secretum keys rotate --index-key --if-due``, which ``secretum serve`` runs once a day).

A new generation is also how the index key is rotated: every generation has a fresh random key.
``start`` writes it to the key file beside the one(s) it replaces (the key file replaced
atomically, as a KEK rotation does: ``rotation._write_key_file``); the patients app rebuilds
every patient's tokens under it (``secretum.patients.reindex``); ``retire`` then removes the
replaced generations. A key file that already holds more than one is a rebuild under way,
resumed: no third generation is made.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from secretum.crypto import nodes, rotation

COINCIDENCE_MIN = 2.0
COINCIDENCE_MAX = 16.0
MIN_BITS = 1


def sized_bits(rows: int) -> int:
    """The bits a token keeps over ``rows`` stored tokens of its kind: ``floor(log2 rows) - 1``,
    so that ``2 <= rows / 2**bits < 4`` (at least ``MIN_BITS``)."""
    return max(MIN_BITS, rows.bit_length() - 2)


def coincidences(rows: int, bits: int) -> float:
    """How many stored tokens share one token's value, on average."""
    return rows / 2.0**bits


def resize_due(rows: int, bits: int) -> bool:
    """The kind's tokens should be made again at ``sized_bits(rows)``: each now stands for too
    few values (an attacker learns equalities) or too many (a search decrypts too much, or more
    than ``sqrt(rows)``)."""
    if rows == 0 or bits == sized_bits(rows):
        return False  # no token yet (a new instance): nothing to size
    found = coincidences(rows, bits)
    return not COINCIDENCE_MIN <= found < min(COINCIDENCE_MAX, max(4.0, math.sqrt(rows)))


@dataclass
class Started:
    generation: int  # the generation every token is rebuilt under
    older: list[int]  # the generations still in the key file besides
    bits: dict[str, int]
    resumed: bool
    at: float = field(default_factory=time.monotonic)


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def start(bits: Mapping[str, int]) -> Started:
    """A new current generation (a fresh key, ``bits`` per kind) in the key file, every older one
    kept; a key file already holding several is a rebuild under way, resumed as it is. Refused
    while another node serves with a copy of the key file, which would lack the new key."""
    nodes.refuse_rotation_beside_others("search index key")
    generations = settings.INSTANCE.read_key_versions().index
    current = generations[0]
    if len(generations) > 1:
        older = sorted(g.number for g in generations[1:])
        return Started(current.number, older, dict(current.bits), resumed=True)
    fields = rotation._fields()
    new = current.number + 1
    kept = {"key": _b64(current.key), "bits": dict(current.bits)}
    fields["index_generation"] = new
    fields["index_generations"] = {
        str(current.number): kept,
        str(new): {"key": _b64(AESGCM.generate_key(bit_length=256)), "bits": dict(bits)},
    }
    rotation._write_key_file(fields)
    return Started(new, [current.number], dict(bits), resumed=False)


def retire(numbers: list[int]) -> None:
    """Remove replaced generations from the key file (their keys with them)."""
    fields = rotation._fields()
    found = dict(fields["index_generations"])
    fields["index_generations"] = {k: v for k, v in found.items() if int(k) not in numbers}
    rotation._write_key_file(fields)
