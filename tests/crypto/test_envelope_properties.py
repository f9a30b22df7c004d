"""Properties of the envelope (E10, O1, O2), over arbitrary input (Hypothesis): every sealed
value opens to itself; a single flipped bit anywhere in a sealed value, a wrapped data key or a
sealed secret is refused; a value opened under another context (associated data: another
field, row or owner) or another key is refused; no two seals of the same value are alike; a
sealed value cut short in the database is refused as unauthenticated (before, a cut below the
nonce raised the cipher's ValueError: a page error, not an altered record).

``derandomize`` keeps each run reproducible in CI; the examples differ between properties."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secretum.crypto import keyring

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
KEYS = st.binary(min_size=32, max_size=32)
DATA = st.binary(max_size=2048)
CONTEXT = st.text(max_size=80)


@SETTINGS
@given(raw=KEYS, data=DATA, context=CONTEXT)
def test_a_sealed_value_opens_to_itself(raw: bytes, data: bytes, context: str) -> None:
    key = keyring.DataKey(raw)
    sealed = key.seal_bytes(data, context)
    assert key.open_bytes(sealed, context) == data
    assert key.seal_bytes(data, context) != sealed  # a fresh nonce each time
    assert len(sealed) == 1 + 12 + len(data) + 16


@SETTINGS
@given(raw=KEYS, text=st.text(max_size=300), context=CONTEXT)
def test_a_sealed_text_opens_to_itself(raw: bytes, text: str, context: str) -> None:
    key = keyring.DataKey(raw)
    assert key.open(key.seal(text, context), context) == text
    assert key.seal(None, context) is None and key.open(None, context) is None


@SETTINGS
@given(raw=KEYS, data=DATA, context=CONTEXT, where=st.data())
def test_any_flipped_bit_of_a_sealed_value_is_refused(
    raw: bytes, data: bytes, context: str, where: st.DataObject
) -> None:
    key = keyring.DataKey(raw)
    sealed = bytearray(key.seal_bytes(data, context))
    bit = where.draw(st.integers(0, len(sealed) * 8 - 1), label="bit")
    sealed[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(keyring.DecryptionError):
        key.open_bytes(bytes(sealed), context)


@SETTINGS
@given(raw=KEYS, data=DATA, context=CONTEXT, cut=st.integers(1, 40))
def test_a_truncated_sealed_value_is_refused_as_unauthenticated(
    raw: bytes, data: bytes, context: str, cut: int
) -> None:
    key = keyring.DataKey(raw)
    sealed = key.seal_bytes(data, context)
    with pytest.raises(keyring.DecryptionError):
        key.open_bytes(sealed[: max(0, len(sealed) - cut)], context)


@SETTINGS
@given(raw=KEYS, other=KEYS, data=DATA, context=CONTEXT, elsewhere=CONTEXT)
def test_another_context_or_another_key_is_refused(
    raw: bytes, other: bytes, data: bytes, context: str, elsewhere: str
) -> None:
    key = keyring.DataKey(raw)
    sealed = key.seal_bytes(data, context)
    if elsewhere != context:
        with pytest.raises(keyring.DecryptionError):
            key.open_bytes(sealed, elsewhere)
    if other != raw:
        with pytest.raises(keyring.DecryptionError):
            keyring.DataKey(other).open_bytes(sealed, context)


def _damaged(blob: bytes, where: st.DataObject) -> tuple[bytes, bytes]:
    """The blob with one bit flipped anywhere, and the blob cut short by any length."""
    flipped = bytearray(blob)
    bit = where.draw(st.integers(0, len(flipped) * 8 - 1), label="bit")
    flipped[bit // 8] ^= 1 << (bit % 8)
    cut = where.draw(st.integers(1, len(blob)), label="cut")
    return bytes(flipped), blob[:-cut]


@SETTINGS
@given(owner=CONTEXT, elsewhere=CONTEXT, where=st.data())
def test_a_wrapped_data_key_is_bound_to_its_owner_and_to_every_bit(
    owner: str, elsewhere: str, where: st.DataObject
) -> None:
    """A DEK wrapped under the key file's KEK: it opens for its owner only, and a flipped bit
    anywhere (the version, the nonce, the wrapped key, the tag) is refused."""
    key, wrapped = keyring.new_data_key(owner)
    sample = key.seal_bytes(b"x", "probe")
    assert keyring.unwrap_data_key(wrapped, owner).open_bytes(sample, "probe") == b"x"
    if elsewhere != owner:
        with pytest.raises(keyring.DecryptionError):
            keyring.unwrap_data_key(wrapped, elsewhere)
    for damaged in _damaged(wrapped, where):
        with pytest.raises(keyring.DecryptionError):
            keyring.unwrap_data_key(damaged, owner)


@SETTINGS
@given(secret=st.binary(max_size=64), context=CONTEXT, elsewhere=CONTEXT, where=st.data())
def test_a_sealed_secret_is_bound_to_its_context_and_to_every_bit(
    secret: bytes, context: str, elsewhere: str, where: st.DataObject
) -> None:
    """A secret of the installation (a TOTP seed), sealed under the KEK (O2)."""
    sealed = keyring.seal_secret(secret, context)
    assert keyring.open_secret(sealed, context) == secret
    if elsewhere != context:
        with pytest.raises(keyring.DecryptionError):
            keyring.open_secret(sealed, elsewhere)
    for damaged in _damaged(sealed, where):
        with pytest.raises(keyring.DecryptionError):
            keyring.open_secret(damaged, context)
