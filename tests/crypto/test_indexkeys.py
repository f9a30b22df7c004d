"""The search index's generations in the key file and the size of its tokens (E10, O1): the
CipherSweet rule in numbers, truncation to any number of bits, a key file's generations read
and refused field by field (issue 13)."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import pytest

from secretum import instance
from secretum.crypto import indexkeys, keyring
from secretum.instance import IndexGeneration
from tests.crypto import test_rotation

KEY = base64.b64encode(bytes(range(32))).decode()
OTHER_KEY = base64.b64encode(bytes(range(32, 64))).decode()  # a KEK is never the index key

# The KEK rotation's fixtures: a copy of the key file of this test's own; no grace period.
home = test_rotation.home


@pytest.mark.parametrize("rows", [4, 8, 100, 1000, 64 * 20_000, 2**40 + 5])
def test_sized_tokens_are_shared_by_two_to_four_values(rows: int) -> None:
    """E10: 2 <= rows / 2**bits < 4, below sqrt(rows) once there are more than 16."""
    bits = indexkeys.sized_bits(rows)
    assert 2 <= indexkeys.coincidences(rows, bits) < 4
    assert rows <= 16 or indexkeys.coincidences(rows, bits) < math.sqrt(rows)
    assert not indexkeys.resize_due(rows, bits)


def test_a_resize_is_due_only_when_a_token_stands_for_too_few_or_too_many() -> None:
    assert indexkeys.sized_bits(0) == indexkeys.sized_bits(1) == indexkeys.MIN_BITS
    assert not indexkeys.resize_due(0, 128)  # no token yet: nothing to size
    assert indexkeys.resize_due(1000, 128)  # unique tokens: equalities told
    assert not indexkeys.resize_due(1000, 7)  # 7.8 each: within bounds, not the size it'd pick
    assert indexkeys.resize_due(1000, 5)  # 31 each: a search decrypts too many
    assert indexkeys.resize_due(9, 1)  # 4.5 each, over sqrt(9) and 4
    assert not indexkeys.resize_due(5, 1)


def test_a_token_keeps_exactly_its_bits() -> None:
    generation = IndexGeneration(2, bytes(32), {"niss": 4, "name": 12, "birth": 16})
    assert len(keyring.blind_index("birth", "1971-03-14", generation)) == 2
    niss = keyring.blind_index("niss", "71031412345", generation)
    assert len(niss) == 1 and niss[0] & 0x0F == 0
    name = keyring.blind_index("name", "du", generation)
    assert len(name) == 2 and name[1] & 0x0F == 0
    assert len(keyring.blind_index("other", "x", generation)) == 16  # a kind not sized: 128
    padding = {keyring.random_index("niss", generation) for _ in range(200)}
    assert {len(t) for t in padding} == {1} and {t[0] & 0x0F for t in padding} == {0}
    assert len(padding) == 16  # every 4-bit value: random tokens look like real ones


def test_a_new_generation_is_written_beside_the_current_then_the_older_retired(
    home: Any, db: Any
) -> None:
    first = keyring.index_generations()
    assert [(g.number, dict(g.bits)) for g in first] == [(1, {})]
    started = indexkeys.start({"name": 10, "niss": 3})
    assert (started.generation, started.older, started.resumed) == (2, [1], False)
    assert [g.number for g in keyring.index_generations()] == [2, 1]
    again = indexkeys.start({"name": 20})  # under way: resumed, not a third key
    assert (again.generation, again.older, again.resumed) == (2, [1], True)
    assert again.bits == {"name": 10, "niss": 3}
    new = keyring.index_generations()[0]
    assert new.key != first[0].key and len(new.key) == 32
    assert keyring.blind_indexes("niss", "71031412345") == [
        keyring.blind_index("niss", "71031412345", g) for g in keyring.index_generations()
    ]
    indexkeys.retire([1])
    assert [g.number for g in keyring.index_generations()] == [2]
    assert json.loads(home.key_file.read_text())["index_generation"] == 2


def _key_file(tmp_path: Path, **fields: Any) -> instance.Instance:
    home = tmp_path / "var"
    home.mkdir()
    base = {
        "format": instance.KEYFILE_FORMAT,
        "kek": OTHER_KEY,
        "blind_index_key": KEY,
        "django_secret_key": "x" * 50,
    }
    path = home / "secretum.key"
    path.write_text(json.dumps({**base, **fields}))
    path.chmod(0o600)
    return instance.Instance(home)


@pytest.mark.parametrize(
    "fields",
    [
        {"index_generation": 2},  # no generations
        {"index_generation": "2", "index_generations": {"2": {"key": KEY, "bits": {}}}},
        {"index_generations": []},
        {"index_generation": 3, "index_generations": {"2": {"key": KEY, "bits": {}}}},
        {"index_generation": 2, "index_generations": {"2": {"key": KEY, "bits": {}}, "x": {}}},
        {"index_generation": 2, "index_generations": {"2": {"key": KEY, "bits": {}}, "3": {}}},
        {"index_generation": 2, "index_generations": {"2": "key"}},
        {"index_generation": 2, "index_generations": {"2": {"key": KEY}}},
        {"index_generation": 2, "index_generations": {"2": {"key": KEY, "bits": {"n": 0}}}},
        {"index_generation": 2, "index_generations": {"2": {"key": KEY, "bits": {"n": 257}}}},
        {"index_generation": 2, "index_generations": {"2": {"key": KEY, "bits": {"n": True}}}},
    ],
)
def test_a_malformed_index_generation_is_refused(tmp_path: Path, fields: dict[str, Any]) -> None:
    with pytest.raises(instance.InstanceError, match="'index_generations' of the key file"):
        _key_file(tmp_path, **fields).read_key_versions()


def test_a_generation_without_a_valid_key_is_refused_by_field(tmp_path: Path) -> None:
    spec = {"2": {"key": "bm90IDMyIGJ5dGVz", "bits": {}}}
    found = _key_file(tmp_path, index_generation=2, index_generations=spec)
    with pytest.raises(instance.InstanceError, match=r"'key' of the key file .* 32-byte"):
        found.read_key_versions()


def test_generations_are_read_the_current_first(tmp_path: Path) -> None:
    spec = {str(n): {"key": KEY, "bits": {"niss": n}} for n in (1, 3, 2)}
    found = _key_file(tmp_path, index_generation=3, index_generations=spec).read_key_versions()
    assert [(g.number, g.bits_of("niss"), g.bits_of("name")) for g in found.index] == [
        (3, 3, 128),
        (2, 2, 128),
        (1, 1, 128),
    ]
