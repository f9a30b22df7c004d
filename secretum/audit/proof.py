"""Checking an inclusion proof from `secretum audit prove`, as a third party would (D2).

Needs only this module, ``audit/merkle.py`` and pyca/cryptography: no database, no Django, no
key but the instance's published checkpoint public key. Steps:

1. the leaf hash is SHA-256(0x00 || entry): the event's text is the one that was logged;
2. the audit path leads from that leaf, at its index, to the root (RFC 9162 section 2.1.3.2);
3. the checkpoint note names that tree size and root, and its Ed25519 signature holds under the
   public key you trust (published by the practice, not the one inside the proof).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from secretum.audit import merkle

NOTE_HEADER = "secretum-audit-checkpoint-1"


class ProofError(Exception):
    """The proof does not hold; the message says which step failed."""


def verify_proof(proof: dict[str, Any], public_key_pem: bytes) -> str:
    """Raise ProofError unless the proof holds; return a one-line summary when it does."""
    public = serialization.load_pem_public_key(public_key_pem)
    if not isinstance(public, Ed25519PublicKey):
        raise ProofError("the public key is not an Ed25519 key")
    try:
        entry = str(proof["entry"]).encode()
        leaf = bytes.fromhex(proof["leaf_hash"])
        index = int(proof["leaf_index"])
        size = int(proof["tree_size"])
        root = bytes.fromhex(proof["root_hash"])
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        note = str(proof["checkpoint"]["note"])
        signature = base64.b64decode(proof["checkpoint"]["signature"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofError(f"the proof is malformed ({exc})") from None
    if merkle.leaf_hash(entry) != leaf:
        raise ProofError("the entry does not match its leaf hash")
    if not merkle.verify_inclusion(index, size, leaf, path, root):
        raise ProofError("the audit path does not lead from the leaf to the root")
    lines = note.split("\n")
    if len(lines) != 6 or lines[0] != NOTE_HEADER or lines[5] != "":
        raise ProofError("the checkpoint note is malformed")
    if lines[2] != str(size) or lines[3] != root.hex():
        raise ProofError("the checkpoint names another tree size or root")
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if lines[1] != hashlib.sha256(raw).hexdigest()[:16]:
        raise ProofError("the checkpoint was signed with another key")
    try:
        public.verify(signature, note.encode())
    except InvalidSignature:
        raise ProofError("the checkpoint's signature does not hold") from None
    return (
        f"event {index + 1} is included in the log's first {size} events "
        f"(root {root.hex()[:16]}…, checkpoint signed at {lines[4]})"
    )
