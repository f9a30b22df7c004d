"""The tree head as a C2SP signed note (c2sp.org/tlog-checkpoint), for a standard witness (D2).
Checked here from the specification's own rules, not only with Secretum's reader."""

from __future__ import annotations

import base64
import hashlib
import io
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core.management import call_command

from secretum.access.actor import Actor
from secretum.audit import checkpoints, note
from secretum.audit.log import record_event


def test_the_signed_note_follows_the_c2sp_rules(db: Any) -> None:
    for _ in range(4):
        record_event(Actor.system(), "read", "session")
    out = io.StringIO()
    call_command("audit_checkpoint", "--signed-note", stdout=out)
    printed = out.getvalue().split("\n", 1)[1]  # after the usual line
    vkey, text = printed.split("\n", 1)
    checkpoint = checkpoints.latest(checkpoints.known_checkpoints(checkpoints.public_key()))
    assert checkpoint is not None
    name = f"secretum.invalid/audit/{checkpoint.key_id}"
    root = bytes.fromhex(checkpoint.root_hash)
    body = f"{name}\n4\n{base64.b64encode(root).decode()}\n"
    assert text.startswith(body + "\n\u2014 " + name + " ")
    # The verifier key: name+keyhash+base64(0x01 || key); the key hash per signed-note.
    key_name, key_hash_hex, encoded = vkey.split("+", 2)  # base64 may hold "+" too
    raw = base64.b64decode(encoded)
    assert key_name == name and raw[0] == 1
    assert bytes.fromhex(key_hash_hex) == hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    public = Ed25519PublicKey.from_public_bytes(raw[1:])
    signature = base64.b64decode(text.rstrip("\n").rsplit(" ", 1)[1])
    assert signature[:4] == bytes.fromhex(key_hash_hex)
    public.verify(signature[4:], body.encode())  # raises if not
    assert note.open_note(text, name, public) == (4, root)


def test_a_note_is_refused_when_anything_differs(db: Any) -> None:
    key = Ed25519PrivateKey.generate()
    other = Ed25519PrivateKey.generate()
    name = note.origin("0123456789abcdef")
    root = hashlib.sha256(b"fictitious").digest()
    text = note.sign_note(key, name, 7, root)
    public = key.public_key()
    assert note.open_note(text, name, public) == (7, root)
    assert note.open_note(text, name, other.public_key()) is None  # another key
    assert note.open_note(text, "another/log", public) is None  # another origin
    assert note.open_note(text.replace("\n7\n", "\n8\n"), name, public) is None  # altered
    assert note.open_note(text.replace("\n\n", "\n"), name, public) is None  # no signatures
    assert note.open_note(f"{name}\n7\n\n\n", name, public) is None  # too few lines
    assert note.open_note(f"{name}\nseven\nAA==\n\n", name, public) is None  # not a size
    bad_signature = text.rsplit(" ", 1)[0] + " %%%\n"
    assert note.open_note(bad_signature, name, public) is None  # not base64
    # A co-signature of someone else's first (a witness's), then ours: ours is found.
    witness = note.sign_note(other, name, 7, root).split("\n\n")[1]
    cosigned = text.replace("\n\n", "\n\n" + witness + "junk line\n", 1)
    assert note.open_note(cosigned, name, public) == (7, root)
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
