"""Key custody (O2, I2): the key file as recovery material, tested as an attacker would.

The attacker here holds a recovery file or one share, not the passphrase nor enough shares:
they must learn nothing of the key file, and any change they make must be refused."""

from __future__ import annotations

import base64
import dataclasses
import json
import struct
from pathlib import Path

import pytest

from secretum.crypto import custody
from secretum.crypto.custody import Cost, Kind, RecoveryError
from secretum.init import create

PASSPHRASE = "lamp orbit cellar tulip"
# Tests derive with a small cost; the strong one is checked on what the CLI writes.
FAST = Cost(time=1, memory_kib=64, lanes=1)


@pytest.fixture(scope="module")
def key_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    home = tmp_path_factory.mktemp("custody") / "var"
    return create(home).key_file.read_text()


def _secrets(key_text: str) -> list[bytes]:
    """Every secret of the key file, raw and as written."""
    fields = json.loads(key_text)
    found = [fields[f].encode() for f in ("kek", "blind_index_key", "django_secret_key")]
    return found + [base64.b64decode(fields[f]) for f in ("kek", "blind_index_key")]


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def test_a_passphrase_file_rebuilds_the_key_file_byte_for_byte(key_text: str) -> None:
    """O2: what `secretum init` wrote comes back exactly."""
    sealed = custody.seal_with_passphrase(key_text, PASSPHRASE, FAST)
    again = custody.from_text(custody.to_text(sealed, ["a comment"]))
    assert again == sealed and again.kind == Kind.PASSPHRASE
    assert custody.open_material([again], PASSPHRASE) == key_text
    # Typed on another keyboard: the same passphrase after NFKC and outer spaces.
    assert custody.open_material([again], f"  {PASSPHRASE}\u00a0") == key_text


def test_the_recovery_file_alone_yields_nothing(key_text: str) -> None:
    """The attacker holds the file: no secret in it, no key without the passphrase."""
    sealed = custody.seal_with_passphrase(key_text, PASSPHRASE, FAST)
    raw, text = sealed.to_bytes(), custody.to_text(sealed, []).encode()
    for secret in _secrets(key_text):
        assert secret not in raw and secret not in text
    with pytest.raises(RecoveryError, match="needs its passphrase"):
        custody.open_material([sealed])
    for guess in ("", "lamp orbit cellar tulips", PASSPHRASE.upper()):
        with pytest.raises(RecoveryError, match="wrong passphrase, or the recovery file was"):
            custody.open_material([sealed], guess)


def test_a_flipped_byte_anywhere_is_refused(key_text: str) -> None:
    sealed = custody.seal_with_passphrase(key_text, PASSPHRASE, FAST)
    raw = sealed.to_bytes()
    for at in range(len(raw)):
        try:
            piece = custody.Material.from_bytes(_flip(raw, at))
            custody.open_material([piece], PASSPHRASE)
        except RecoveryError:
            continue
        raise AssertionError(f"a flipped byte at {at} was not refused")


def test_the_instance_and_the_format_are_authenticated(key_text: str) -> None:
    """The associated data binds instance id, format version, scheme and cost."""
    sealed = custody.seal_with_passphrase(key_text, PASSPHRASE, FAST)
    other = dataclasses.replace(sealed, instance=bytes(16))
    with pytest.raises(RecoveryError, match="wrong passphrase"):
        custody.open_material([other], PASSPHRASE)
    assert custody.MAGIC in sealed.common()
    cheaper = dataclasses.replace(sealed, params=struct.pack(">BIB", 1, 32, 1) + bytes(16))
    with pytest.raises(RecoveryError):
        custody.open_material([cheaper], PASSPHRASE)


def test_a_cost_out_of_bounds_is_refused_before_deriving(key_text: str) -> None:
    sealed = custody.seal_with_passphrase(key_text, PASSPHRASE, FAST)
    for cost in (Cost(0, 64, 1), Cost(17, 64, 1), Cost(1, 7, 1), Cost(1, 2**23, 1),
                 Cost(1, 64, 0), Cost(1, 1024, 17)):  # fmt: skip
        salt = sealed.cost()[1]
        params = struct.pack(">BIB", cost.time, cost.memory_kib, cost.lanes) + salt
        with pytest.raises(RecoveryError, match="out of bounds"):
            custody.open_material([dataclasses.replace(sealed, params=params)], PASSPHRASE)


@pytest.mark.parametrize(
    ("passphrase", "said"),
    [
        ("short words", "too short (11 characters; at least 16)"),
        ("a" * 30, "too easy to guess"),
        ("abababababababab", "too easy to guess"),
        ("ManchesterUnited", "too easy to guess"),
    ],
)
def test_weak_passphrases_are_refused(passphrase: str, said: str) -> None:
    with pytest.raises(RecoveryError, match=said.replace("(", r"\(").replace(")", r"\)")):
        custody.refuse_weak_passphrase(passphrase, frozenset({"manchesterunited"}))
    custody.refuse_weak_passphrase(PASSPHRASE, frozenset({"manchesterunited"}))


@pytest.mark.parametrize(("k", "n"), sorted(custody.SCHEMES))
def test_any_k_shares_rebuild_the_key_file(key_text: str, k: int, n: int) -> None:
    """O2: 2 of 2, 2 of 3 and 3 of 3, with pycryptodome's Shamir; every k-subset works."""
    import itertools

    shares = custody.seal_with_shares(key_text, k, n)
    assert [s.index for s in shares] == list(range(1, n + 1))
    assert {s.threshold for s in shares} == {(k, n)}
    for chosen in itertools.combinations(shares, k):
        typed = [custody.from_text(custody.to_text(s, [])) for s in reversed(chosen)]
        assert custody.open_material(typed) == key_text
    assert custody.open_material(shares) == key_text  # more than k: the first k are used


def test_one_share_alone_yields_nothing(key_text: str) -> None:
    """The attacker holds one share (or k-1): nothing of the key file is in it, and it opens
    nothing."""
    shares = custody.seal_with_shares(key_text, 2, 3)
    for share in shares:
        raw = share.to_bytes()
        assert not any(secret in raw for secret in _secrets(key_text))
        with pytest.raises(RecoveryError, match="1 share given, 2 needed"):
            custody.open_material([share])
    three = custody.seal_with_shares(key_text, 3, 3)
    with pytest.raises(RecoveryError, match="2 share given, 3 needed"):
        custody.open_material(three[:2])


def test_shares_of_another_instance_or_set_are_refused(key_text: str, tmp_path: Path) -> None:
    other_text = create(tmp_path / "other").key_file.read_text()
    mine, theirs = (
        custody.seal_with_shares(key_text, 2, 3),
        custody.seal_with_shares(other_text, 2, 3),
    )
    with pytest.raises(RecoveryError, match="belongs to another instance"):
        custody.open_material([mine[0], theirs[1]])
    again = custody.seal_with_shares(key_text, 2, 3)
    with pytest.raises(RecoveryError, match=f"is not of the set {mine[0].material_id}"):
        custody.open_material([mine[0], again[1]])
    with pytest.raises(RecoveryError, match="same share was given twice"):
        custody.open_material([mine[0], mine[0]])


def test_an_altered_share_is_refused(key_text: str) -> None:
    first, second, _third = custody.seal_with_shares(key_text, 2, 3)
    bad = dataclasses.replace(second, share=_flip(second.share, 3))
    with pytest.raises(RecoveryError, match="do not rebuild the key"):
        custody.open_material([first, bad])
    for index in (0, 4):
        with pytest.raises(RecoveryError, match=f"share {index} of 3 .* is malformed"):
            custody.Material.from_bytes(dataclasses.replace(second, index=index).to_bytes())


def test_unoffered_schemes_are_refused(key_text: str) -> None:
    with pytest.raises(RecoveryError, match="3 of 2 is not offered"):
        custody.seal_with_shares(key_text, 3, 2)
    share = custody.seal_with_shares(key_text, 2, 3)[0]
    with pytest.raises(RecoveryError, match="malformed"):
        custody.Material.from_bytes(dataclasses.replace(share, params=bytes([1, 3])).to_bytes())


def test_mixed_kinds_and_empty_input_are_refused(key_text: str) -> None:
    sealed = custody.seal_with_passphrase(key_text, PASSPHRASE, FAST)
    with pytest.raises(RecoveryError, match="no recovery material"):
        custody.open_material([])
    with pytest.raises(RecoveryError, match="not several"):
        custody.open_material([sealed, sealed], PASSPHRASE)
    share = custody.seal_with_shares(key_text, 2, 2)[0]
    with pytest.raises(RecoveryError, match=r"another instance|is not of the set"):
        custody.open_material([sealed, dataclasses.replace(share, instance=sealed.instance)])


def test_material_that_is_not_ours_is_refused() -> None:
    with pytest.raises(RecoveryError, match="not Secretum recovery material"):
        custody.Material.from_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(RecoveryError, match="unknown kind"):
        custody.Material.from_bytes(custody.MAGIC + b"\x07" + bytes(100))
    with pytest.raises(RecoveryError, match="unknown kind"):
        custody.Material.from_bytes(custody.MAGIC)
    with pytest.raises(RecoveryError, match="truncated"):
        custody.Material.from_bytes(custody.MAGIC + b"\x01" + bytes(40))


def test_a_sealed_key_file_that_is_not_one_is_refused(key_text: str) -> None:
    """Defence in depth past the tag: the inner bytes must be this instance's key file."""
    instance, packed = custody.pack_key_file(key_text)
    assert custody.unpack_key_file(packed, instance) == key_text
    with pytest.raises(RecoveryError, match="not the one of the instance named"):
        custody.unpack_key_file(packed, bytes(16))
    for bad in (packed[:40], packed[:64] + b"not json", packed[:64] + b"[1]",
                packed[:64] + b'{"format":"other"}'):  # fmt: skip
        with pytest.raises(RecoveryError, match="malformed"):
            custody.unpack_key_file(bad, instance)


def test_a_typo_on_a_sheet_names_its_line(key_text: str) -> None:
    """Slice 3's reading back: each line carries its checksum."""
    share = custody.seal_with_shares(key_text, 2, 3)[0]
    lines = custody.lines(share)
    assert len(lines) > 5 and all(len(line.split()) <= 8 for line in lines)
    number, *groups, check = lines[2].split()
    typo = groups[1][:2] + ("A" if groups[1][2] != "A" else "B") + groups[1][3:]
    typed = [*lines[:2], " ".join([number, groups[0], typo, *groups[2:], check]), *lines[3:]]
    with pytest.raises(RecoveryError, match="line 03 has a typing mistake"):
        custody.from_text("\n".join(typed))
    # Lower case, look-alike digits and extra spaces are forgiven.
    relaxed = "\n".join("  " + line.lower().replace("o", "0") for line in lines)
    assert custody.from_text(relaxed) == share
    with pytest.raises(RecoveryError, match="lines missing: 02"):
        custody.from_text("\n".join([lines[0], *lines[2:]]))
    with pytest.raises(RecoveryError, match="earlier one"):
        custody.from_text("\n".join([lines[0], "02/99" + lines[1][5:]]))
    with pytest.raises(RecoveryError, match="not a recovery line"):
        custody.from_text("hello world and more")
    with pytest.raises(RecoveryError, match="not a recovery line"):
        custody.from_text("1/x ABCDE XY")
    with pytest.raises(RecoveryError, match="no recovery lines"):
        custody.from_text("# only a comment\n\n")


def test_the_qr_form_reads_back(key_text: str) -> None:
    share = custody.seal_with_shares(key_text, 2, 2)[1]
    assert custody.from_text(custody.qr_text(share)) == share
    assert set(custody.qr_text(share)) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567-:1")
    with pytest.raises(RecoveryError, match="not base32"):
        custody.from_text(custody.QR_PREFIX + "ABC?")
    with pytest.raises(RecoveryError, match="truncated"):
        custody.from_text(custody.QR_PREFIX + "A")


def test_material_describes_itself(key_text: str) -> None:
    sealed = custody.seal_with_passphrase(key_text, PASSPHRASE, FAST)
    share = custody.seal_with_shares(key_text, 2, 3)[2]
    assert sealed.describe().startswith("passphrase recovery file")
    assert share.describe().startswith("share 3 of 3 (2 needed)")
    assert sealed.threshold == (1, 1) and len(sealed.instance_id) == 39
    assert sealed.made_at.year >= 2026


def test_a_flipped_byte_anywhere_in_a_share_is_refused(key_text: str) -> None:
    first, second = custody.seal_with_shares(key_text, 2, 2)
    raw = first.to_bytes()
    for at in range(len(raw)):
        try:
            piece = custody.Material.from_bytes(_flip(raw, at))
            custody.open_material([piece, second])
        except RecoveryError:
            continue
        raise AssertionError(f"a flipped byte at {at} of a share was not refused")
