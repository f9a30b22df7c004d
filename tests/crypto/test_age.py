"""The age format (E7, M3, O1): our files open with Debian's ``age`` and ``age``'s files open
with ours, for a passphrase (scrypt) and for an X25519 key; a wrong passphrase, a flipped byte,
a truncated or reordered file is refused by both. Every branch of ``crypto/age.py`` and
``crypto/bech32.py`` is driven here (security modules stay at 100 %)."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import time
from pathlib import Path

import pytest

from secretum.crypto import age, bech32
from tests.exchange.conftest import age_keypair, run_age

# Sizes around the 64 KiB chunk: empty, one byte, exactly one chunk, one more byte, two chunks.
SIZES = (0, 1, age.CHUNK, age.CHUNK + 1, 2 * age.CHUNK, 2 * age.CHUNK + 77)
LOW = 10  # a low scrypt work factor keeps the format tests quick; the default is tested apart


def _data(size: int) -> bytes:
    return os.urandom(size)


def _pieces(data: bytes, step: int = 5000) -> list[bytes]:
    return [data[i : i + step] for i in range(0, len(data), step)]


def _ours(data: bytes, recipient: age.ScryptRecipient | age.X25519Recipient) -> bytes:
    out = io.BytesIO()
    written = age.encrypt(_pieces(data), out, recipient)
    assert written == len(out.getvalue())
    return out.getvalue()


def _open(blob: bytes, identity: age.ScryptIdentity | age.X25519Identity) -> bytes:
    return b"".join(age.decrypt(io.BytesIO(blob), identity))


@pytest.mark.parametrize("size", SIZES)
def test_age_opens_our_x25519_files_and_we_open_its(tmp_path: Path, size: int) -> None:
    key, public = age_keypair(tmp_path)
    data = _data(size)
    ours = tmp_path / "ours.age"
    ours.write_bytes(_ours(data, age.X25519Recipient.parse(public)))
    opened = subprocess.run(["age", "-d", "-i", str(key), str(ours)], capture_output=True)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout == data
    theirs = subprocess.run(["age", "-r", public], input=data, capture_output=True, check=True)
    identity = age.X25519Identity.parse(key.read_text().splitlines()[-1])
    assert identity.recipient().encode() == public
    assert _open(theirs.stdout, identity) == data


def test_age_opens_our_passphrase_file_at_the_default_work_factor(tmp_path: Path) -> None:
    """The work factor age itself uses (2**18), with a passphrase we generate: typed at age's
    terminal, it opens the file; a wrong one does not."""
    passphrase = age.generate_passphrase()
    data = _data(age.CHUNK + 10)
    ours = tmp_path / "ours.age"
    ours.write_bytes(_ours(data, age.ScryptRecipient(passphrase)))
    assert b"-> scrypt " in ours.read_bytes()[:100] and b" 18\n" in ours.read_bytes()[:100]
    code, said = run_age(["-d", "-o", str(tmp_path / "out"), str(ours)], passphrase)
    assert code == 0, said
    assert (tmp_path / "out").read_bytes() == data
    code, said = run_age(["-d", "-o", str(tmp_path / "bad"), str(ours)], passphrase + "x")
    assert code != 0 and "incorrect passphrase" in said
    assert not (tmp_path / "bad").exists() or (tmp_path / "bad").read_bytes() == b""


def test_we_open_a_passphrase_file_age_made(tmp_path: Path) -> None:
    source = tmp_path / "plain"
    source.write_bytes(b"Fictitious patient file\n" * 5000)
    made = tmp_path / "theirs.age"
    code, said = run_age(["-p", "-o", str(made), str(source)], "Fictitious-pass-2026")
    assert code == 0, said
    blob = made.read_bytes()
    assert _open(blob, age.ScryptIdentity("Fictitious-pass-2026")) == source.read_bytes()
    with pytest.raises(age.AgeError, match="wrong passphrase"):
        _open(blob, age.ScryptIdentity("Fictitious-pass-2027"))


def test_a_flipped_byte_anywhere_is_refused_by_age_and_by_us(tmp_path: Path) -> None:
    key, public = age_keypair(tmp_path)
    identity = age.X25519Identity.parse(key.read_text().splitlines()[-1])
    good = _ours(_data(age.CHUNK + 300), age.X25519Recipient.parse(public))
    header_end = good.index(b"\n", good.index(b"--- ")) + 1
    # the stanza body, the MAC, the nonce, the first chunk, the last chunk
    for at in (60, header_end - 5, header_end + 3, header_end + 40, len(good) - 2):
        bad = bytearray(good)
        bad[at] ^= 0x01
        path = tmp_path / f"bad-{at}.age"
        path.write_bytes(bytes(bad))
        opened = subprocess.run(["age", "-d", "-i", str(key), str(path)], capture_output=True)
        assert opened.returncode != 0, at
        with pytest.raises(age.AgeError):
            _open(bytes(bad), identity)


def test_truncated_and_reordered_payloads_are_refused(tmp_path: Path) -> None:
    identity = age.X25519Identity.generate()
    data = _data(3 * age.CHUNK)
    good = _ours(data, identity.recipient())
    start = good.index(b"\n", good.index(b"--- ")) + 1 + 16
    size = age.CHUNK + age.TAG
    chunks = [good[start + i * size : start + (i + 1) * size] for i in range(3)]
    for bad in (
        good[:start] + chunks[0] + chunks[1],  # the last chunk cut off
        good[:start] + chunks[1] + chunks[0] + chunks[2],  # two chunks swapped
        good[: start - 3],  # the nonce cut short
        good[:-1],
    ):
        with pytest.raises(age.AgeError):
            _open(bad, identity)
    assert _open(_ours(b"", identity.recipient()), identity) == b""


def _forged(
    identity: age.X25519Identity, chunks: list[tuple[bytes, bool]], mac: bytes = b""
) -> bytes:
    """A file built by hand with the file key known: what only a writer who holds it can make."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    file_key, nonce = os.urandom(16), os.urandom(16)
    header = b"age-encryption.org/v1\n" + identity.recipient().wrap(file_key).encode() + b"---"
    mac = mac or age._header_mac(file_key, header)
    aead = ChaCha20Poly1305(age._hkdf(file_key, nonce, b"payload"))
    body = b"".join(
        aead.encrypt(age._nonce(n, last), c, None) for n, (c, last) in enumerate(chunks)
    )
    return header + b" " + age._b64(mac) + b"\n" + nonce + body


def test_an_empty_last_chunk_or_a_wrong_mac_is_refused() -> None:
    identity = age.X25519Identity.generate()
    full = os.urandom(age.CHUNK)
    assert _open(_forged(identity, [(full, True)]), identity) == full
    # Every tag valid, but an empty last chunk after a full one (age.md forbids it).
    with pytest.raises(age.AgeError, match="empty last chunk"):
        _open(_forged(identity, [(full, False), (b"", True)]), identity)
    with pytest.raises(age.AgeError, match="header MAC"):
        _open(_forged(identity, [(b"x", True)], mac=bytes(32)), identity)
    # A passphrase does not open a file made for a key (its stanza is not an scrypt one).
    with pytest.raises(age.AgeError, match="no identity matches"):
        _open(_forged(identity, [(b"x", True)]), age.ScryptIdentity("x"))


def test_the_file_hides_the_plaintext_and_changes_each_time() -> None:
    text = b'{"family": "Zorbatova"}' * 100
    one = _ours(text, age.ScryptRecipient("x", LOW))
    two = _ours(text, age.ScryptRecipient("x", LOW))
    assert b"Zorbatova" not in one and one != two
    assert _open(one, age.ScryptIdentity("x")) == text


def test_generated_passphrases_are_long_and_unpredictable() -> None:
    made = {age.generate_passphrase() for _ in range(50)}
    assert len(made) == 50
    for passphrase in made:
        letters = passphrase.replace("-", "")
        assert len(letters) == 24 and set(letters) <= set(age.PASSPHRASE_ALPHABET)
        assert passphrase.count("-") == 5


def _header(*stanzas: bytes, mac: bytes = b"A" * 43) -> bytes:
    return b"age-encryption.org/v1\n" + b"".join(stanzas) + b"--- " + mac + b"\n"


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"age-encryption.org/v2\n", "version line"),
        (b"age-encryption.org/v1", "truncated"),
        (_header(), "malformed header"),
        (_header(b"-> X25519 AAAA\nAAAA\n")[:-1], "truncated"),
        (_header(b"-> \nAAAA\n"), "malformed stanza"),
        (_header(b"-> X25519  AAAA\nAAAA\n"), "malformed stanza"),
        (_header(b"-> X25519 AAAA\nAA==\n"), "bad base64"),
        (_header(b"-> X25519 AAAA\nA*AA\n"), "bad base64"),
        (_header(b"-> X25519 AAAA\nA\n"), "bad base64"),
        (_header(b"-> X25519 AAAA\nAAB\n"), "non-canonical"),
        (_header(b"-> other 1\nAAAA\n"), "no identity matches"),
    ],
)
def test_malformed_headers_are_refused(blob: bytes, message: str) -> None:
    with pytest.raises(age.AgeError, match=message):
        _open(blob, age.X25519Identity.generate())


def _stanza(kind: str, *args: str, body: bytes = bytes(32)) -> bytes:
    return age.Stanza(kind, args, body).encode()


def test_malformed_stanzas_are_refused() -> None:
    x = age.X25519Identity.generate()
    s = age.ScryptIdentity("x")
    share = base64.b64encode(bytes(32)).rstrip(b"=").decode()  # a low-order point: all zero
    good_share = base64.b64encode(x.recipient().public_key).rstrip(b"=").decode()
    salt = base64.b64encode(bytes(16)).rstrip(b"=").decode()
    cases: list[tuple[age.ScryptIdentity | age.X25519Identity, bytes, str]] = [
        (x, _stanza("X25519", good_share, body=bytes(31)), "malformed X25519"),
        (x, _stanza("X25519"), "malformed X25519"),
        (x, _stanza("X25519", "AAAA"), "malformed X25519"),
        (x, _stanza("X25519", share), "malformed X25519"),
        (x, _stanza("X25519", good_share), "no identity matches"),  # for someone else
        (s, _stanza("scrypt", salt), "malformed scrypt"),
        (s, _stanza("scrypt", salt, "10", body=bytes(8)), "malformed scrypt"),
        (s, _stanza("scrypt", "AAAA", "10"), "malformed scrypt"),
        (s, _stanza("scrypt", salt, "010"), "malformed scrypt"),
        (s, _stanza("scrypt", salt, "23"), "work factor too large"),
        (s, _stanza("scrypt", salt, "10") + _stanza("scrypt", salt, "10"), "must be alone"),
    ]
    for identity, stanzas, message in cases:
        with pytest.raises(age.AgeError, match=message):
            _open(_header(stanzas), identity)


def test_a_long_stanza_body_is_wrapped_at_64_columns() -> None:
    body = bytes(range(96))  # 128 base64 columns: two full lines and an empty last one
    encoded = age.Stanza("test", ("a",), body).encode()
    assert encoded.split(b"\n")[1:] == [
        base64.b64encode(body)[:64],
        base64.b64encode(body)[64:],
        b"",
        b"",
    ]
    identity = age.X25519Identity.generate()
    with pytest.raises(age.AgeError, match="no identity matches"):
        _open(_header(encoded), identity)  # read back across its lines, then not ours


def test_a_hostile_header_is_refused_before_it_costs_time_or_memory() -> None:
    """A file from outside (an import): the header is read in linear time and bounded, in stanzas
    and in bytes, before its MAC is checked."""
    identity = age.X25519Identity.generate()
    many = _stanza("other", "a", body=bytes(8)) * (age.MAX_STANZAS + 1)
    with pytest.raises(age.AgeError, match="too many recipients"):
        _open(_header(many), identity)
    huge = age.Stanza("other", ("a",), bytes(48 * 2000)).encode()  # ~130 KB of base64 lines
    started = time.perf_counter()
    with pytest.raises(age.AgeError, match="header too large"):
        _open(_header(huge), identity)
    assert time.perf_counter() - started < 1
    within = _stanza("other", "a", body=bytes(8)) * age.MAX_STANZAS
    with pytest.raises(age.AgeError, match="no identity matches"):
        _open(_header(within), identity)  # the most the reader takes: read, then not ours


def test_keys_in_their_text_form() -> None:
    identity = age.X25519Identity.generate()
    text = identity.encode()
    assert text.startswith("AGE-SECRET-KEY-1")
    assert age.X25519Identity.parse(text) == identity
    public = identity.recipient().encode()
    assert (
        public.startswith("age1")
        and age.X25519Recipient.parse(f" {public}\n") == identity.recipient()
    )
    for bad in (
        "age1",
        public[:-1] + ("q" if public[-1] != "q" else "p"),
        text,
        "AGE1" + public[4:-2] + "Qz",
    ):
        with pytest.raises(age.AgeError):
            age.X25519Recipient.parse(bad)
    with pytest.raises(age.AgeError):
        age.X25519Identity.parse(public)
    with pytest.raises(age.AgeError):
        age.X25519Identity.parse("AGE-SECRET-KEY-1nope")


def test_bech32_refuses_what_bip173_refuses() -> None:
    assert bech32.decode("A12UEL5L") == ("a", b"")  # BIP 173's valid vectors
    assert bech32.decode("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw")[0] == "abcdef"
    for bad in (
        "A1G7SGD8",  # bad checksum
        "Aa12UEL5L",  # mixed case
        "12UEL5L",  # empty human part
        "a1qqqq",  # too short for its checksum
        "\x7f1axkwrx",  # a human part out of range
        "a1b2uel5l",  # "b" is not in the charset
        "a12uel5a",  # checksum
    ):
        with pytest.raises(bech32.Bech32Error):
            bech32.decode(bad)
    # Non-zero padding bits (a valid checksum over them): refused.
    words = [31]
    check = bech32._polymod(bech32._expand("a") + words + [0] * 6) ^ 1
    padded = "a1" + "".join(
        bech32.CHARSET[w] for w in words + [(check >> 5 * (5 - i)) & 31 for i in range(6)]
    )
    with pytest.raises(bech32.Bech32Error, match="padding"):
        bech32.decode(padded)
