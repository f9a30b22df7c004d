"""The audit log's tree head as a C2SP signed note (c2sp.org/tlog-checkpoint, c2sp.org/signed-note)
(D2), so that a standard transparency-log witness can check and co-sign it.

    <origin>
    <tree size>
    <root hash, base64>

    — <key name> <base64(key hash || Ed25519 signature of the three lines above)>

The key hash is the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || raw public key); the
verifier key is written ``<name>+<key hash, hex>+<base64(0x01 || raw public key)>``. The same
Ed25519 checkpoint key signs it. Standard library and ``cryptography`` only: a third party
checks a note with this module alone.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = b"\x01"  # the signature type of c2sp.org/signed-note
DASH = "\u2014"  # the em dash that starts a signature line


def origin(key_id: str) -> str:
    """The log's name: one per checkpoint key, so one per instance."""
    return f"secretum.invalid/audit/{key_id}"


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_hash(name: str, public: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + _raw(public)).digest()[:4]


def verifier_key(name: str, public: Ed25519PublicKey) -> str:
    encoded = base64.b64encode(ED25519 + _raw(public)).decode()
    return f"{name}+{key_hash(name, public).hex()}+{encoded}"


def body(name: str, tree_size: int, root: bytes) -> bytes:
    return f"{name}\n{tree_size}\n{base64.b64encode(root).decode()}\n".encode()


def sign_note(key: Ed25519PrivateKey, name: str, tree_size: int, root: bytes) -> str:
    text = body(name, tree_size, root)
    signature = key_hash(name, key.public_key()) + key.sign(text)
    return f"{text.decode()}\n{DASH} {name} {base64.b64encode(signature).decode()}\n"


def open_note(note: str, name: str, public: Ed25519PublicKey) -> tuple[int, bytes] | None:
    """(tree size, root) of a note signed by ``public`` under ``name``, or None."""
    text, sep, signatures = note.partition("\n\n")
    lines = text.split("\n")
    if not sep or len(lines) < 3 or lines[0] != name:
        return None
    try:
        size, root = int(lines[1]), base64.b64decode(lines[2], validate=True)
    except ValueError:
        return None
    wanted = key_hash(name, public)
    for line in signatures.splitlines():
        words = line.split(" ")
        if len(words) != 3 or words[0] != DASH or words[1] != name:
            continue
        try:
            raw = base64.b64decode(words[2], validate=True)
            if raw[:4] == wanted:
                public.verify(raw[4:], (text + "\n").encode())
                return size, root
        except (ValueError, InvalidSignature):
            continue
    return None
